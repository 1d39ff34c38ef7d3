"""Notifications: who hears of what happens to an announcement, through the outbox.

Submitted → the approvers; sent back (with the comment), approved, sent, failed → the
author. Never the person who acted on their own announcement, never someone who turned
notifications off (``users.notify``, ``/account/notifications``). Each is recorded once
in ``notices`` under its event key (the announcement, the event, and which submission or
approval it was about), so a retried request or a second worker sends nothing twice.

Email goes through the ``outmail`` table, written in the notice's own transaction and
bounded per address by ``[notify] mails_per_address`` (counted apart from the public
forms' emails, so notifications never use up a reset's share); the worker's outmail job
sends it.
Slack (``[notify] slack_target``) is sent by the worker after each dispatch run: a post in
the comms ``channel`` and/or a direct message to each person (``users.lookupByEmail``).
The web app records submitted, sent back and approved; the worker, after the dispatcher,
records sent and failed. Titles and comments are untrusted: escaped for Slack mrkdwn, and
kept out of email headers' control characters (the email is plain text).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.model import DeliveryStatus
from bot.queue import when_text
from bot.send_words import send_words

if TYPE_CHECKING:
    from bot.app import Herald
    from bot.store import Announcement

log = logging.getLogger("herald.notify")

EVENTS = ("submitted", "returned", "approved", "sent", "failed")
#: How far back the worker looks for announcements whose sends finished.
SWEEP = timedelta(days=30)
_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$")


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # plain text (email)
    slack: str  # Slack mrkdwn, untrusted parts escaped


def occasion(ann: Announcement, event: str) -> str:
    """Which submission, send-back or approval the event is about (part of its key)."""
    when = {"submitted": ann.submitted_at, "returned": ann.updated_at}.get(
        event, ann.approved_at)
    return when.isoformat() if when else "-"


def _link(herald: Herald, ann: Announcement) -> str | None:
    base = herald.settings.config.digest.base_url.rstrip("/")
    url = f"{base}/queue/{ann.id}"
    return url if _SAFE_URL.match(url) else None


def message(herald: Herald, ann: Announcement, event: str, now: datetime) -> Message:
    """The notification's subject, plain text and Slack text."""
    from channels.slack import escape_mrkdwn

    tz = herald.settings.config.worker.timezone
    title = ann.draft.title
    targets = ", ".join(ann.draft.targets)
    when = when_text(ann.send_at, now, tz) if ann.send_at else "as soon as it is approved"
    link = _link(herald, ann)
    failed = [d for d in ann.deliveries if d.status is DeliveryStatus.DEAD]
    why = "; ".join(f"{d.target}: {send_words(d.last_error, d.target)}" for d in failed)
    subject, text, lead = {
        "submitted": (f"Waiting for your approval: {title}",
                      f"{ann.author or 'Someone'} submitted “{title}” for approval. It goes "
                      f"to {targets}: {when}.",
                      f"{ann.author or 'Someone'} submitted"),
        "returned": (f"Sent back: {title}",
                     f"{ann.approver or 'An approver'} sent “{title}” back:\n\n"
                     f"{ann.comment or ''}",
                     f"{ann.approver or 'An approver'} sent back"),
        "approved": (f"Approved: {title}",
                     f"{ann.approver or 'An approver'} approved “{title}”. It goes to "
                     f"{targets}: {when}.",
                     f"{ann.approver or 'An approver'} approved"),
        "sent": (f"Sent: {title}", f"“{title}” went out to {targets}.", "Sent:"),
        "failed": (f"Could not send: {title}",
                   f"“{title}” could not be sent: {why}. You can send it again from its "
                   "page.",
                   "Could not send"),
    }[event]
    if link:
        text += f"\n\nOpen it in Herald: {link}"
    # The title in quotes, not bold: Slack has no escape for * or _, and a title holding
    # one would break the bold around it.
    slack = f"{escape_mrkdwn(lead)} “{escape_mrkdwn(title)}”"
    if event == "returned" and ann.comment:
        slack += "\n>" + escape_mrkdwn(ann.comment).replace("\n", "\n>")
    if event == "failed" and why:
        slack += f"\n{escape_mrkdwn(why)}"
    if link:
        slack += f"\n<{link}|Open it in Herald>"
    footer = "\n\n--\nYou get this because you use Herald; turn notifications off on " \
             "your account's notifications page."
    return Message(subject, text + footer, slack)


def recipients(herald: Herald, ann: Announcement, event: str,
               actor_id: int | None) -> list[Any]:
    """Who hears of ``event``: approvers of a submission (not its author), the author of
    the rest; never ``actor_id`` (who did it), never a disabled account."""
    users = [u for u in herald.store.list_users() if not u.disabled]
    if event == "submitted":
        chosen = [u for u in users if u.can("approver") and u.id != ann.author_id]
    else:
        chosen = [u for u in users if u.id == ann.author_id]
    return [u for u in chosen if u.id != actor_id]


