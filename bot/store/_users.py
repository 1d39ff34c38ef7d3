"""Staff accounts and their sign-in sessions.

Passwords arrive here already hashed (``bot.passwords``). A session row is keyed by the
SHA-256 of the random token in the cookie, so the table alone cannot be replayed. Failed
sign-ins are counted per casefolded address in ``login_attempts`` (``bot.store._logins``),
for addresses with and without an account alike; sign-in finds an account by its
address in any case (``find_login_user``), and no two accounts differ only in case.
(``users.failed_logins`` and ``users.locked_until`` are kept for older databases and are
reset with a new password; the count that locks is ``login_attempts``.)
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.errors import StoreError
from bot.store._logins import login_key
from bot.store._subscribers import normalize_email
from bot.store.schema import account_links as t_links
from bot.store.schema import login_attempts as t_logins
from bot.store.schema import sessions as t_sessions
from bot.store.schema import users as t_users

ROLES = ("editor", "approver", "admin")


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    password_hash: str
    failed_logins: int
    locked_until: datetime | None
    disabled: bool
    last_login_at: datetime | None
    created_at: datetime

    def can(self, role: str) -> bool:
        """True when this user's role is ``role`` or above (editor < approver < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @classmethod
    def from_mapping(cls, m: Any) -> User:
        return cls(m["id"], m["email"], m["role"], m["password_hash"], m["failed_logins"],
                   m["locked_until"], bool(m["disabled"]), m["last_login_at"],
                   m["created_at"])


@dataclass(frozen=True)
class Session:
    id: str
    user: User
    csrf: str
    expires_at: datetime


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LastAdmin(StoreError):
    """The change would leave no active admin (no one could manage accounts any more)."""


def _keep_an_admin(conn: Connection, user: User) -> None:
    """Refuse to demote, disable or remove ``user`` when it is the last active admin. On
    PostgreSQL the active admins' rows are locked first, so two admins demoting each
    other at once cannot both pass. On SQLite a plain read starts no transaction (pysqlite),
    so a no-op write takes the database's write lock first: the second of two such changes
    waits for the first to commit and then reads what it wrote. The user's own row is read
    again under the lock (the caller's copy may be stale)."""
    if conn.dialect.name == "sqlite":
        conn.execute(update(t_users).where(t_users.c.id == user.id).values(id=t_users.c.id))
    current = conn.execute(select(t_users.c.role, t_users.c.disabled).where(
        t_users.c.id == user.id)).first()
    if current is None or current.role != "admin" or current.disabled:
        return
    query = select(t_users.c.id).where(t_users.c.role == "admin",
                                       t_users.c.disabled.is_(False))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    if [i for (i,) in conn.execute(query).all() if i != user.id]:
        return
    raise LastAdmin(f"{user.email} is the last active admin: make another account an admin "
                    "first, or no one could manage accounts any more")


