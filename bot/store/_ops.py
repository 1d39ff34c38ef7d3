"""What operations look at: worker heartbeats (alive, and the last finished collect
cycle), and the counts behind /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine

from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import heartbeats as t_beats
from bot.store.schema import items as t_items
from bot.store.schema import sources as t_sources
from bot.store.schema import stories as t_stories


@dataclass(frozen=True)
class Counts:
    items_by_source: dict[str, int]
    stories: int
    stories_held: int
    deliveries: dict[tuple[str, str], int]  # (target, status) -> count
    queue_depth: int  # deliveries due now and not yet sent
    sources_failing: int
    poll_errors_by_source: dict[str, int]


class OpsMixin:
    engine: Engine

    def beat(self, worker: str, now: datetime) -> None:
        """Record that ``worker`` is alive (its scheduler calls this every few seconds)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(t_beats).where(t_beats.c.worker == worker)
                                .values(beat_at=now))
            if done.rowcount == 0:
                conn.execute(t_beats.insert().values(worker=worker[:100], beat_at=now))

    def collected(self, worker: str, now: datetime) -> None:
        """Record that ``worker`` finished a collect cycle at ``now`` (what /healthz's
        collector check reads); the worker also records its start this way."""
        with self.engine.begin() as conn:
            done = conn.execute(update(t_beats).where(t_beats.c.worker == worker)
                                .values(collected_at=now))
            if done.rowcount == 0:
                conn.execute(t_beats.insert().values(worker=worker[:100], beat_at=now,
                                                     collected_at=now))

    def last_collected(self) -> datetime | None:
        """When any worker last finished a collect cycle (or started), None if none has."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.max(t_beats.c.collected_at))).scalar_one_or_none()

    def forget_worker(self, worker: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t_beats).where(t_beats.c.worker == worker))

    def last_beat(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(t_beats.c.beat_at))).scalar_one_or_none()

    def ping(self) -> None:
        """Raise when the database cannot answer."""
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar_one()

    def counts(self, now: datetime) -> Counts:
        c = t_deliveries.c
        with self.engine.connect() as conn:
            items: dict[str, int] = dict(conn.execute(select(t_items.c.source, func.count())
                                      .group_by(t_items.c.source)).all())
            stories = conn.execute(select(func.count()).select_from(t_stories)
                                   .where(t_stories.c.merged_into.is_(None))).scalar_one()
            held = conn.execute(select(func.count()).select_from(t_stories).where(
                t_stories.c.merged_into.is_(None), t_stories.c.hold.is_(True))).scalar_one()
            deliveries = {(t, s): n for t, s, n in conn.execute(
                select(c.target, c.status, func.count()).group_by(c.target, c.status))}
            depth = conn.execute(select(func.count()).select_from(t_deliveries).where(
                c.status.in_(["pending", "failed"]),
                (c.next_attempt_at.is_(None)) | (c.next_attempt_at <= now))).scalar_one()
            errors = dict(conn.execute(select(t_sources.c.name, t_sources.c.error_count)).all())
        return Counts(items_by_source={str(k): int(v) for k, v in items.items()},
                      stories=int(stories), stories_held=int(held),
                      deliveries={(str(t), str(s)): int(n) for (t, s), n in deliveries.items()},
                      queue_depth=int(depth),
                      sources_failing=sum(1 for v in errors.values() if v),
                      poll_errors_by_source={str(k): int(v or 0) for k, v in errors.items()})