def announce(herald: Herald, ann: Announcement, event: str, actor_id: int | None = None,
             now: datetime | None = None) -> int:
    """Record (once) the notifications of ``event``; returns how many were new."""
    cfg = herald.settings.config.notify
    if not cfg.enabled:
        return 0
    from bot.outmail import compose_mail

    store = herald.store
    now = now or herald.clock.now()
    web = herald.settings.config.web
    msg = message(herald, ann, event, now)
    key = occasion(ann, event)
    slack = cfg.slack_target is not None and cfg.slack_target in herald.channels
    new = 0
    for user in recipients(herald, ann, event, actor_id):
        off = not store.notify_wanted(user.id)
        mail = compose_mail(herald.settings.config.digest.sender, user.email, msg.subject,
                            msg.text, now) if cfg.email and not off else None
        done = store.record_notice(
            announcement_id=ann.id, event=event, occasion=key, recipient=user.email,
            user_id=user.id, now=now, mail=mail,
            slack_text=msg.slack if slack and cfg.dm else None, off=off,
            mail_limit=cfg.mails_per_address, mail_window=web.mail_window)
        new += done is not None
    if slack and cfg.channel:
        done = store.record_notice(
            announcement_id=ann.id, event=event, occasion=key,
            recipient="#" + cfg.channel.lstrip("#"), user_id=None, now=now, mail=None,
            slack_text=msg.slack, mail_limit=cfg.mails_per_address,
            mail_window=web.mail_window)
        new += done is not None
    return new


def announce_safely(herald: Herald, ann: Announcement, event: str,
                    actor_id: int | None = None) -> None:
    """``announce`` for the web app: what the user did is done; a notification that could
    not be recorded is logged, not shown to them as their failure."""
    try:
        announce(herald, ann, event, actor_id)
    except Exception:
        log.exception("could not record the %s notification of announcement %s", event,
                      ann.id)


def finished(ann: Announcement) -> str | None:
    """"sent" when every delivery went, "failed" when one was given up, else None."""
    statuses = {d.status for d in ann.deliveries}
    if not statuses:
        return None
    if DeliveryStatus.DEAD in statuses:
        return "failed"
    if statuses <= {DeliveryStatus.SENT}:
        return "sent"
    return None


def after_dispatch(herald: Herald) -> int:
    """The worker's part, after each dispatch run: record "sent" and "failed" for the
    announcements whose sends finished, then send due Slack notifications. Returns the
    number of notifications recorded."""
    if not herald.settings.config.notify.enabled:
        return 0
    store = herald.store
    now = herald.clock.now()
    new = 0
    try:
        for ann in store.list_announcements(store.recently_approved(now - SWEEP)):
            event = finished(ann)
            if event and not store.notice_exists(ann.id, event, occasion(ann, event)):
                new += announce(herald, ann, event, None, now)
        send_slack(herald)
    except Exception:  # never in the way of the dispatcher: the next run tries again
        log.exception("notifications after dispatch failed; the next run tries again")
    return new


def send_slack(herald: Herald) -> int:
    """Send due Slack notifications through the ``[notify] slack_target``'s token; returns
    how many went."""
    cfg = herald.settings.config.notify
    channel = herald.channels.get(cfg.slack_target or "")
    if channel is None:
        return 0
    store = herald.store
    lease = herald.settings.config.worker.lease
    sent = 0
    for notice in store.claim_slack_notices(herald.clock.now(), lease):
        try:
            client = channel.client  # type: ignore[attr-defined]
            if notice.recipient.startswith("#"):
                where = notice.recipient[1:]
            else:
                found = client.users_lookupByEmail(email=notice.recipient)
                where = found["user"]["id"]
            client.chat_postMessage(channel=where, text=notice.slack_text or "",
                                    unfurl_links=False, unfurl_media=False)
        except Exception as exc:
            error = _slack_error(exc)
            store.finish_slack_notice(notice.id, sent=False, error=error,
                                      final=error in _FINAL)
            log.warning("Slack notification %s to %s failed: %s", notice.id,
                        notice.recipient, error)
            continue
        store.finish_slack_notice(notice.id, sent=True)
        sent += 1
    return sent


#: Slack answers no retry changes.
_FINAL = {"users_not_found", "channel_not_found", "not_in_channel", "is_archived",
          "invalid_auth", "not_authed", "account_inactive", "missing_scope"}


def _slack_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    try:
        error = response.get("error") if response is not None else None
    except Exception:
        error = None
    return str(error) if error else f"{type(exc).__name__}: {exc}"