class UsersMixin:
    engine: Engine

    def add_user(self, email: str, role: str, password_hash: str, now: datetime) -> User:
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        address = normalize_email(email)
        if self.find_login_user(address) is not None:
            raise StoreError(f"there is already a user {address}")
        try:
            with self.engine.begin() as conn:
                conn.execute(t_users.insert().values(
                    email=address, role=role, password_hash=password_hash, failed_logins=0,
                    disabled=False, created_at=now))
        except IntegrityError:
            raise StoreError(f"there is already a user {address}") from None
        return self.get_user(address)

    def set_user(self, email: str, *, role: str | None = None,
                 password_hash: str | None = None, disabled: bool | None = None) -> User:
        user = self.get_user(email)
        values: dict[str, Any] = {}
        if role is not None:
            if role not in ROLES:
                raise StoreError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
            values["role"] = role
        if password_hash is not None:
            values.update(password_hash=password_hash, failed_logins=0, locked_until=None)
        if disabled is not None:
            values["disabled"] = disabled
        with self.engine.begin() as conn:
            if (role is not None and role != "admin") or disabled:
                _keep_an_admin(conn, user)
            if values:
                conn.execute(update(t_users).where(t_users.c.id == user.id).values(**values))
            if password_hash is not None or disabled or role is not None:
                # A new password, a new role or a disabled account ends every session.
                conn.execute(delete(t_sessions).where(t_sessions.c.user_id == user.id))
            if password_hash is not None:  # and unlocks the account
                conn.execute(delete(t_logins).where(
                    t_logins.c.address == login_key(user.email)))
                # A reset link made before the change must not undo it (nor a disable).
            if password_hash is not None or disabled:
                conn.execute(delete(t_links).where(
                    t_links.c.user_id == user.id, t_links.c.purpose == "reset",
                    t_links.c.used_at.is_(None)))
        return self.get_user(email)

    def get_user(self, email: str) -> User:
        address = normalize_email(email)
        with self.engine.connect() as conn:
            row = conn.execute(select(t_users).where(t_users.c.email == address))\
                .mappings().first()
        if row is None:
            raise StoreError(f"no user {address}")
        return User.from_mapping(row)

    def find_user(self, email: str) -> User | None:
        try:
            return self.get_user(email)
        except StoreError:
            return None

    def find_login_user(self, email: str) -> User | None:
        """The account for an address typed at sign-in, in any case (None: no account).
        Matched by SQL ``lower`` and then by casefold (SQLite's ``lower`` folds ASCII
        only, so an address whose non-ASCII letters differ in case is not found)."""
        key = login_key(email)
        if key != email.strip().casefold():
            return None  # control characters: no account has them
        with self.engine.connect() as conn:
            rows = conn.execute(select(t_users).where(
                func.lower(t_users.c.email) == email.strip().lower())).mappings().all()
        found = [User.from_mapping(r) for r in rows if login_key(r["email"]) == key]
        return found[0] if len(found) == 1 else None

    def get_user_by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t_users).where(t_users.c.id == user_id))\
                .mappings().first()
        return User.from_mapping(row) if row else None

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [User.from_mapping(r) for r in conn.execute(
                select(t_users).order_by(t_users.c.email)).mappings()]

    def remove_user(self, email: str) -> None:
        user = self.get_user(email)
        with self.engine.begin() as conn:
            _keep_an_admin(conn, user)
            conn.execute(delete(t_users).where(t_users.c.id == user.id))

    def count_users(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_users)).scalar_one())

    # -- sessions ---------------------------------------------------------------------------

    def start_session(self, user_id: int, now: datetime, expires_at: datetime) -> str:
        """A fresh session for a successful sign-in; returns the cookie token. The failure
        count (``login_attempts``) resets. A new token every time: a token planted before
        sign-in is worthless."""
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(t_sessions.insert().values(
                id=token_key(token), user_id=user_id, csrf=secrets.token_urlsafe(32),
                created_at=now, expires_at=expires_at))
            conn.execute(update(t_users).where(t_users.c.id == user_id).values(
                failed_logins=0, locked_until=None, last_login_at=now))
            email = conn.execute(select(t_users.c.email).where(t_users.c.id == user_id))\
                .scalar_one_or_none()
            if email is not None:  # the failures counted before a right password go
                conn.execute(delete(t_logins).where(t_logins.c.address == login_key(email)))
            conn.execute(delete(t_sessions).where(t_sessions.c.expires_at < now))
        return token

    def get_session(self, token: str, now: datetime) -> Session | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(
                t_users, t_sessions.c.id.label("session_id"), t_sessions.c.csrf,
                t_sessions.c.expires_at).join(
                t_sessions, t_users.c.id == t_sessions.c.user_id).where(
                t_sessions.c.id == token_key(token))).mappings().first()
        if row is None or row["expires_at"] <= now or row["disabled"]:
            return None
        return Session(row["session_id"], User.from_mapping(row), row["csrf"],
                       row["expires_at"])

    def end_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t_sessions).where(t_sessions.c.id == token_key(token)))
