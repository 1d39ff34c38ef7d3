"""Short emails the web app asks for (subscription confirmations), sent by the worker.

The web app only builds the message (``compose_mail``) and writes it to the ``outmail``
table (``Store.queue_mail``, bounded per recipient); it never opens an SMTP connection.
The worker's outmail job (``send_outmail``) claims due rows with a lease and sends them
through the digest's sender (SMTP from ``[digest] smtp_env``, or files under
``var/outbox/digest/``). A message the server could not take now is tried again with the
worker's backoff; one it refused for good (5xx) is dead. When the server cannot be
reached at all, the batch stops and gives the rest back untried. When it refuses Herald's
login, the email target (``digest``) pauses (:mod:`bot.pause`): the messages wait, untried
and uncounted, until a probe gets through or someone runs ``herald outbox resume digest``.
"""

from __future__ import annotations

import email
import email.policy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING

from bot.errors import ChannelError, HeraldError, TargetAuthError
from bot.pause import EMAIL, Gate, gate, refused
from bot.retry import RetryPolicy
from bot.store import OutMail
from bot.store._subscribers import normalize_email

if TYPE_CHECKING:
    from bot.app import Herald

log = logging.getLogger("herald.outmail")

#: Messages one run of the job takes at most (the rest wait for the next tick).
BATCH = 50


def compose_mail(sender: str, to: str, subject: str, text: str, now: datetime) -> str:
    """One short plain-text email, as the RFC 5322 text ``queue_mail`` stores."""
    from bot.digest import MAIL_POLICY, _header_safe

    address = normalize_email(to)
    # An address with non-ASCII letters needs a server that takes SMTPUTF8; the worker
    # finds out, and records the reason, without holding up anyone else's mail.
    utf8 = not address.isascii()
    msg = EmailMessage(policy=MAIL_POLICY.clone(utf8=utf8))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "herald.local"
    msg["From"] = _header_safe(sender)
    msg["To"] = address
    msg["Subject"] = _header_safe(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    return msg.as_string(policy=email.policy.default.clone(utf8=utf8))


def parse_mail(text: str) -> EmailMessage:
    message = email.message_from_string(text, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class OutmailStats:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    #: Due, but the email target is paused (the mail server refused Herald's login).
    held: int = 0
    errors: list[str] = field(default_factory=list)


def send_outmail(herald: Herald, now: datetime | None = None) -> OutmailStats:
    """Send the due messages of the ``outmail`` table; safe to run at any time, by any
    number of workers (each message is claimed with a lease)."""
    from bot.digest import mail_sender
    from channels.email import SmtpConnectionError

    store = herald.store
    now = now or herald.clock.now()
    w = herald.settings.config.worker
    stats = OutmailStats()
    state = Gate.OPEN
    if EMAIL in store.paused_targets():  # the mail server refused our login
        due = store.count_due_outmail(now)
        if not due:
            return stats
        state = gate(store, EMAIL, now)
        if state is Gate.PAUSED:
            stats.held = due
            return stats
    # A probe claims the batch too: the first message logs in, and a refusal gives every
    # claim back untried.
    claims = store.claim_outmail(herald.owner, now, w.lease, BATCH)
    if not claims:
        return stats
    policy = RetryPolicy(w.backoff_base, w.backoff_cap, w.max_attempts)
    with mail_sender(herald) as sender:
        for n, row in enumerate(claims):
            if herald.stop.is_set():  # stopping: give back what was not started
                _give_back(herald, claims[n:], now)
                break
            if not store.renew_outmail_lease(row.id, herald.owner, herald.clock.now(),
                                             w.lease):
                continue  # another run has it now
            try:
                sender.send(parse_mail(row.message))
            except TargetAuthError as exc:
                # The server refused our login: not this message. The target pauses;
                # this message and the rest go back untried, due when it resumes.
                refused(store, EMAIL, str(exc), now,
                        probing=state is Gate.PROBE)
                _give_back(herald, claims[n:], now)
                stats.held += store.count_due_outmail(now)
                stats.errors.append(f"target {EMAIL} paused: {exc}")
                break
            except SmtpConnectionError as exc:
                # The server, not this message: try it later, and the rest untried.
                error = f"{type(exc).__name__}: {exc}"
                store.finish_outmail(row.id, herald.owner, now, sent=False, error=error,
                                     retry_at=policy.decide(exc, row.attempts + 1, now))
                _give_back(herald, claims[n + 1:], policy.decide(exc, 1, now) or now)
                stats.failed += 1
                stats.errors.append(f"stopped the batch: {exc}")
                log.warning("outmail: the mail server cannot be used, %d left for later: %s",
                            len(claims) - n, exc)
                break
            except Exception as exc:  # this message's fault, whatever it is: it alone fails
                retry_at = policy.decide(exc, row.attempts + 1, now) \
                    if isinstance(exc, (ChannelError, HeraldError)) else None
                store.finish_outmail(row.id, herald.owner, now, sent=False,
                                     error=f"{type(exc).__name__}: {exc}", retry_at=retry_at)
                if retry_at is None:
                    stats.dead += 1
                else:
                    stats.failed += 1
                stats.errors.append(f"mail {row.id}: {exc}")
                log.warning("outmail %d (%s) failed: %s", row.id, row.kind, exc)
                continue
            store.finish_outmail(row.id, herald.owner, now, sent=True)
            stats.sent += 1
            if state is Gate.PROBE:  # the server took our login again
                store.resume_target(EMAIL, herald.clock.now())
                state = Gate.OPEN
    return stats


def _give_back(herald: Herald, rows: list[OutMail], when: datetime) -> None:
    """Untried messages of a stopped batch go back to pending, due at ``when``."""
    for rest in rows:
        herald.store.finish_outmail(rest.id, herald.owner, when, sent=False,
                                    retry_at=when, attempted=False)
