"""A whole-request deadline, and a stop signal, under httpx: at the socket.

httpx's timeouts bound each network operation, not the request: a server that sends its
status line and headers one byte a second, each within the read timeout, holds a caller
for as long as it likes. And a thread blocked in ``recv`` cannot be told to stop, so a
worker that got SIGTERM waited for the slowest feed server before it could exit.

Here the network layer itself knows the limits of the request in hand. :func:`limits`
sets, for the calling thread, a deadline (connect, TLS, request, headers and body
together, redirects and the one retry included) and an optional stop event. The streams
of :class:`DeadlineTransport` read in slices of at most :data:`SLICE` seconds, and between
slices check both: past the deadline they raise :class:`DeadlinePassed`, once the event is
set :class:`Stopped`. Each read still honours httpx's own read timeout. Writes and the
TCP connect are bounded by the deadline but not sliced (a request is a few hundred bytes;
a connect waits at most the connect timeout, 10 s).

A client built on another transport (a test's MockTransport, a proxy from the
environment) does not see these limits; :mod:`bot.sources.fetch` also checks the deadline
between body chunks for them.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpcore
import httpx

#: The longest one blocking read lasts before the deadline and the stop event are checked.
SLICE = 0.25


class DeadlinePassed(Exception):
    """The request ran past its whole-request deadline."""


class Stopped(Exception):
    """The stop event was set while the request was under way."""


@dataclass(frozen=True)
class _Limits:
    deadline: float | None  # time.monotonic() value
    stop: threading.Event | None


_local = threading.local()


@contextmanager
def limits(seconds: float | None, stop: threading.Event | None = None) -> Iterator[None]:
    """Requests made by this thread inside the block end ``seconds`` from now at the latest,
    and soon after ``stop`` is set."""
    previous = getattr(_local, "limits", None)
    _local.limits = _Limits(time.monotonic() + seconds if seconds is not None else None, stop)
    try:
        yield
    finally:
        _local.limits = previous


def _current() -> _Limits | None:
    return getattr(_local, "limits", None)


def _check(lim: _Limits) -> None:
    if lim.stop is not None and lim.stop.is_set():
        raise Stopped()
    if lim.deadline is not None and time.monotonic() >= lim.deadline:
        raise DeadlinePassed()


def _bounded(timeout: float | None, lim: _Limits | None) -> float | None:
    """``timeout`` cut to what is left of the deadline (raising when nothing is left)."""
    if lim is None:
        return timeout
    _check(lim)
    if lim.deadline is None:
        return timeout
    left = max(0.001, lim.deadline - time.monotonic())
    return left if timeout is None else min(timeout, left)


def _sliced(op: typing.Callable[[float | None], typing.Any], timeout: float | None,
            timeout_error: type[Exception]) -> typing.Any:
    """Run a blocking socket operation in slices, checking the limits between them; a
    slice that times out is simply tried again (nothing was consumed), until the
    operation's own ``timeout`` is used up."""
    lim = _current()
    if lim is None or (lim.deadline is None and lim.stop is None):
        return op(timeout)
    started = time.monotonic()
    while True:
        allowed = _bounded(timeout, lim)
        if timeout is not None:
            spent = time.monotonic() - started
            if spent >= timeout:
                raise timeout_error("timed out")
            allowed = min(allowed if allowed is not None else timeout, timeout - spent)
        step = SLICE if allowed is None else min(SLICE, allowed)
        try:
            return op(step)
        except timeout_error:
            continue


class _Stream(httpcore.NetworkStream):
    """A socket stream whose reads are sliced and checked against the thread's limits."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return typing.cast(bytes, _sliced(lambda t: self._inner.read(max_bytes, t), timeout,
                                          httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, _current()))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        sock = self._inner.get_extra_info("socket")
        if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
            # TLS in TLS (an https proxy): the backend's own handshake, deadline-bounded.
            return _Stream(self._inner.start_tls(ssl_context, server_hostname,
                                                 _bounded(timeout, _current())))
        try:
            tls = ssl_context.wrap_socket(sock, server_hostname=server_hostname,
                                          do_handshake_on_connect=False)

            def handshake(step: float | None) -> None:
                tls.settimeout(step)
                try:
                    tls.do_handshake()
                except TimeoutError:
                    raise httpcore.ConnectTimeout("TLS handshake timed out") from None

            _sliced(handshake, timeout, httpcore.ConnectTimeout)
        except (httpcore.ConnectTimeout, DeadlinePassed, Stopped):
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(_wrap(tls))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _wrap(sock: socket.socket) -> httpcore.NetworkStream:
    """httpcore's own stream over an already connected (TLS) socket."""
    from httpcore._backends.sync import SyncStream

    return SyncStream(sock)


class _Backend(httpcore.NetworkBackend):
    """httpcore's sync backend, with every stream wrapped in :class:`_Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None
                    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _bounded(timeout, _current()),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None
                            ) -> httpcore.NetworkStream:  # pragma: no cover - not used
        return _Stream(self._inner.connect_unix_socket(path, _bounded(timeout, _current()),
                                                       socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore retries only
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport (HTTP/1.1, certificates checked) on :class:`_Backend`."""

    def __init__(self) -> None:
        super().__init__()
        # httpx has no public way to choose httpcore's network backend: the pool it made
        # is replaced by the same pool on ours (tests/test_fetch.py covers this).
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                              keepalive_expiry=5.0)  # httpx's defaults
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_Backend(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry)
