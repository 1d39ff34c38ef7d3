"""Signed tokens for subscriber links (itsdangerous).

The signing key comes from ``HERALD_SECRET_KEY``; without it, Herald makes a random
key once and keeps it in ``var/secret.key`` (mode 0600), so the embedded default
works with no setup and links stay valid across restarts. Unsubscribe tokens do
not expire (an old digest's link must still work, RFC 8058); tokens for other
purposes carry their own ``max_age``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from bot.clock import Clock, SystemClock
from bot.errors import HeraldError


class TokenError(HeraldError):
    """A token that is forged, for another purpose, or expired."""

    default_message = "invalid or expired link"


def secret_key(environ: Mapping[str, str], var_dir: Path) -> str:
    """The signing key: the environment's, or one kept under var/."""
    key = environ.get("HERALD_SECRET_KEY")
    if key:
        return key
    path = var_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _timestamp_signer(clock: Clock) -> type[TimestampSigner]:
    """itsdangerous's timestamp signer, reading Herald's clock instead of time.time(), so
    a token's age is measured on the same clock as everything else (and tests can pin it)."""

    class _ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return _ClockSigner


class Signer:
    """Signs and checks small payloads for one purpose each (the salt)."""

    def __init__(self, key: str, clock: Clock | None = None) -> None:
        self._key = key
        self._signer = _timestamp_signer(clock or SystemClock())

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._key, salt=f"herald.{purpose}", signer=self._signer)

    def sign(self, purpose: str, value: object) -> str:
        return self._serializer(purpose).dumps(value)

    def check(self, purpose: str, token: str, max_age: int | None = None) -> object:
        return self.check_issued(purpose, token, max_age)[0]

    def check_issued(self, purpose: str, token: str,
                     max_age: int | None = None) -> tuple[object, datetime]:
        """The payload and when the token was signed (UTC)."""
        try:
            value, issued = self._serializer(purpose).loads(token, max_age=max_age,
                                                            return_timestamp=True)
        except SignatureExpired:
            raise TokenError("this link has expired") from None
        except BadSignature:
            raise TokenError("this link is not valid") from None
        return value, issued.astimezone(UTC)
