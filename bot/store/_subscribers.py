"""Subscribers of the digest, and the digests themselves: one row per subscriber and
period (unique), claimed with a lease like a delivery, so a digest goes out once however
often the job runs and whichever worker runs it.

A subscriber's address is checked when it is added (``subscriber_address``, with
email-validator's syntax rules, never DNS) and kept in its normalised form. A digest row
is changed only by the run that holds its lease (``finish_digest`` and ``release_digest``
check the owner): a run whose lease ran out cannot undo what the run that took the row
over has done."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.engine import Engine

from bot.errors import StoreError
from bot.store._common import insert_ignore
from bot.store._subscriber_lists import SubscriberListsMixin
from bot.store.schema import digests as t_digests
from bot.store.schema import subscribers as t_subs


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    domains: tuple[str, ...] | None  # None: every domain
    frequency: str
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    created_at: datetime
    kinds: tuple[str, ...] | None = None  # None: every kind

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None

    @classmethod
    def from_mapping(cls, m: Any) -> Subscriber:
        return cls(m["id"], m["email"], _slugs(m["domains"]), m["frequency"],
                   m["confirmed_at"], m["unsubscribed_at"], m["created_at"],
                   _slugs(m["kinds"]))


def _slugs(stored: str | None) -> tuple[str, ...] | None:
    """A stored JSON list of slugs; None (every one) when NULL or empty."""
    found = json.loads(stored) if stored else None
    return tuple(found) if found else None


def _stored(slugs: list[str] | tuple[str, ...] | None) -> str | None:
    return json.dumps(sorted(set(slugs))) if slugs else None


@dataclass(frozen=True)
class DigestRow:
    id: int
    subscriber_id: int
    period: str
    status: str
    attempts: int
    message_id: str | None
    stories: int
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None = None


def _digest(m: Any) -> DigestRow:
    return DigestRow(m["id"], m["subscriber_id"], m["period"], m["status"], m["attempts"],
                     m["message_id"], m["stories"], m["last_error"], m["sent_at"],
                     m["next_attempt_at"])


def normalize_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c in email for c in " \r\n<>,;\"'") \
            or any(ord(c) < 32 or ord(c) == 127 for c in email) or len(email) > 320:
        raise StoreError(f"{email!r} is not an email address")
    return f"{local}@{domain.lower()}"


def subscriber_address(email: str) -> str:
    """A subscriber's address, checked and normalised; StoreError says what is wrong.

    email-validator's syntax rules (no DNS look-up: ``check_deliverability=False``): the
    domain lower-cased and in its Unicode form, the local part in NFC. An address with
    a non-ASCII local part is valid but needs a mail server that offers SMTPUTF8; the
    digest finds that out when it sends, for that subscriber alone.
    """
    text = email.strip()
    if len(text) > 320:
        raise StoreError(f"{text[:40]!r}… is not an email address: it is too long")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise StoreError(f"{text!r} is not an email address: {exc}") from None


def _same_address(address: str) -> ColumnElement[bool]:
    """The stored row of this address, whatever its case: ``STAFF@Example.org`` is the
    same mailbox as ``staff@example.org`` (mail servers treat local parts alike in case),
    so one person is one subscriber, and one unsubscribe is final. The first form given
    is kept. (SQL's lower() folds ASCII letters; other scripts are compared as given.)"""
    return or_(t_subs.c.email == address, func.lower(t_subs.c.email) == address.lower())


def mail_address(address: str) -> str:
    """The form of a stored address to put on the envelope and in To: ASCII (the domain
    in IDNA) when the local part allows it, so that only a non-ASCII local part needs
    SMTPUTF8; anything email-validator refuses (rows from before it) as stored."""
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return address
    return checked.ascii_email or checked.normalized


def _lookup_address(email: str) -> str:
    """The key to look an address up by: its validated form, or (for anything stored
    before addresses were validated) the old normalisation."""
    try:
        return subscriber_address(email)
    except StoreError:
        return normalize_email(email)


class SubscribersMixin(SubscriberListsMixin):
    engine: Engine

    def add_subscriber(self, email: str, *, domains: list[str] | None, now: datetime,
                       confirmed: bool = True,
                       kinds: list[str] | tuple[str, ...] | None = None) -> Subscriber:
        """Add (or re-activate) a subscriber; ``domains`` (``kinds``) None means every
        domain (kind).

        The address is validated (``subscriber_address``): StoreError when it is not one."""
        address = subscriber_address(email)
        values = {"domains": _stored(domains), "kinds": _stored(kinds),
                  "confirmed_at": now if confirmed else None, "unsubscribed_at": None}
        with self.engine.begin() as conn:
            row = conn.execute(select(t_subs).where(_same_address(address))).first()
            if row is None:
                conn.execute(t_subs.insert().values(email=address, frequency="weekly",
                                                    created_at=now, **values))
            else:
                conn.execute(update(t_subs).where(t_subs.c.id == row.id).values(**values))
        return self.get_subscriber(address if row is None else row.email)

    def get_subscriber(self, email: str) -> Subscriber:
        address = _lookup_address(email)
        with self.engine.connect() as conn:
            row = conn.execute(select(t_subs).where(_same_address(address))).mappings()\
                .first()
        if row is None:
            raise StoreError(f"no subscriber {address}")
        return Subscriber.from_mapping(row)

    def list_subscribers(self, *, active_only: bool = False) -> list[Subscriber]:
        query = select(t_subs).order_by(t_subs.c.email)
        if active_only:
            query = query.where(t_subs.c.confirmed_at.is_not(None),
                                t_subs.c.unsubscribed_at.is_(None))
        with self.engine.connect() as conn:
            return [Subscriber.from_mapping(r) for r in conn.execute(query).mappings()]

    def set_subscriber_domains(self, subscriber_id: int, domains: list[str] | None) -> bool:
        """Change what a subscriber receives, and nothing else: an unsubscribed subscriber
        stays unsubscribed. False when there is no such subscriber."""
        with self.engine.begin() as conn:
            done = conn.execute(update(t_subs).where(t_subs.c.id == subscriber_id).values(
                domains=json.dumps(sorted(set(domains))) if domains else None))
            return done.rowcount == 1

    def set_subscriber_choices(self, subscriber_id: int, domains: list[str] | None,
                               kinds: list[str] | None) -> bool:
        """Change the domains and kinds a subscriber receives, and nothing else (never
        whether they are subscribed). False when there is no such subscriber."""
        with self.engine.begin() as conn:
            done = conn.execute(update(t_subs).where(t_subs.c.id == subscriber_id).values(
                domains=_stored(domains), kinds=_stored(kinds)))
            return done.rowcount == 1

    def unsubscribe(self, email: str, now: datetime) -> Subscriber:
        sub = self.get_subscriber(email)
        with self.engine.begin() as conn:
            conn.execute(update(t_subs).where(t_subs.c.id == sub.id, t_subs.c.unsubscribed_at
                                              .is_(None)).values(unsubscribed_at=now))
        return self.get_subscriber(email)

    # -- digests ----------------------------------------------------------------------------

    def plan_digests(self, period: str, now: datetime) -> int:
        """Create the period's digest rows for every active subscriber (idempotent)."""
        subs = self.list_subscribers(active_only=True)
        with self.engine.begin() as conn:
            return insert_ignore(conn, t_digests, [
                {"subscriber_id": s.id, "period": period, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "stories": 0, "created_at": now} for s in subs],
                ["subscriber_id", "period"])

    def claim_digests(self, period: str, owner: str, now: datetime,
                      lease: timedelta) -> list[DigestRow]:
        c = t_digests.c
        due = and_(c.period == period, or_(
            and_(c.status.in_(["pending", "failed"]), c.next_attempt_at <= now),
            and_(c.status == "in_flight", c.lease_until < now)))
        query = select(t_digests).where(due).order_by(c.id)
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).all():
                done = conn.execute(update(t_digests).where(c.id == row.id, due).values(
                    status="in_flight", lease_owner=owner, lease_until=now + lease,
                    attempts=c.attempts + 1))
                if done.rowcount == 1:
                    claimed.append(_digest(conn.execute(
                        select(t_digests).where(c.id == row.id)).mappings().one()))
        return claimed

    def renew_digest_lease(self, digest_id: int, owner: str, now: datetime,
                           lease: timedelta) -> bool:
        """Extend the lease just before sending; False when another run took the row."""
        c = t_digests.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_digests).where(
                c.id == digest_id, c.lease_owner == owner, c.status == "in_flight")
                .values(lease_until=now + lease))
            return done.rowcount == 1

    def finish_digest(self, digest_id: int, *, owner: str, status: str, now: datetime,
                      message_id: str | None = None, stories: int = 0,
                      error: str | None = None, retry_at: datetime | None = None) -> bool:
        """Record a digest as sent, empty (nothing new), failed (retry_at) or dead.

        Only while ``owner`` holds the row in flight: a run whose lease ran out, and whose
        row another run has claimed (and perhaps sent), changes nothing. True when the
        row was changed."""
        c = t_digests.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_digests).where(
                c.id == digest_id, c.lease_owner == owner, c.status == "in_flight").values(
                status=status, message_id=message_id, stories=stories,
                last_error=error[:2000] if error else None, next_attempt_at=retry_at,
                lease_owner=None, lease_until=None,
                sent_at=now if status == "sent" else None))
            return done.rowcount == 1

    def count_due_digests(self, period: str, now: datetime) -> int:
        """``period``'s digests that a run would try now (pending or failed, and due)."""
        c = t_digests.c
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_digests).where(
                c.period == period, c.status.in_(["pending", "failed"]),
                c.next_attempt_at <= now)).scalar_one())

    def release_digest(self, digest_id: int, *, owner: str, retry_at: datetime) -> bool:
        """Give back a row this run claimed but never tried (its batch stopped first):
        pending again from ``retry_at``, the claim's attempt not counted. Only while
        ``owner`` holds it in flight; True when the row was given back."""
        c = t_digests.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_digests).where(
                c.id == digest_id, c.lease_owner == owner, c.status == "in_flight").values(
                # The claim counted an attempt (so it is at least 1): take it back.
                status="pending", attempts=c.attempts - 1, next_attempt_at=retry_at,
                lease_owner=None, lease_until=None))
            return done.rowcount == 1

    def last_digests(self) -> dict[int, DigestRow]:
        """Each subscriber's digest row for the latest period they have one for."""
        c = t_digests.c
        latest = select(c.subscriber_id, func.max(c.period).label("period"))\
            .group_by(c.subscriber_id).subquery()
        query = select(t_digests).join(latest, and_(c.subscriber_id == latest.c.subscriber_id,
                                                    c.period == latest.c.period))
        with self.engine.connect() as conn:
            return {r["subscriber_id"]: _digest(r) for r in conn.execute(query).mappings()}

    def list_digests(self, period: str | None = None) -> list[DigestRow]:
        query = select(t_digests).order_by(t_digests.c.id)
        if period:
            query = query.where(t_digests.c.period == period)
        with self.engine.connect() as conn:
            return [_digest(r) for r in conn.execute(query).mappings()]

