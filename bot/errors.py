"""Herald's exception tree.

::

    HeraldError
    ├── ConfigError(key, file)            bad or missing configuration
    ├── StoreError                        database problems
    │   ├── SchemaOutOfDate               the schema needs ``herald db upgrade``
    │   └── InvalidEdit                   a story edit Herald cannot keep (422, exit 2)
    ├── SourceError(url)                  a source could not be read
    │   ├── FetchError                    network, HTTP status, size, timeout
    │   ├── ParseError                    the body is not a feed we can read
    │   └── NotModified                   control flow: nothing new (304, same bytes)
    └── ChannelError(target)              a send did not go through
        ├── RateLimited(retry_after)      the target asked us to slow down
        ├── TransientSendError            worth another try later
        └── PermanentSendError            never retried (unknown channel, refused message)
            └── TargetAuthError           no or bad credentials: the *target* pauses

Every error has a default message and identifying attributes; ``str()`` joins them.
"""

from __future__ import annotations

from bot.urls import redact_url


class HeraldError(Exception):
    """Root of Herald's errors."""

    default_message = "Herald error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(HeraldError, ValueError):
    """The configuration is wrong; names the file and the key and what is allowed."""

    default_message = "invalid configuration"

    def __init__(self, message: str | None = None, *, key: str | None = None,
                 file: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.file = file

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.key:
            where.append(f"key '{self.key}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class StoreError(HeraldError):
    """The database could not do what was asked."""

    default_message = "database error"


class SchemaOutOfDate(StoreError):
    """The database schema is older than this version of Herald."""

    default_message = "the database schema is out of date: run `herald db upgrade`"


class InvalidEdit(StoreError, ValueError):
    """A value of a story edit that Herald cannot keep (a key date's time that is not one, an
    empty title); names the field. The API answers 422, the CLI exits 2."""

    default_message = "invalid edit"


class SourceError(HeraldError):
    """A source could not be read."""

    default_message = "source error"

    def __init__(self, message: str | None = None, *, url: str | None = None,
                 retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.retry_after = retry_after
        #: True when polling again cannot help until someone changes something (a bad
        #: token, a plan without access): the source backs off to its longest delay.
        self.permanent = permanent

    def __str__(self) -> str:
        if not self.url:
            return self.message
        return f"{self.message} ({redact_url(self.url)})"


class FetchError(SourceError):
    """The source could not be fetched (network, status, size, timeout)."""

    default_message = "could not fetch the source"


class ParseError(SourceError):
    """The body is not a feed Herald can read."""

    default_message = "not a feed Herald can read"


class NotModified(SourceError):
    """Nothing new at the source (HTTP 304, or the same bytes as last time)."""

    default_message = "not modified"


class ChannelError(HeraldError):
    """A send to a target did not go through."""

    default_message = "send failed"

    def __init__(self, message: str | None = None, *, target: str | None = None) -> None:
        super().__init__(message)
        self.target = target


class TransientSendError(ChannelError):
    """A failure worth another try later (5xx, timeout, connection reset)."""

    default_message = "temporary failure"


class RateLimited(TransientSendError):
    """The target asked us to slow down; ``retry_after`` is in seconds when known."""

    default_message = "rate limited"

    def __init__(self, message: str | None = None, *, target: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, target=target)
        self.retry_after = retry_after


class PermanentSendError(ChannelError):
    """A failure that another try cannot fix (bad token, unknown channel)."""

    default_message = "permanent failure"


class TargetAuthError(PermanentSendError):
    """The target has no credentials, or refused them (a missing or revoked token, a wrong
    SMTP password). No delivery to it can go through until someone fixes that, so the
    target pauses instead of each delivery dying on its first try."""

    default_message = "the target refused Herald's credentials"
