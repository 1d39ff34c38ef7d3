"""A real SMTP server on loopback for tests (aiosmtpd), spoken to by the real smtplib.

``running_smtp_server()`` starts one on 127.0.0.1 at a port the system picks and
yields a :class:`FakeSmtp`:

* ``messages``: every accepted message as a :class:`Received` (envelope sender and
  recipients, the raw bytes of the message, whether the session was under TLS and
  who logged in), in the order they arrived;
* ``connections``: how many SMTP connections (sessions) clients opened;
* ``reject``: address (lower case) → reply for RCPT TO, e.g.
  ``fake.reject["x@example.org"] = "550 5.1.1 no such user"``; change it at any time;
* ``logins``: the user names that logged in (AUTH LOGIN or PLAIN);
* ``fail_data``: faults for the next DATA commands, used up in order, in the words of
  the HTTP fakes: ``DROP`` (reset the connection before accepting the message) or
  ``DROP_AFTER_PROCESSING`` (accept it, then reset before the reply: the client cannot
  tell that it went through).

Options: ``tls_context`` offers STARTTLS with that server context, ``require_starttls``
refuses everything but EHLO/STARTTLS/QUIT before it, ``implicit_tls`` (a server context)
speaks TLS from the first byte (``smtps://``), and ``users`` (name → password) turns on
AUTH LOGIN and PLAIN (only offered under TLS), and ``smtputf8`` (on by default, as in
aiosmtpd's controller) says whether EHLO offers SMTPUTF8, which non-ASCII addresses
need. Start and
stop are bounded: start gives up after a few seconds and stop joins the server thread
with a timeout.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
NO_SUCH_USER = "550 5.1.1 no such user"
MAILBOX_BUSY = "450 4.2.1 mailbox busy, try again later"


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    tls: bool
    login: str | None

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class FakeSmtp:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    fail_data: list[str] = field(default_factory=list)
    _connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def url(self, scheme: str = "smtp", *, user: str | None = None,
            password: str | None = None, query: str = "") -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"{scheme}://{auth}{self.host}:{self.port}" + (f"?{query}" if query else "")

    def to(self, address: str) -> list[Received]:
        """The messages whose envelope names ``address``."""
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    def count_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def reset_connections(self) -> None:
        with self._lock:
            self._connections = 0

    # -- aiosmtpd handler hooks -------------------------------------------------------------

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        refusal = self.reject.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login.decode() if isinstance(
            session.auth_data, LoginPassword) else None
        with self._lock:
            fault = self.fail_data.pop(0) if self.fail_data else None
            if fault != "DROP":
                self.messages.append(Received(str(envelope.mail_from),
                                              tuple(envelope.rcpt_tos), raw, tls, login))
        if fault is not None and transport is not None:
            transport.abort()  # a reset: no reply ever reaches the client
            return "421 4.4.2 connection dropped"
        return "250 2.0.0 accepted"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        if (isinstance(auth_data, LoginPassword)
                and self.users.get(auth_data.login.decode()) == auth_data.password.decode()):
            with self._lock:
                self.logins.append(auth_data.login.decode())
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


class _Controller(Controller):
    """aiosmtpd's threaded controller with port 0, a connection count and a bounded stop."""

    def __init__(self, fake: FakeSmtp, **kwargs: Any) -> None:
        super().__init__(fake, hostname=fake.host, port=0, ready_timeout=START_TIMEOUT,
                         **kwargs)
        self.fake = fake

    def factory(self) -> SMTP:
        # asyncio calls the protocol factory once per accepted connection.
        self.fake.count_connection()
        return super().factory()

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.fake.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def stop(self, no_assert: bool = False) -> None:
        thread = self._thread
        if thread is None:
            return
        self.loop.call_soon_threadsafe(self.cancel_tasks)
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"the fake SMTP server did not stop within {STOP_TIMEOUT}s")
        self._thread = None
        self._cleanup()


@contextmanager
def running_smtp_server(*, tls_context: ssl.SSLContext | None = None,
                        require_starttls: bool = False,
                        implicit_tls: ssl.SSLContext | None = None,
                        users: dict[str, str] | None = None,
                        smtputf8: bool = True) -> Iterator[FakeSmtp]:
    fake = FakeSmtp(users=dict(users or {}))
    kwargs: dict[str, Any] = {"timeout": 30, "enable_SMTPUTF8": smtputf8}
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
    if users:
        # aiosmtpd only counts STARTTLS as TLS; with implicit TLS every byte is encrypted.
        kwargs.update(authenticator=fake.authenticate, auth_require_tls=implicit_tls is None)
    controller = _Controller(fake, **kwargs)
    controller.start()
    fake.reset_connections()  # start() opened one connection to check the server answers
    try:
        yield fake
    finally:
        controller.stop()
