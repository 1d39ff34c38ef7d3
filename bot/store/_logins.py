"""Failed sign-ins per address, counted in the database so that every web process counts
together (``login_attempts``).

An address is casefolded before it is counted, and an address with no account is counted
exactly like one with an account, so neither the case of the letters nor a lock tells
anyone which addresses have accounts.

A sign-in *reserves* its attempt before its password is checked: one compare-and-set
``UPDATE`` counts it as failed and, once the count calls for a wait or a lock, sets
``locked_until`` in the same statement. A request that finds the address locked is
refused before any password is checked, so parallel requests cannot all be verified: at
most as many as the policy allows before the lock get that far. A sign-in that turns out
right clears the row (``clear_login``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Engine

from bot.errors import StoreError
from bot.store._common import insert_ignore
from bot.store.schema import login_attempts as t_logins

#: How many times a reservation is tried again when another request changed the row
#: between reading it and writing it (each round, some request wins).
CAS_ROUNDS = 1000


def login_key(address: str) -> str:
    """The key an address is counted under: without control characters (no database
    takes a NUL), stripped, casefolded, at most 320 characters."""
    return "".join(ch for ch in address if ch >= " " and ch != "\x7f").strip().casefold()[:320]


@dataclass(frozen=True)
class LoginState:
    address: str
    failures: int
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    locked_until: datetime | None


class LoginsMixin:
    engine: Engine

    def reserve_login(self, address: str, now: datetime,
                      wait_after: Callable[[int], timedelta | None]) -> datetime | None:
        """Count a sign-in for ``address`` as failed before its password is checked.

        Returns None when the password may be checked now, or the end of the lock (and
        counts nothing) when the address is locked. ``wait_after(n)`` is the policy: how
        long the address waits after its ``n``-th failure in a row (None: not at all)."""
        key = login_key(address)
        c = t_logins.c
        for _ in range(CAS_ROUNDS):
            with self.engine.begin() as conn:
                row = conn.execute(select(t_logins).where(c.address == key)).first()
                if row is None:
                    insert_ignore(conn, t_logins, [{"address": key, "failures": 0}],
                                  ["address"])
                    continue
                if row.locked_until is not None and row.locked_until > now:
                    return row.locked_until
                failures = row.failures + 1
                wait = wait_after(failures)
                done = conn.execute(update(t_logins).where(
                    c.address == key, c.failures == row.failures,
                    or_(c.locked_until.is_(None), c.locked_until <= now)).values(
                    failures=failures, first_failed_at=func.coalesce(c.first_failed_at, now),
                    last_failed_at=now, locked_until=now + wait if wait else None))
                if done.rowcount == 1:
                    return None
        raise StoreError("too many sign-ins at once for one address; try again")

    def clear_login(self, address: str) -> None:
        """A right password: forget the failures counted for ``address``."""
        with self.engine.begin() as conn:
            conn.execute(delete(t_logins).where(t_logins.c.address == login_key(address)))

    def login_state(self, address: str) -> LoginState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t_logins).where(
                t_logins.c.address == login_key(address))).mappings().first()
        if row is None:
            return None
        return LoginState(row["address"], row["failures"], row["first_failed_at"],
                          row["last_failed_at"], row["locked_until"])

    def forget_old_logins(self, now: datetime, idle: timedelta) -> int:
        """Drop the counts of addresses not locked now whose last failure is older than
        ``idle`` (the table stays small however many addresses are tried)."""
        c = t_logins.c
        with self.engine.begin() as conn:
            done = conn.execute(delete(t_logins).where(and_(
                or_(c.last_failed_at.is_(None), c.last_failed_at < now - idle),
                or_(c.locked_until.is_(None), c.locked_until <= now))))
            return int(done.rowcount or 0)
