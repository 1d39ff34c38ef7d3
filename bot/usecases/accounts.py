"""Invitation and password-reset links for staff accounts, for the web app and the CLI.

The link is the site's address (``[digest] base_url``) and a random token; the store keeps
only the token's hash (``bot.store._links``). Emails go through the ``outmail`` table, which
the worker sends, bounded per address by ``[web] mails_per_address`` per ``mail_window``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.store import User

if TYPE_CHECKING:
    from bot.app import Herald

log = logging.getLogger("herald.accounts")


@dataclass(frozen=True)
class MadeLink:
    """A link just made: its address, for whom, and whether its email was queued."""

    url: str
    email: str
    mailed: bool


def plainly(value: timedelta) -> str:
    """A duration in words for people: "7 days", "1 hour", "90 minutes"."""
    minutes = int(value.total_seconds()) // 60
    for unit, size in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes >= size and minutes % size == 0:
            n = minutes // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{max(minutes, 1)} minutes"


def _base(herald: Herald) -> str:
    return str(herald.settings.config.digest.base_url).rstrip("/")


def _mail(herald: Herald, kind: str, to: str, subject: str, text: str) -> bool:
    from bot.outmail import compose_mail

    web = herald.settings.config.web
    now = herald.clock.now()
    message = compose_mail(herald.settings.config.digest.sender, to, subject, text, now)
    queued = bool(herald.store.queue_mail(kind, to, message, now, limit=web.mails_per_address,
                                          window=web.mail_window))
    if not queued:
        log.info("a %s email was not queued: the address had its share for now", kind)
    return queued


def invite(herald: Herald, email: str, role: str, by: User | None = None,
           mail: bool = True) -> MadeLink:
    """Invite ``email`` to join as ``role``: a new link (older open invitations for the
    address stop working), emailed unless ``mail`` is False. StoreError when the address
    is not valid or already has an account."""
    web = herald.settings.config.web
    now = herald.clock.now()
    token = herald.store.create_invitation(email, role, now, now + web.invite_for,
                                           created_by=by.id if by else None)
    link = herald.store.find_link("invite", token, now)
    assert link is not None
    url = f"{_base(herald)}/invite/{token}"
    name = herald.settings.config.digest.list_name
    mailed = mail and _mail(
        herald, "invite", link.email, f"{name}: you are invited to Herald",
        f"{by.email if by else 'An admin'} has invited you to Herald, where {name}'s "
        f"announcements are written and approved, as {'an' if role[0] in 'aeiou' else 'a'} "
        f"{role}.\n\nChoose your password here:\n\n{url}\n\nThe link works once, for "
        f"{plainly(web.invite_for)}. If you did not expect this, ignore this email.\n")
    return MadeLink(url, link.email, mailed)


def reset_link(herald: Herald, user: User, by: User | None = None,
               mail: bool = True) -> MadeLink:
    """A password-reset link for ``user`` (older unused ones stop working), emailed unless
    ``mail`` is False."""
    web = herald.settings.config.web
    now = herald.clock.now()
    token = herald.store.create_reset(user, now, now + web.reset_for,
                                      created_by=by.id if by else None)
    url = f"{_base(herald)}/reset/{token}"
    name = herald.settings.config.digest.list_name
    mailed = mail and _mail(
        herald, "reset", user.email, f"{name}: reset your Herald password",
        f"Someone (perhaps you) asked to reset the password of {user.email} on Herald.\n\n"
        f"Choose a new password here:\n\n{url}\n\nThe link works once, for "
        f"{plainly(web.reset_for)}. If this was not you, ignore this email: your "
        "password stays as it is.\n")
    return MadeLink(url, user.email, mailed)
