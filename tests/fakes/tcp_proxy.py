"""A loopback TCP proxy that can play a server restart, for database fault tests.

``TcpProxy(upstream_port).start()`` listens on 127.0.0.1 at a port the system picks and
copies bytes both ways to ``127.0.0.1:upstream_port`` (PostgreSQL, in the tests). Then:

* ``restart(down_for)``: what clients see when the server restarts: every open
  connection is cut (a TCP reset), and for ``down_for`` seconds new connections are
  refused (the listening socket is closed), then it listens again on the same port;
* ``drop_all()``: only the cut, the listener stays;
* ``accepted``: how many connections clients opened through it.

Only the proxy's own connections are touched: the real server, and everyone else's
sessions on it, never notice.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

_LINGER_RESET = struct.pack("ii", 1, 0)  # close() sends RST rather than FIN


class TcpProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<upstream_port>, with scripted outages."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> Self:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self.drop_all()
        for t in self._threads:
            t.join(timeout=2)

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        self._listener = sock
        thread = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True,
                                  name="tcp-proxy-accept")
        self._threads.append(thread)
        thread.start()

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()

    # -- faults ------------------------------------------------------------------------

    def drop_all(self) -> int:
        """Reset every connection open through the proxy; returns how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        return len(pairs)

    def restart(self, down_for: float) -> int:
        """Cut every connection and refuse new ones for ``down_for`` seconds."""
        self._close_listener()
        cut = self.drop_all()
        time.sleep(down_for)
        if not self._stopped.is_set():
            self._listen()
        return cut

    # -- plumbing ----------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed: a restart or a stop
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            ended: list[socket.socket] = []
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, pair, ended), daemon=True,
                                 name="tcp-proxy-pipe").start()

    def _pipe(self, src: socket.socket, dst: socket.socket,
              pair: tuple[socket.socket, socket.socket], ended: list[socket.socket]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with self._lock:
            ended.append(src)
            last = len(ended) == 2  # both directions are over: let the sockets go
            if last and pair in self._pairs:
                self._pairs.remove(pair)
        if last:
            for s in pair:
                s.close()


@contextmanager
def running_tcp_proxy(upstream_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(upstream_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
