"""Staff passwords, hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import HeraldError

MIN_LENGTH = 12
_HASHER = PasswordHasher()
# Checked against when the account does not exist, so an unknown address costs the same
# time as a wrong password and the timing does not tell which addresses have accounts.
_DUMMY = _HASHER.hash("not a password of anyone's")


class WeakPassword(HeraldError):
    default_message = "password too weak"


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; ``stored_hash`` None checks a dummy (same cost)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
