"""Reminders before key dates (issue #17): rows in ``reminders``, one per (story, target,
key date, days before), planned by :mod:`bot.reminders` and sent through the outbox like
deliveries; and each story's switch (``stories.reminders``), which comms turn off and on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, union, update
from sqlalchemy.engine import Connection, Engine, Row

from bot.errors import StoreError
from bot.model import Reminder, ReminderStatus
from bot.release import original_out, reminder_released
from bot.store._overrides import record_edit
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import reminders as t_reminders
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_story_dates

#: A reminder first planned later than this after its time does not go: its date came to
#: the story too late for it (a merge, an edit); a later reminder of the date may.
LATE = timedelta(hours=1)

if TYPE_CHECKING:
    from bot.reminders import Wanted

_R = ReminderStatus
#: Rows planning may change: waiting ones. Sent, dead and in-flight rows are never touched.
_OPEN = (_R.PLANNED.value, _R.FAILED.value)
_CHUNK = 500
#: Why a reminder (story, target, what, day, days_before) is no longer wanted.
WhyNot = Callable[[int, str, str, date, int], str]


@dataclass(frozen=True)
class ReminderClaim:
    """A claimed reminder; ``reclaimed``: an earlier worker's lease on it ran out (its send
    may have got through, so look first where the channel can)."""

    reminder: Reminder
    reclaimed: bool


@dataclass
class ReconcileStats:
    planned: int = 0
    cancelled: int = 0
    moved: int = 0


@dataclass(frozen=True)
class StoryState:
    """What planning needs of a story beyond the model: where it was merged, and its
    delivery rows (target -> sent_at, None until sent)."""

    merged_into: int | None
    originals: dict[str, datetime | None]
    #: Targets where the post was given up (its delivery is dead): nothing to remind of.
    dead: frozenset[str] = frozenset()


def _gate(now: datetime, today: date) -> ColumnElement[bool]:
    """A reminder may go: its date has not passed, the release gate lets its story reach the
    target now (held, merged or embargoed: no), its original post there went out no later
    than the reminder's time, and the story's reminders are on."""
    r, d = t_reminders.c, t_deliveries.c
    in_time = select(d.sent_at).where(d.story_id == r.story_id, d.target == r.target)\
        .scalar_subquery()
    return and_(r.day >= today, reminder_released(now), in_time <= r.due_at)


def _due(now: datetime, today: date) -> ColumnElement[bool]:
    r = t_reminders.c
    return and_(or_(
        and_(r.status.in_(_OPEN), r.due_at <= now,
             or_(r.next_attempt_at.is_(None), r.next_attempt_at <= now)),
        and_(r.status == _R.IN_FLIGHT.value, r.lease_until < now)), _gate(now, today))


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


def row_to_reminder(r: Row[Any]) -> Reminder:
    """A ``reminders`` row as the model's Reminder."""
    return Reminder(id=r.id, story_id=r.story_id, target=r.target, what=r.what, day=r.day,
                    days_before=r.days_before, due_at=r.due_at,
                    status=ReminderStatus(r.status), attempts=r.attempts,
                    next_attempt_at=r.next_attempt_at, external_id=r.external_id,
                    last_error=r.last_error, sent_at=r.sent_at)


