"""Notification rows (``bot.notify``): one per event and recipient, written once.

``record_notice`` writes the row and, in the same transaction, its email to the
``outmail`` table (bounded per address, apart from the public forms' emails: see
``[notify] mails_per_address``): a row that exists
already (the unique event key) means the notification was handled, so a retry or a second
worker writes nothing. Slack notifications are sent by the worker: ``claim_slack_notices``
takes due rows with a lease, ``finish_slack_notice`` records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.store._outmail import NOTIFY_PREFIX, write_mail
from bot.store.schema import notices as t_notices
from bot.store.schema import users as t_users

#: Slack tries a notification at most this many times.
SLACK_ATTEMPTS = 5


@dataclass(frozen=True)
class Notice:
    id: int
    announcement_id: int
    event: str
    occasion: str
    recipient: str  # an email address, or "#" and a Slack channel
    user_id: int | None
    email: str  # queued, bounded, off, none
    slack: str  # pending, in_flight, sent, dead, off, none
    slack_text: str | None
    slack_attempts: int
    slack_error: str | None
    created_at: datetime


def _notice(r: Any) -> Notice:
    return Notice(r["id"], r["announcement_id"], r["event"], r["occasion"], r["recipient"],
                  r["user_id"], r["email"], r["slack"], r["slack_text"], r["slack_attempts"],
                  r["slack_error"], r["created_at"])


class NoticesMixin:
    engine: Engine

    def notice_exists(self, announcement_id: int, event: str, occasion: str) -> bool:
        """True once any notification of this event was recorded."""
        c = t_notices.c
        with self.engine.connect() as conn:
            return bool(conn.execute(select(exists().where(
                c.announcement_id == announcement_id, c.event == event,
                c.occasion == occasion[:40]))).scalar())

    def record_notice(self, *, announcement_id: int, event: str, occasion: str,
                      recipient: str, user_id: int | None, now: datetime,
                      mail: str | None, slack_text: str | None, mail_limit: int,
                      mail_window: timedelta, off: bool = False) -> Notice | None:
        """Record one notification, with its email (``mail``, queued unless the address
        had its share) and its Slack text (sent later by the worker). None when it was
        recorded before: nothing is written twice. ``off``: the person turned
        notifications off; the row records that, so nothing is sent later either."""
        c = t_notices.c
        key = (c.announcement_id == announcement_id, c.event == event,
               c.occasion == occasion[:40], c.recipient == recipient[:320])
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(exists().where(*key))).scalar():
                    return None
                email = "off" if off else "none" if mail is None else (
                    "queued" if write_mail(conn, NOTIFY_PREFIX + event, recipient, mail, now,
                                           limit=mail_limit, window=mail_window)
                    else "bounded")
                slack = "off" if off else "none" if slack_text is None else "pending"
                conn.execute(t_notices.insert().values(
                    announcement_id=announcement_id, event=event, occasion=occasion[:40],
                    recipient=recipient[:320], user_id=user_id, email=email, slack=slack,
                    slack_text=None if off else slack_text, slack_attempts=0,
                    created_at=now))
                row = conn.execute(select(t_notices).where(*key)).mappings().one()
                return _notice(row)
        except IntegrityError:
            return None  # another request or worker recorded it first

    def list_notices(self, announcement_id: int | None = None) -> list[Notice]:
        query = select(t_notices).order_by(t_notices.c.id)
        if announcement_id is not None:
            query = query.where(t_notices.c.announcement_id == announcement_id)
        with self.engine.connect() as conn:
            return [_notice(r) for r in conn.execute(query).mappings()]

    def claim_slack_notices(self, now: datetime, lease: timedelta,
                            limit: int = 20) -> list[Notice]:
        """Take due Slack notifications (pending, or whose lease ran out) with a lease."""
        c = t_notices.c
        due = or_(c.slack == "pending",
                  and_(c.slack == "in_flight", c.slack_lease_until < now))
        claimed = []
        with self.engine.begin() as conn:
            ids = conn.execute(select(c.id).where(due).order_by(c.id).limit(limit)).scalars()
            for notice_id in list(ids):
                done = conn.execute(update(t_notices).where(c.id == notice_id, due).values(
                    slack="in_flight", slack_lease_until=now + lease))
                if done.rowcount == 1:
                    claimed.append(_notice(conn.execute(
                        select(t_notices).where(c.id == notice_id)).mappings().one()))
        return claimed

    def finish_slack_notice(self, notice_id: int, *, sent: bool,
                            error: str | None = None, final: bool = False) -> None:
        """Sent, or failed: tried again by the next run until ``SLACK_ATTEMPTS`` (at once
        dead when ``final``: an answer no retry changes)."""
        c = t_notices.c
        with self.engine.begin() as conn:
            row = conn.execute(select(c.slack_attempts).where(c.id == notice_id)).first()
            if row is None:
                return
            attempts = row.slack_attempts + 1
            status = "sent" if sent else "dead" if final or attempts >= SLACK_ATTEMPTS \
                else "pending"
            conn.execute(update(t_notices).where(c.id == notice_id).values(
                slack=status, slack_attempts=attempts, slack_lease_until=None,
                slack_error=error[:2000] if error else None))

    # -- who wants them -------------------------------------------------------------------

    def notify_wanted(self, user_id: int) -> bool:
        """Whether this person gets notifications (on unless they turned them off)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(t_users.c.notify).where(t_users.c.id == user_id)
                                 ).scalar()
        return value is None or bool(value)

    def set_notify(self, user_id: int, wanted: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t_users).where(t_users.c.id == user_id).values(notify=wanted))
