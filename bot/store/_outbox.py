"""The outbox: deliveries claimed with a lease, then marked sent, failed or dead.

A claim moves due rows to ``in_flight`` with ``lease_owner`` and ``lease_until``
and counts the attempt. A row whose lease expired (its worker died) is due again
and is handed out with ``reclaimed=True``, so a channel can check whether the
first attempt got through before sending again. On PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED`` so several workers never claim the same row.

Which rows may go at all is the release gate's answer (:func:`bot.release.released`):
the claim and the lease renewal just before each send both ask it, so a story held,
merged or embargoed after its row was claimed is not sent. Rows marked ``retract`` are
claims to take a merged-away story's message back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Select,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine

from bot.errors import StoreError
from bot.model import Delivery, DeliveryStatus
from bot.release import released
from bot.store._common import row_to_delivery
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import stories as t_stories

_S = DeliveryStatus


@dataclass(frozen=True)
class Claim:
    """A claimed delivery.

    ``reclaimed``: a previous worker's lease on it expired (it may have got through);
    ``update``: the message was sent before and the story has changed since, so the
    channel should update that message rather than send a new one.
    """

    delivery: Delivery
    reclaimed: bool
    update: bool = False
    retract: bool = False


def _due(now: datetime, updatable: Sequence[str] = ()) -> ColumnElement[bool]:
    """Rows to hand out: due new sends and retries, expired leases, and (for targets that
    can edit what they sent) sent rows whose story has a newer revision; each only where
    the release gate lets the story reach the target now. Besides those, due retractions:
    a merged-away story's message to take back."""
    c = t_deliveries.c
    conditions = [
        and_(c.status.in_([_S.PENDING.value, _S.FAILED.value]),
             or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)),
        and_(c.status == _S.IN_FLIGHT.value, c.lease_until < now),
    ]
    newer = select(t_stories.c.revision).where(t_stories.c.id == c.story_id)\
        .scalar_subquery()
    # A sent announcement comms corrected: where the channel cannot edit, a correction
    # naming the original is due (issue #15; see bot.dispatch).
    # A sent row is looked at only once something woke it (``next_attempt_at`` set: a
    # newer revision, see _common.wake_sent, or a retraction); at rest it has none, so the
    # claim reads the woken rows through the index, not every message ever sent.
    woken = and_(c.status == _S.SENT.value, c.next_attempt_at <= now)
    conditions.append(and_(woken, c.correction.is_not(None),
                           c.target.not_in(list(updatable)), c.sent_revision < newer))
    if updatable:
        conditions.append(and_(woken, c.target.in_(list(updatable)),
                               c.sent_revision < newer))
    retractions = and_(c.retract.is_(True), c.external_id.is_not(None), or_(
        and_(c.status.in_([_S.PENDING.value, _S.FAILED.value]),
             or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)),
        woken,
        and_(c.status == _S.IN_FLIGHT.value, c.lease_until < now)))
    return or_(and_(or_(*conditions), released(now)), retractions)


def _now() -> ColumnElement[datetime]:
    """The time a prebuilt statement is run at, bound when it is executed."""
    return bindparam("now", type_=t_deliveries.c.next_attempt_at.type)


@functools.lru_cache(maxsize=64)
def _claim_statements(updatable: tuple[str, ...], targets: tuple[str, ...] | None,
                      limit: int, for_update: bool) -> tuple[Select, Update, Select]:
    """The claim's three statements (pick due rows, take one, read it back), built once per
    shape and run with ``now`` (and the row's values) bound. Building ``_due`` and the
    release gate anew for every row cost SQLAlchemy more than SQLite took to run them."""
    c = t_deliveries.c
    due = _due(_now(), updatable)  # type: ignore[arg-type]
    pick = select(t_deliveries).where(due).order_by(c.next_attempt_at, c.id).limit(limit)
    if targets is not None:
        pick = pick.where(c.target.in_(list(targets)))
    if for_update:
        pick = pick.with_for_update(skip_locked=True)
    take = update(t_deliveries).where(c.id == bindparam("row_id"), due).values(
        status=_S.IN_FLIGHT.value, lease_owner=bindparam("owner"),
        lease_until=bindparam("lease_until", type_=c.lease_until.type),
        attempts=case((bindparam("restart", type_=Boolean()), 1), else_=c.attempts + 1),
        updated_at=_now())
    fresh = select(t_deliveries).where(c.id == bindparam("row_id"))
    return pick, take, fresh


