"""What the subscribers and digest pages need beyond the subscription itself: applying a
checked CSV import (``bot.subscriber_csv``) in one transaction, and each period's digest
sends counted from the ``digests`` table. A base of ``SubscribersMixin``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.engine import Engine

from bot.store.schema import digests as t_digests
from bot.store.schema import subscribers as t_subs


@dataclass(frozen=True)
class ImportRow:
    """One checked row of a subscriber import (``bot.subscriber_csv``)."""

    line: int
    email: str
    status: str  # active, awaiting confirmation, unsubscribed
    domains: tuple[str, ...] | None
    kinds: tuple[str, ...] | None
    subscribed: datetime | None


@dataclass
class ImportOutcome:
    """What an import did; ``to_confirm`` are the rows whose people get a confirmation
    email (the caller sends it) before they receive anything."""

    added: int = 0
    updated: int = 0
    unsubscribed: int = 0
    kept_unsubscribed: list[str] = field(default_factory=list)
    to_confirm: list[ImportRow] = field(default_factory=list)


@dataclass(frozen=True)
class DigestSend:
    """One period's digest as sent: when, to how many, how many stories, failures."""

    period: str
    sent_at: datetime | None
    recipients: int
    stories: int
    empty: int
    failed: int
    waiting: int


class SubscriberListsMixin:
    engine: Engine

    def import_subscribers(self, rows: list[ImportRow], now: datetime, *,
                           consent: bool) -> ImportOutcome:
        """Apply checked import rows in one transaction. Someone who unsubscribed stays
        unsubscribed whatever the row says; a row marked unsubscribed is recorded (or
        ends an active subscription). An active row becomes an active subscriber only
        with ``consent`` (the admin has their consent); without it, and for rows awaiting
        confirmation, the person is kept unconfirmed and listed in ``to_confirm``."""
        from bot.store._subscribers import _same_address, _stored

        outcome = ImportOutcome()
        with self.engine.begin() as conn:
            for row in rows:
                found = conn.execute(select(t_subs).where(_same_address(row.email)))\
                    .mappings().first()
                choices = {"domains": _stored(row.domains), "kinds": _stored(row.kinds)}
                if found is not None and found["unsubscribed_at"] is not None:
                    outcome.kept_unsubscribed.append(found["email"])
                    continue
                if row.status == "unsubscribed":
                    if found is None:
                        conn.execute(t_subs.insert().values(
                            email=row.email, frequency="weekly", created_at=now,
                            confirmed_at=row.subscribed, unsubscribed_at=now, **choices))
                    else:
                        conn.execute(update(t_subs).where(t_subs.c.id == found["id"])
                                     .values(unsubscribed_at=now))
                    outcome.unsubscribed += 1
                    continue
                direct = consent and row.status == "active"
                if found is None:
                    conn.execute(t_subs.insert().values(
                        email=row.email, frequency="weekly", created_at=now,
                        confirmed_at=(row.subscribed or now) if direct else None,
                        unsubscribed_at=None, **(choices if direct else {})))
                    outcome.added += 1
                elif found["confirmed_at"] is not None:  # active: new choices, same state
                    conn.execute(update(t_subs).where(t_subs.c.id == found["id"])
                                 .values(**choices))
                    outcome.updated += 1
                    continue
                elif direct:
                    conn.execute(update(t_subs).where(t_subs.c.id == found["id"]).values(
                        confirmed_at=row.subscribed or now, **choices))
                    outcome.updated += 1
                if not direct:
                    outcome.to_confirm.append(row)
        return outcome

    def digest_sends(self, limit: int = 26) -> list[DigestSend]:
        """The latest ``limit`` periods' digests, newest first: when the first went out,
        how many people got one, the most stories any got, and how many had nothing new,
        failed for good or are still waiting."""
        c = t_digests.c

        def count(*states: str) -> Any:
            return func.sum(case((c.status.in_(states), 1), else_=0))

        query = select(c.period, func.min(c.sent_at), count("sent"), func.max(c.stories),
                       count("empty"), count("dead", "failed"),
                       count("pending", "in_flight")).group_by(c.period)\
            .order_by(c.period.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [DigestSend(r[0], r[1], int(r[2] or 0), int(r[3] or 0), int(r[4] or 0),
                               int(r[5] or 0), int(r[6] or 0))
                    for r in conn.execute(query)]
