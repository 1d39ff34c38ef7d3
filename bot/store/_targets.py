"""Paused targets (``target_state``): paused on a refused credential, probed, resumed.

Every write is one statement, so several workers on PostgreSQL pause, probe and resume
safely: the pause is one ``INSERT … ON CONFLICT DO UPDATE`` (a target paused twice keeps
its first pause and its probe time), and a probe is claimed by one conditional
``UPDATE`` that only one worker can win. See :mod:`bot.pause`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from bot.pause import probe_delay
from bot.store.schema import target_state as t_state


@dataclass(frozen=True)
class TargetPause:
    """A paused target: since when, why, and when a worker tries it again."""

    target: str
    paused_at: datetime
    reason: str
    probes: int
    next_probe_at: datetime | None


class TargetsMixin:
    engine: Engine

    def paused_targets(self) -> dict[str, TargetPause]:
        c = t_state.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t_state).where(c.paused_at.is_not(None))
                                .order_by(c.target)).all()
        return {r.target: TargetPause(r.target, r.paused_at, r.reason or "", int(r.probes),
                                      r.next_probe_at) for r in rows}

    def pause_target(self, target: str, reason: str, now: datetime) -> datetime:
        """Pause ``target`` (one statement: safe with several workers). Pausing a paused
        target keeps its first pause and its next probe, and takes the newer reason.
        Returns when the target is probed next."""
        c = t_state.c
        first = now + probe_delay(0)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t_state).values(
            target=target[:100], paused_at=now, reason=reason[:2000], probes=0,
            next_probe_at=first, updated_at=now)
        was_paused = c.paused_at.is_not(None)
        stmt = stmt.on_conflict_do_update(index_elements=["target"], set_={
            "paused_at": func.coalesce(c.paused_at, stmt.excluded.paused_at),
            "next_probe_at": case((was_paused, c.next_probe_at),
                                  else_=stmt.excluded.next_probe_at),
            "probes": case((was_paused, c.probes), else_=0),
            "reason": stmt.excluded.reason, "updated_at": stmt.excluded.updated_at})
        with self.engine.begin() as conn:
            conn.execute(stmt)
            at = conn.execute(select(c.next_probe_at).where(c.target == target[:100]))\
                .scalar_one()
        return at or first

    def claim_probe(self, target: str, now: datetime, hold: timedelta) -> bool:
        """Take the probe of a paused target whose probe is due: True for the one worker
        that wins it (the next probe moves ``hold`` ahead meanwhile)."""
        c = t_state.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_state).where(
                c.target == target, c.paused_at.is_not(None),
                c.next_probe_at.is_not(None), c.next_probe_at <= now).values(
                next_probe_at=now + hold, updated_at=now))
            return done.rowcount == 1

    def probe_failed(self, target: str, reason: str, now: datetime) -> datetime:
        """A probe met the refusal again: the next one waits longer (bot.pause)."""
        c = t_state.c
        with self.engine.begin() as conn:
            probes = conn.execute(select(c.probes).where(
                c.target == target, c.paused_at.is_not(None))).scalar()
            if probes is not None:
                at = now + probe_delay(int(probes) + 1)
                conn.execute(update(t_state).where(c.target == target).values(
                    probes=int(probes) + 1, next_probe_at=at, reason=reason[:2000],
                    updated_at=now))
                return at
        return self.pause_target(target, reason, now)  # resumed meanwhile: pause afresh

    def probe_paused_now(self, now: datetime) -> int:
        """Make every paused target's probe due now (a worker starts: a secret may have
        been fixed with the restart)."""
        c = t_state.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_state).where(c.paused_at.is_not(None))
                                .values(next_probe_at=now, updated_at=now))
            return done.rowcount or 0

    def resume_target(self, target: str | None, now: datetime) -> list[str]:
        """Lift the pause of ``target`` (None: of every target); the names resumed."""
        c = t_state.c
        cond: list[ColumnElement[bool]] = [c.paused_at.is_not(None)]
        if target is not None:
            cond.append(c.target == target)
        with self.engine.begin() as conn:
            names = list(conn.execute(select(c.target).where(and_(*cond))).scalars())
            if names:
                conn.execute(update(t_state).where(c.target.in_(names)).values(
                    paused_at=None, next_probe_at=None, probes=0, updated_at=now))
        return sorted(names)