@functools.lru_cache(maxsize=4)
def _renew_statement(retract: bool) -> Update:
    """The lease renewal, built once: ``now``, the row, its owner and the new lease bound."""
    c = t_deliveries.c
    gate = c.retract.is_(True) if retract else released(_now())
    return update(t_deliveries).where(
        c.id == bindparam("row_id"), c.lease_owner == bindparam("owner"),
        c.status == _S.IN_FLIGHT.value, gate).values(
        lease_until=bindparam("lease_until", type_=c.lease_until.type))


@functools.lru_cache(maxsize=1)
def _sent_statement() -> Update:
    """Marking a send done, built once (see :meth:`OutboxMixin.mark_sent`)."""
    c = t_deliveries.c
    return update(t_deliveries).where(c.id == bindparam("row_id")).values(
        # The first send's time stays (an edit later is not a new post: reminders
        # and corrections name when the post went out).
        status=_S.SENT.value, external_id=bindparam("external_id", type_=c.external_id.type),
        sent_at=func.coalesce(c.sent_at, _now()),
        sent_revision=bindparam("revision", type_=c.sent_revision.type),
        last_error=None, lease_owner=None, lease_until=None,
        next_attempt_at=_behind(bindparam("revision", type_=c.sent_revision.type)),
        updated_at=_now())


def _behind(shown: ColumnElement[int] | BindParameter[int]) -> ColumnElement[datetime]:
    """``next_attempt_at`` of a row just sent showing revision ``shown``: at rest (none),
    unless its story moved on meanwhile (an edit while the send was in flight or failing),
    when it is due at once, so the claim finds it (see :func:`_due`)."""
    c = t_deliveries.c
    newer = select(t_stories.c.revision).where(t_stories.c.id == c.story_id)\
        .scalar_subquery()
    return case((shown < newer, _now()), else_=null())


def _back() -> ColumnElement[str]:
    """The status a claim given back returns to: ``sent`` for a message that went out
    before (an edit or a retraction waits), ``pending`` for a first send."""
    c = t_deliveries.c
    return case((c.external_id.is_not(None), _S.SENT.value), else_=_S.PENDING.value)


