"""Invitation and password-reset links for staff accounts (``account_links``).

A link carries a random token (``secrets.token_urlsafe``); the table keeps only its SHA-256
(``token_key``), so a copy of the database opens no account. Each link expires and is used
once: using it marks the row in the same transaction that creates the account or sets the
password, on the condition that it is still unused and unexpired, so two tabs (or two web
processes) cannot both use it. A new link for the same address and purpose replaces the
older ones still unused, so only the latest link works.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.errors import StoreError
from bot.store._logins import login_key
from bot.store._subscribers import normalize_email
from bot.store._users import ROLES, User, token_key
from bot.store.schema import account_links as t_links
from bot.store.schema import login_attempts as t_logins
from bot.store.schema import sessions as t_sessions
from bot.store.schema import users as t_users

INVITE = "invite"
RESET = "reset"


class LinkUnusable(StoreError):
    """A link that is unknown, used, revoked or expired (one answer for all four)."""

    default_message = "this link is not valid, was already used, or has expired"


@dataclass(frozen=True)
class AccountLink:
    id: int
    purpose: str
    email: str
    role: str | None
    user_id: int | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


def _link(m: Any) -> AccountLink:
    return AccountLink(m["id"], m["purpose"], m["email"], m["role"], m["user_id"],
                       m["created_at"], m["expires_at"], m["used_at"])


class LinksMixin:
    engine: Engine

    if TYPE_CHECKING:
        def find_login_user(self, email: str) -> User | None: ...  # (UsersMixin)

    def create_invitation(self, email: str, role: str, now: datetime, expires_at: datetime,
                          created_by: int | None = None) -> str:
        """A new invitation for ``email`` to join as ``role``; returns the link's token.
        Refused when the address already has an account."""
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        address = normalize_email(email)
        if self.find_login_user(address) is not None:
            raise StoreError(f"there is already an account for {address}")
        return self._new_link(INVITE, address, now, expires_at, role=role,
                              created_by=created_by)

    def create_reset(self, user: User, now: datetime, expires_at: datetime,
                     created_by: int | None = None) -> str:
        """A new password-reset link for ``user``; returns its token."""
        return self._new_link(RESET, user.email, now, expires_at, user_id=user.id,
                              created_by=created_by)

    def _new_link(self, purpose: str, email: str, now: datetime, expires_at: datetime,
                  **values: Any) -> str:
        token = secrets.token_urlsafe(32)
        c = t_links.c
        with self.engine.begin() as conn:
            conn.execute(delete(t_links).where(c.purpose == purpose, c.email == email,
                                               c.used_at.is_(None)))
            conn.execute(t_links.insert().values(
                purpose=purpose, token_hash=token_key(token), email=email, created_at=now,
                expires_at=expires_at, **values))
        return token

    def find_link(self, purpose: str, token: str, now: datetime) -> AccountLink | None:
        """The unused, unexpired link for ``token`` (None for anything else)."""
        if not token or len(token) > 200:
            return None
        c = t_links.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t_links).where(
                c.purpose == purpose, c.token_hash == token_key(token), c.used_at.is_(None),
                c.expires_at > now)).mappings().first()
        return _link(row) if row else None

    def _claim(self, conn: Connection, purpose: str, token: str,
               now: datetime) -> AccountLink:
        """Mark the link used, in ``conn``'s transaction; LinkUnusable when it cannot be."""
        if not token or len(token) > 200:
            raise LinkUnusable()
        c = t_links.c
        usable = (c.purpose == purpose, c.token_hash == token_key(token),
                  c.used_at.is_(None), c.expires_at > now)
        done = conn.execute(update(t_links).where(*usable).values(used_at=now))
        if done.rowcount != 1:
            raise LinkUnusable()
        row = conn.execute(select(t_links).where(c.token_hash == token_key(token)))\
            .mappings().one()
        return _link(row)

    def accept_invitation(self, token: str, password_hash: str, now: datetime) -> int:
        """Use an invitation: the account is created with its role; returns the user id."""
        taken = StoreError("there is already an account for this address: sign in, or use "
                           "“Forgot your password?”")
        try:
            with self.engine.begin() as conn:
                link = self._claim(conn, INVITE, token, now)
                assert link.role is not None
                if self.find_login_user(link.email) is not None:  # added since, any case
                    raise taken
                result = conn.execute(t_users.insert().values(
                    email=link.email, role=link.role, password_hash=password_hash,
                    failed_logins=0, disabled=False, created_at=now).returning(t_users.c.id))
                return int(result.scalar_one())
        except IntegrityError:
            raise taken from None

    def use_reset(self, token: str, password_hash: str, now: datetime) -> int:
        """Use a reset link: the password is set, every session of the account ends and its
        sign-in locks clear; returns the user id. A disabled account cannot be reset."""
        with self.engine.begin() as conn:
            link = self._claim(conn, RESET, token, now)
            done = conn.execute(update(t_users).where(
                t_users.c.id == link.user_id, t_users.c.disabled.is_(False)).values(
                password_hash=password_hash, failed_logins=0, locked_until=None))
            if done.rowcount != 1:
                raise LinkUnusable()
            conn.execute(delete(t_sessions).where(t_sessions.c.user_id == link.user_id))
            email = conn.execute(select(t_users.c.email).where(
                t_users.c.id == link.user_id)).scalar_one()
            conn.execute(delete(t_logins).where(t_logins.c.address == login_key(email)))
            assert link.user_id is not None
            return link.user_id

    def list_invitations(self) -> list[AccountLink]:
        """Invitations not used yet (expired ones too: the page says so), newest first."""
        c = t_links.c
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(select(t_links).where(
                c.purpose == INVITE, c.used_at.is_(None)).order_by(c.id.desc())).mappings()]

    def get_invitation(self, link_id: int) -> AccountLink:
        c = t_links.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t_links).where(
                c.id == link_id, c.purpose == INVITE, c.used_at.is_(None))).mappings().first()
        if row is None:
            raise StoreError(f"no open invitation {link_id}")
        return _link(row)

    def revoke_invitation(self, link_id: int) -> None:
        invitation = self.get_invitation(link_id)
        with self.engine.begin() as conn:
            conn.execute(delete(t_links).where(t_links.c.id == invitation.id))
