"""Email out: SMTP for real, or ``.eml`` + ``.html`` files on the embedded default.

``SMTP_URL`` (the variable ``[digest] smtp_env`` names) picks the server::

    smtp://user:password@smtp.example.org:587     STARTTLS (required), then login
    smtps://user:password@smtp.example.org:465    TLS from the start
    smtp://relay.internal:25?starttls=off         a trusted relay without TLS

One connection serves a whole batch; a refusal for one recipient is reported for
that message and the batch goes on. So is an address the server cannot take: one
with a non-ASCII local part (``zoë@example.org``) needs the server's SMTPUTF8
extension, and without it that message fails (``AddressNotSupported``) before
anything is sent. A login the server refuses (535 and the like) raises
:class:`SmtpLoginRefused`, a ``TargetAuthError``: the email target (``digest``) pauses
(:mod:`bot.pause`) rather than failing each message. Without ``SMTP_URL`` the messages are
written under ``var/outbox/digest/`` as ``.eml`` (the whole message) and ``.html`` (open
it in a browser to look at the digest).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from bot.errors import ConfigError, PermanentSendError, TargetAuthError, TransientSendError
from channels._files import atomic_write, sweep_stale


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str  # "starttls", "ssl" or "off"
    username: str | None
    password: str | None

    def redacted(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        scheme = "smtps" if self.tls == "ssl" else "smtp"
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read an ``smtp://`` or ``smtps://`` URL; ConfigError says what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("SMTP_URL is not a URL such as smtp://user:pass@host:587",
                          key="SMTP_URL") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("SMTP_URL must start with smtp:// or smtps:// and name a host",
                          key="SMTP_URL")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    starttls = query.get("starttls", "required").lower()
    if starttls not in ("required", "off"):
        raise ConfigError("starttls may be 'required' (the default) or 'off'", key="SMTP_URL")
    tls = "ssl" if parts.scheme == "smtps" else ("starttls" if starttls == "required" else "off")
    return SmtpSettings(host=parts.hostname, port=port or (465 if tls == "ssl" else 587),
                        tls=tls, username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None)


class SmtpConnectionError(TransientSendError):
    """The server could not be reached, or refused us before any message (TLS, login).

    Not the recipient's fault: a batch stops at once and gives its messages back, to be
    tried when the connection works again, rather than failing every recipient in turn.
    """


#: Replies that refuse Herald's login or ask for one (authentication required, mechanism
#: too weak, credentials invalid), wherever they come.
AUTH_CODES = frozenset({530, 534, 535})


class SmtpLoginRefused(TargetAuthError):
    """The server refused Herald's login (535 and the like): no message can go until the
    password in ``SMTP_URL`` is fixed, so the email target pauses (``bot.pause``)."""


class AddressNotSupported(PermanentSendError):
    """The message names an address this server cannot take (no SMTPUTF8)."""


def international_addresses(message: EmailMessage) -> list[str]:
    """The addresses in From, To, Cc and Bcc that are not ASCII (they need SMTPUTF8)."""
    fields = [str(v) for k in ("From", "To", "Cc", "Bcc") for v in message.get_all(k, [])]
    return [addr for _name, addr in getaddresses(fields) if not addr.isascii()]


class SmtpSender:
    """Sends a batch of messages over one SMTP connection."""

    def __init__(self, settings: SmtpSettings, *, ca_file: str | None = None,
                 timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file)
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout,
                                                      context=self.context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
                smtp.ehlo()
                if s.tls == "starttls":
                    if not smtp.has_extn("starttls"):
                        smtp.quit()
                        raise SmtpConnectionError(f"{s.redacted()} does not offer STARTTLS; "
                                                  "use smtps:// or add ?starttls=off for a "
                                                  "trusted relay")
                    smtp.starttls(context=self.context)
                    smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.close()
            raise SmtpLoginRefused(f"SMTP login refused by {s.redacted()}: "
                                   f"{exc.smtp_code}", target="digest") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpConnectionError(f"cannot reach {s.redacted()}: {type(exc).__name__}: "
                                     f"{exc}") from None
        return smtp

    def login(self) -> None:
        """Connect (with TLS as configured), log in and hang up, sending nothing (``herald
        config check --online``); SmtpConnectionError says what failed."""
        smtp = self._connect()
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()

    def send(self, message: EmailMessage) -> str:
        """Send one message; PermanentSendError (5xx) or TransientSendError (4xx, network)."""
        if self._smtp is None:
            self._smtp = self._connect()
        wide = international_addresses(message)
        if wide and not self._smtp.has_extn("smtputf8"):
            raise AddressNotSupported(
                f"{self.settings.redacted()} does not offer SMTPUTF8, which "
                f"{', '.join(wide)} needs (a non-ASCII address)")
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise self._classify(code, text) from None
        except smtplib.SMTPResponseException as exc:
            raise self._classify(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._smtp = None
            raise TransientSendError(f"SMTP connection lost: {exc}") from None
        except (smtplib.SMTPNotSupportedError, UnicodeError) as exc:
            # Before any byte of the message was sent: this message alone cannot go.
            raise AddressNotSupported(f"cannot send this message: {exc}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise self._classify(code, text)
        return str(message["Message-ID"])

    @staticmethod
    def _classify(code: int, text: bytes | str) -> Exception:
        detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        message = f"SMTP {code} {detail}".strip()
        if code in AUTH_CODES:  # the server wants a login it has not had: not this message
            return SmtpLoginRefused(message, target="digest")
        return PermanentSendError(message) if 500 <= code < 600 else TransientSendError(message)

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


class FileSender:
    """Writes each message as ``.eml`` and its HTML part as ``.html`` (embedded default):
    both, or (on a disk error, such as a full disk) neither, and the send fails."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._swept = False

    def __enter__(self) -> FileSender:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: EmailMessage, name: str | None = None) -> str:
        stem = name or str(message["Message-ID"]).strip("<>").replace("@", "_at_")
        html = message.get_body(("html",))
        written: list[Path] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not self._swept:
                sweep_stale(self.folder)  # what a killed writer left half-written
                self._swept = True
            for path, data in ((self.folder / f"{stem}.eml", message.as_bytes()),
                               (self.folder / f"{stem}.html", html.get_content().encode(
                                   "utf-8") if html is not None else None)):
                if data is not None:
                    atomic_write(path, data)
                    written.append(path)
        except OSError as exc:
            # Both files or neither: an .eml without its .html (a full disk between the
            # two) would look sent to anyone reading the folder.
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise TransientSendError(f"cannot write to {self.folder}: {exc.strerror}") from exc
        return str(message["Message-ID"])

    def close(self) -> None:
        return None
