"""Mail the web app asks for (subscription confirmations), sent by the worker (``outmail``).

The web app never sends: it writes the whole message here, and the worker claims due rows
with a lease, sends them over SMTP (or to files) and records the outcome, retrying later
when the server could not take a message. Finishing a row checks that this run still owns
its lease, so a run whose lease ran out cannot overwrite what another run did.

``queue_mail`` bounds the mail one recipient gets: at most ``limit`` messages created in
``window``, counted and written in one transaction (under an advisory lock on PostgreSQL,
in SQLite's single writer), so parallel requests cannot each slip under the bound.
Notifications to staff (kinds ``notify-…``) are counted apart from the rest: they have
their own bound (``[notify] mails_per_address``), so a busy day of "Approved: …" emails
never uses up the share that lets the same person reset a password or confirm a form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from bot.store._logins import login_key
from bot.store.schema import outmail as t_outmail

#: The kind of every notification email starts with this (``bot.notify``).
NOTIFY_PREFIX = "notify-"


@dataclass(frozen=True)
class OutMail:
    id: int
    kind: str
    recipient: str
    message: str
    status: str  # pending, in_flight, sent, failed (to be retried), dead
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _mail(m: Any) -> OutMail:
    return OutMail(m["id"], m["kind"], m["recipient"], m["message"], m["status"],
                   m["attempts"], m["next_attempt_at"], m["last_error"], m["created_at"],
                   m["sent_at"])


def write_mail(conn: Connection, kind: str, recipient: str, message: str, now: datetime, *,
               limit: int, window: timedelta) -> bool:
    """``queue_mail`` inside the caller's transaction (a notification writes its own row
    and its email together); same bound, same answer. A notification (``kind`` starting
    ``notify-``) counts only notifications; any other kind counts only the others."""
    key = login_key(recipient)
    c = t_outmail.c
    notices = c.kind.like(NOTIFY_PREFIX + "%")
    recent = select(func.count()).select_from(t_outmail).where(
        c.recipient == key, c.created_at > now - window,
        notices if kind.startswith(NOTIFY_PREFIX) else ~notices).scalar_subquery()
    values = select(literal(kind[:32]), literal(key), literal(message), literal("pending"),
                    literal(0), literal(now, t_outmail.c.next_attempt_at.type),
                    literal(now, t_outmail.c.created_at.type)).where(recent < limit)
    if conn.dialect.name == "postgresql":
        # Parallel requests for one recipient take turns (released at commit).
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
    written = conn.execute(t_outmail.insert().from_select(
        ["kind", "recipient", "message", "status", "attempts", "next_attempt_at",
         "created_at"], values).returning(c.id)).all()
    return bool(written)  # (RETURNING: rowcount is not reliable for this form)


class OutmailMixin:
    engine: Engine

    def queue_mail(self, kind: str, recipient: str, message: str, now: datetime, *,
                   limit: int, window: timedelta) -> bool:
        """Write one message for the worker to send. False, and nothing written, when
        ``recipient`` (casefolded) already has ``limit`` messages created within
        ``window`` before ``now``."""
        with self.engine.begin() as conn:
            return write_mail(conn, kind, recipient, message, now, limit=limit,
                              window=window)

    def claim_outmail(self, owner: str, now: datetime, lease: timedelta,
                      limit: int = 50) -> list[OutMail]:
        """Take up to ``limit`` due messages (new, to be retried, or whose lease ran out)."""
        c = t_outmail.c
        due = or_(and_(c.status.in_(["pending", "failed"]), c.next_attempt_at <= now),
                  and_(c.status == "in_flight", c.lease_until < now))
        query = select(c.id).where(due).order_by(c.id).limit(limit)
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        with self.engine.begin() as conn:
            for (mail_id,) in conn.execute(query).all():
                done = conn.execute(update(t_outmail).where(c.id == mail_id, due).values(
                    status="in_flight", lease_owner=owner[:64], lease_until=now + lease))
                if done.rowcount == 1:
                    claimed.append(_mail(conn.execute(
                        select(t_outmail).where(c.id == mail_id)).mappings().one()))
        return claimed

    def renew_outmail_lease(self, mail_id: int, owner: str, now: datetime,
                            lease: timedelta) -> bool:
        """Extend the lease just before sending; False when another run took the row."""
        c = t_outmail.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t_outmail).where(
                c.id == mail_id, c.lease_owner == owner[:64], c.status == "in_flight")
                .values(lease_until=now + lease))
            return done.rowcount == 1

    def finish_outmail(self, mail_id: int, owner: str, now: datetime, *, sent: bool,
                       error: str | None = None, retry_at: datetime | None = None,
                       attempted: bool = True) -> bool:
        """Record a claimed message as sent, failed (to retry at ``retry_at``) or dead (no
        ``retry_at``). ``attempted`` False gives it back, pending from ``retry_at``, without
        counting a try (the batch stopped before it). False when this run no longer owns the row."""
        c = t_outmail.c
        status = "sent" if sent else "pending" if not attempted else \
            "failed" if retry_at is not None else "dead"
        with self.engine.begin() as conn:
            done = conn.execute(update(t_outmail).where(
                c.id == mail_id, c.lease_owner == owner[:64], c.status == "in_flight")
                .values(status=status, attempts=c.attempts + (1 if attempted else 0),
                        next_attempt_at=retry_at, lease_owner=None, lease_until=None,
                        last_error=error[:2000] if error else None,
                        sent_at=now if sent else None))
            return done.rowcount == 1

    def count_due_outmail(self, now: datetime) -> int:
        """Messages that would be sent now (pending or failed and due)."""
        c = t_outmail.c
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_outmail).where(
                c.status.in_(["pending", "failed"]), c.next_attempt_at <= now)).scalar_one())

    def list_outmail(self, recipient: str | None = None) -> list[OutMail]:
        query = select(t_outmail).order_by(t_outmail.c.id)
        if recipient is not None:
            query = query.where(t_outmail.c.recipient == login_key(recipient))
        with self.engine.connect() as conn:
            return [_mail(r) for r in conn.execute(query).mappings()]