class OutboxMixin:
    engine: Engine

    def claim_deliveries(self, owner: str, now: datetime, lease: timedelta, limit: int = 100,
                         targets: list[str] | None = None,
                         updatable: Sequence[str] = ()) -> list[Claim]:
        """Claim up to ``limit`` due deliveries for ``owner`` until ``now + lease``.

        ``updatable`` names the targets whose channels can update a sent message: their
        sent deliveries come back (as ``update`` claims) when the story changed since.
        """
        pick, take, fresh = _claim_statements(
            tuple(updatable), None if targets is None else tuple(targets), limit,
            self.engine.dialect.name == "postgresql")
        claims: list[Claim] = []
        with self.engine.begin() as conn:
            for row in conn.execute(pick, {"now": now}).all():
                # An update of a sent message starts a fresh count of attempts.
                done = conn.execute(take, {
                    "now": now, "row_id": row.id, "owner": owner, "lease_until": now + lease,
                    "restart": row.status == _S.SENT.value})
                if done.rowcount != 1:
                    continue
                got = conn.execute(fresh, {"row_id": row.id}).one()
                claims.append(Claim(row_to_delivery(got),
                                    reclaimed=row.status == _S.IN_FLIGHT.value,
                                    update=row.external_id is not None and not row.retract,
                                    retract=bool(row.retract)))
        return claims

    def renew_lease(self, delivery_id: int, owner: str, now: datetime,
                    lease: timedelta, *, retract: bool = False) -> bool:
        """Extend ``owner``'s lease just before a send; False when it is no longer ours
        (the lease ran out and another worker took the row) or the release gate no longer
        lets it go (held, merged, embargoed since the claim): then do not send."""
        with self.engine.begin() as conn:
            done = conn.execute(_renew_statement(retract), {
                "now": now, "row_id": delivery_id, "owner": owner,
                "lease_until": now + lease})
            return done.rowcount == 1

    def mark_retracted(self, delivery_id: int, *, owner: str, taken_back: bool, detail: str,
                       now: datetime) -> None:
        """Record a retraction: the message was deleted (``retracted``), or its target
        cannot delete and it stays there (``left``, with why)."""
        status = _S.RETRACTED if taken_back else _S.LEFT
        with self.engine.begin() as conn:
            conn.execute(update(t_deliveries).where(
                t_deliveries.c.id == delivery_id, t_deliveries.c.lease_owner == owner).values(
                status=status.value, last_error=detail[:2000] or None, lease_owner=None,
                lease_until=None, next_attempt_at=None, updated_at=now))

    def mark_sent(self, delivery_id: int, *, external_id: str | None, revision: int,
                  now: datetime) -> None:
        """Record a send that went through (whoever holds the lease: it did go out)."""
        with self.engine.begin() as conn:
            conn.execute(_sent_statement(), {"now": now, "row_id": delivery_id,
                                             "external_id": external_id, "revision": revision})

    def mark_failed(self, delivery_id: int, *, owner: str, error: str,
                    retry_at: datetime | None, now: datetime) -> None:
        """Record a failed attempt: due again at ``retry_at``, or dead when it is None."""
        status = _S.FAILED if retry_at is not None else _S.DEAD
        with self.engine.begin() as conn:
            conn.execute(update(t_deliveries).where(
                t_deliveries.c.id == delivery_id, t_deliveries.c.lease_owner == owner,
                t_deliveries.c.status == _S.IN_FLIGHT.value).values(
                status=status.value, last_error=error[:2000], next_attempt_at=retry_at,
                lease_owner=None, lease_until=None, updated_at=now))

    def mark_update_failed(self, delivery_id: int, *, owner: str, error: str,
                           retry_at: datetime | None, revision: int, now: datetime) -> None:
        """An update of a sent message failed: retry it, or (when it cannot succeed) keep the
        delivery sent, since the message did go out, with the reason kept."""
        if retry_at is not None:
            self.mark_failed(delivery_id, owner=owner, error=error, retry_at=retry_at, now=now)
            return
        with self.engine.begin() as conn:
            conn.execute(update(t_deliveries).where(
                t_deliveries.c.id == delivery_id, t_deliveries.c.lease_owner == owner).values(
                status=_S.SENT.value, last_error=f"update not shown: {error}"[:2000],
                sent_revision=revision, lease_owner=None, lease_until=None,
                next_attempt_at=_behind(literal(revision)), updated_at=now), {"now": now})

    def release(self, owner: str, delivery_ids: list[int], now: datetime) -> int:
        """Give back claims that were never attempted (a stop between two sends): due again
        at once, their attempt not counted. Attempted rows are never given back this way:
        they wait for their lease to run out and come back as reclaimed, so a channel that
        can look checks whether the attempt got through."""
        c = t_deliveries.c
        if not delivery_ids:
            return 0
        cond = [c.lease_owner == owner, c.status == _S.IN_FLIGHT.value,
                c.id.in_(delivery_ids)]
        with self.engine.begin() as conn:
            result = conn.execute(update(t_deliveries).where(*cond).values(
                status=_back(), attempts=func.max(c.attempts - 1, 0)
                if self.engine.dialect.name == "sqlite" else func.greatest(c.attempts - 1, 0),
                lease_owner=None, lease_until=None, next_attempt_at=now, updated_at=now))
            return result.rowcount or 0

    def defer(self, owner: str, delivery_ids: list[int], until: datetime, now: datetime,
              reason: str) -> int:
        """Give back claims that were never attempted because their target asked us to
        wait (a rate limit): due again at ``until``, their attempt not counted, the reason
        kept so that ``herald outbox`` shows why they wait."""
        c = t_deliveries.c
        if not delivery_ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(update(t_deliveries).where(
                c.lease_owner == owner, c.status == _S.IN_FLIGHT.value,
                c.id.in_(delivery_ids)).values(
                status=_back(), attempts=func.max(c.attempts - 1, 0)
                if self.engine.dialect.name == "sqlite" else func.greatest(c.attempts - 1, 0),
                lease_owner=None, lease_until=None, next_attempt_at=until,
                last_error=reason[:2000], updated_at=now))
            return result.rowcount or 0

    def retry_delivery(self, delivery_id: int, now: datetime) -> Delivery:
        """Queue a failed or dead delivery again now, with a fresh attempt count."""
        c = t_deliveries.c
        with self.engine.begin() as conn:
            row = conn.execute(select(t_deliveries).where(c.id == delivery_id)).first()
            if row is None:
                raise StoreError(f"no delivery with id {delivery_id}")
            if row.status not in (_S.FAILED.value, _S.DEAD.value):
                raise StoreError(f"delivery {delivery_id} is {row.status}; only failed or dead "
                                 "deliveries can be retried")
            story = conn.execute(select(t_stories).where(t_stories.c.id == row.story_id)).one()
            if story.merged_into is not None:
                raise StoreError(f"story {row.story_id} was merged into story "
                                 f"{story.merged_into}; that story carries it now")
            if story.hold:
                raise StoreError(f"story {row.story_id} is stopped; let it be posted first "
                                 "(or it would wait for ever)")
            done = conn.execute(update(t_deliveries).where(
                c.id == delivery_id, c.status.in_([_S.FAILED.value, _S.DEAD.value])).values(
                status=_S.PENDING.value, attempts=0, next_attempt_at=now, updated_at=now))
            if done.rowcount != 1:
                raise StoreError(f"delivery {delivery_id} changed meanwhile; look again")
            return row_to_delivery(conn.execute(select(t_deliveries)
                                                .where(c.id == delivery_id)).one())

    def retry_deliveries(self, now: datetime, *, target: str | None = None,
                         statuses: Sequence[str] = (_S.FAILED.value, _S.DEAD.value)) -> int:
        """Queue again, now and with a fresh count of attempts, every failed or dead
        delivery (``statuses`` narrows, ``target`` picks one target); how many. Never a
        sent, in-flight, pending, retracted or left one, nor one whose story was merged
        away or stopped (it would go nowhere or wait for ever)."""
        c = t_deliveries.c
        allowed = [s for s in statuses if s in (_S.FAILED.value, _S.DEAD.value)]
        if not allowed:
            return 0
        live = select(t_stories.c.id).where(t_stories.c.merged_into.is_(None),
                                            t_stories.c.hold.is_(False))
        cond: list[ColumnElement[bool]] = [c.status.in_(allowed), c.story_id.in_(live)]
        if target is not None:
            cond.append(c.target == target)
        with self.engine.begin() as conn:
            done = conn.execute(update(t_deliveries).where(*cond).values(
                status=_S.PENDING.value, attempts=0, next_attempt_at=now, updated_at=now))
            return done.rowcount or 0

    def count_due(self, now: datetime, targets: Sequence[str]) -> int:
        """Deliveries to ``targets`` that would go now were their targets not paused."""
        if not targets:
            return 0
        c = t_deliveries.c
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_deliveries).where(
                _due(now), c.target.in_(list(targets)))).scalar_one())

    def list_deliveries(self, status: str | None = None, limit: int = 500) -> list[Delivery]:
        c = t_deliveries.c
        query = select(t_deliveries).order_by(c.id.desc()).limit(limit)
        if status:
            query = query.where(c.status == status)
        with self.engine.connect() as conn:
            return [row_to_delivery(r) for r in conn.execute(query)]