class RemindersMixin:
    engine: Engine

    def list_reminders(self, *, story_ids: Sequence[int] | None = None,
                       due_before: datetime | None = None,
                       statuses: Sequence[str] | None = None) -> list[Reminder]:
        """Reminders, soonest first: of some stories, due before a time, in some states."""
        c = t_reminders.c
        query = select(t_reminders).order_by(c.due_at, c.story_id, c.target, c.id)
        if story_ids is not None:
            query = query.where(c.story_id.in_(list(story_ids)))
        if due_before is not None:
            query = query.where(c.due_at < due_before)
        if statuses is not None:
            query = query.where(c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return [row_to_reminder(r) for r in conn.execute(query)]

    def set_story_reminders(self, story_id: int, on: bool, *, by: str,
                            now: datetime) -> bool:
        """Switch a story's reminders on or off (kept in its history); True when it changed.
        Off, its planned reminders are cancelled by the next planning (bot.reminders)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(t_stories.c.reminders).where(
                t_stories.c.id == story_id)).first()
            if row is None:
                raise StoreError(f"no story {story_id}")
            if bool(row.reminders) == on:
                return False
            conn.execute(update(t_stories).where(t_stories.c.id == story_id)
                         .values(reminders=on, updated_at=now))
            record_edit(conn, story_id, "reminders", "on" if row.reminders else "off",
                        "on" if on else "off", by, now)
        return True

    # -- planning ---------------------------------------------------------------------

    def reminder_candidates(self, today: date) -> list[int]:
        """The stories planning looks at: those with a key date today or later, and those
        with reminders not yet sent (a date moved into the past, a story held, cancel them)."""
        sd, r = t_story_dates.c, t_reminders.c
        query = union(
            select(sd.story_id).join(t_stories, t_stories.c.id == sd.story_id)
            .where(sd.day >= today),
            select(r.story_id).where(r.status.in_(_OPEN)))
        with self.engine.connect() as conn:
            return sorted(int(i) for i in conn.execute(query).scalars())

    def reminder_states(self, story_ids: Sequence[int]) -> dict[int, StoryState]:
        """Each story's merge and delivery rows (taken-back ones left out), for planning."""
        s, d = t_stories.c, t_deliveries.c
        merged: dict[int, int | None] = {}
        originals: dict[int, dict[str, datetime | None]] = defaultdict(dict)
        dead: dict[int, set[str]] = defaultdict(set)
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids)):
                for srow in conn.execute(select(s.id, s.merged_into)
                                         .where(s.id.in_(chunk))):
                    merged[srow.id] = srow.merged_into
                for drow in conn.execute(select(d.story_id, d.target, d.status, d.sent_at,
                                                d.external_id)
                                         .where(d.story_id.in_(chunk),
                                                d.retract.is_(False))):
                    originals[drow.story_id][drow.target] = drow.sent_at if original_out(
                        drow.status, drow.external_id, drow.sent_at) else None
                    if drow.status == "dead" and drow.external_id is None:
                        dead[drow.story_id].add(drow.target)
        return {i: StoryState(m, dict(originals.get(i, {})), frozenset(dead.get(i, ())))
                for i, m in merged.items()}

    def reconcile_reminders(self, story_ids: Sequence[int], wanted: Iterable[Wanted],
                            why_not: WhyNot, now: datetime) -> ReconcileStats:
        """Make these stories' reminder rows what planning wants, in one transaction: rows
        planned or failed that are not wanted are cancelled with ``why_not``'s words; wanted
        rows missing are planned; cancelled rows wanted again are planned again (a fresh
        count of attempts); planned rows whose time changed move. Sent, dead and in-flight
        rows are never touched."""
        c = t_reminders.c
        want = {w.key: w for w in wanted}
        stats = ReconcileStats()
        with self.engine.begin() as conn:
            existing: dict[tuple[int, str, str, date, int], Any] = {}
            for chunk in _chunks(list(story_ids)):
                for row in conn.execute(select(c.id, c.story_id, c.target, c.what, c.day,
                                               c.days_before, c.due_at, c.status)
                                        .where(c.story_id.in_(chunk))):
                    existing[(row.story_id, row.target, row.what, row.day,
                              row.days_before)] = row
            cancel: dict[str, list[int]] = defaultdict(list)
            replan: dict[datetime, list[int]] = defaultdict(list)
            move: dict[datetime, list[int]] = defaultdict(list)
            for key, row in existing.items():
                w = want.get(key)
                if w is None:
                    if row.status in _OPEN:
                        cancel[why_not(*key)].append(row.id)
                elif row.status == _R.CANCELLED.value:
                    replan[w.due_at].append(row.id)
                elif row.status == _R.PLANNED.value and row.due_at != w.due_at:
                    move[w.due_at].append(row.id)
            for reason, ids in cancel.items():
                stats.cancelled += _set(conn, ids, _OPEN, status=_R.CANCELLED.value,
                                        last_error=reason[:2000], next_attempt_at=None,
                                        updated_at=now)
            for due, ids in replan.items():
                stats.planned += _set(conn, ids, (_R.CANCELLED.value,),
                                      status=_R.PLANNED.value, due_at=due, attempts=0,
                                      last_error=None, next_attempt_at=None, updated_at=now)
            for due, ids in move.items():
                stats.moved += _set(conn, ids, (_R.PLANNED.value,), due_at=due,
                                    updated_at=now)
            # Planned long after its time (its date came by a merge or an edit): it does
            # not go, and says why.
            new = [dict(story_id=w.story_id, target=w.target, what=w.what, day=w.day,
                        days_before=w.days_before, due_at=w.due_at,
                        status=_R.PLANNED.value if w.due_at >= now - LATE
                        else _R.CANCELLED.value,
                        last_error=None if w.due_at >= now - LATE else
                        "its time had passed when this date came to the story",
                        attempts=0, created_at=now, updated_at=now)
                   for key, w in want.items() if key not in existing]
            if new:
                conn.execute(insert(t_reminders), new)
                stats.planned += sum(r["status"] == _R.PLANNED.value for r in new)
                stats.cancelled += sum(r["status"] == _R.CANCELLED.value for r in new)
        return stats

    # -- sending ----------------------------------------------------------------------

    def claim_reminders(self, owner: str, now: datetime, lease: timedelta, today: date,
                        limit: int = 100, targets: Sequence[str] | None = None
                        ) -> list[ReminderClaim]:
        """Claim up to ``limit`` due reminders for ``owner`` until ``now + lease``, like
        the outbox: the attempt is counted, an expired lease is handed out ``reclaimed``,
        and only where the gate (:func:`_gate`) lets it go. ``today``: the local date."""
        c = t_reminders.c
        due = _due(now, today)
        query = select(t_reminders).where(due).order_by(c.due_at, c.id).limit(limit)
        if targets is not None:
            query = query.where(c.target.in_(list(targets)))
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(of=t_reminders, skip_locked=True)
        claims: list[ReminderClaim] = []
        with self.engine.begin() as conn:
            for got in conn.execute(query).all():
                row: Any = got
                done = conn.execute(update(t_reminders).where(c.id == row.id, due).values(
                    status=_R.IN_FLIGHT.value, lease_owner=owner, lease_until=now + lease,
                    attempts=c.attempts + 1, updated_at=now))
                if done.rowcount != 1:
                    continue
                fresh = conn.execute(select(t_reminders).where(c.id == row.id)).one()
                claims.append(ReminderClaim(row_to_reminder(fresh),
                                            reclaimed=row.status == _R.IN_FLIGHT.value))
        return claims

    def count_due_reminders(self, now: datetime, today: date,
                            targets: Sequence[str]) -> int:
        """Reminders to ``targets`` that would go now were the targets not paused."""
        if not targets:
            return 0
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_reminders).where(
                _due(now, today), t_reminders.c.target.in_(list(targets)))).scalar_one())

    def renew_reminder_lease(self, reminder_id: int, owner: str, now: datetime,
                             lease: timedelta, today: date) -> bool:
        """Extend ``owner``'s lease just before the send; False when the row is no longer
        ours or the gate no longer lets it go (held, merged, switched off since the
        claim): then do not send."""
        c = t_reminders.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_reminders).where(
                c.id == reminder_id, c.lease_owner == owner,
                c.status == _R.IN_FLIGHT.value, _gate(now, today))
                .values(lease_until=now + lease))
            return done.rowcount == 1

    def mark_reminder_sent(self, reminder_id: int, *, external_id: str | None,
                           now: datetime) -> None:
        """Record a reminder that went out (whoever holds the lease: it did go)."""
        with self.engine.begin() as conn:
            conn.execute(update(t_reminders).where(t_reminders.c.id == reminder_id).values(
                status=_R.SENT.value, external_id=external_id, sent_at=now, last_error=None,
                lease_owner=None, lease_until=None, next_attempt_at=None, updated_at=now))

    def mark_reminder_failed(self, reminder_id: int, *, owner: str, error: str,
                             retry_at: datetime | None, now: datetime) -> None:
        """A failed attempt: due again at ``retry_at``, or dead when it is None."""
        c = t_reminders.c
        status = _R.FAILED if retry_at is not None else _R.DEAD
        with self.engine.begin() as conn:
            conn.execute(update(t_reminders).where(
                c.id == reminder_id, c.lease_owner == owner,
                c.status == _R.IN_FLIGHT.value).values(
                status=status.value, last_error=error[:2000], next_attempt_at=retry_at,
                lease_owner=None, lease_until=None, updated_at=now))

    def defer_reminders(self, owner: str, reminder_ids: Sequence[int], until: datetime,
                        now: datetime, reason: str | None = None) -> int:
        """Give back claims never attempted, or whose target asked us to wait (a rate
        limit, refused credentials): planned again, due at ``until``, the attempt not
        counted."""
        c = t_reminders.c
        if not reminder_ids:
            return 0
        fewer = func.max(c.attempts - 1, 0) if self.engine.dialect.name == "sqlite" \
            else func.greatest(c.attempts - 1, 0)
        values: dict[str, Any] = dict(status=_R.PLANNED.value, attempts=fewer,
                                      lease_owner=None, lease_until=None,
                                      next_attempt_at=until, updated_at=now)
        if reason is not None:
            values["last_error"] = reason[:2000]
        with self.engine.begin() as conn:
            done = conn.execute(update(t_reminders).where(
                c.lease_owner == owner, c.status == _R.IN_FLIGHT.value,
                c.id.in_(list(reminder_ids))).values(**values))
            return done.rowcount or 0


def _set(conn: Connection, ids: list[int], statuses: Sequence[str], **values: Any) -> int:
    """Update these rows, only while they are still in one of ``statuses`` (a claim that
    came first wins)."""
    c = t_reminders.c
    done = 0
    for chunk in _chunks(ids):
        done += conn.execute(update(t_reminders).where(
            c.id.in_(chunk), c.status.in_(list(statuses))).values(**values)).rowcount or 0
    return done
