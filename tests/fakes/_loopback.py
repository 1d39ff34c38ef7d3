"""What every loopback HTTP fake shares: a threading server on 127.0.0.1, port 0, that
runs in a daemon thread, stays quiet when a client hangs up early (the tests provoke
that), and stops fast."""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

#: Scripted answers a fake gives its next calls (see ``FaultScript``): a
#: ``(status, json body, headers)`` answer, or one of these two connection faults.
DROP = "DROP"  # read the request, then reset the connection without answering
DROP_AFTER_PROCESSING = "DROP_AFTER_PROCESSING"  # act on the request, then reset
Failure = tuple[int, dict[str, Any], dict[str, str]] | str


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    #: Room for a burst of connections (the benchmark reads with several threads).
    request_queue_size = 128
    state: Any

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, silent, with the answers every fake gives: bytes, JSON, or a reset."""

    server: QuietServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_bytes(self, status: int, body: bytes = b"",
                   headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, body: Any = None,
                  headers: dict[str, str] | None = None) -> None:
        """A JSON answer; ``body`` None sends an empty one (as a 202 from Teams)."""
        if body is None:
            self.send_bytes(status, b"", headers)
            return
        self.send_bytes(status, json.dumps(body).encode(),
                        {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def reset_connection(self) -> None:
        """Close the connection with a TCP reset, without an answer."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   b"\x01\x00\x00\x00\x00\x00\x00\x00")
        # rfile holds a reference to the socket; without closing it, close() is
        # deferred and the client waits for its timeout instead of seeing a reset.
        self.rfile.close()
        self.connection.close()


class LoopbackServer:
    """A fake's server and thread; subclasses add the fake's own API over ``state``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], state: Any) -> None:
        self.state = state
        self._server = QuietServer(("127.0.0.1", 0), handler)
        self._server.state = state
        # A short poll interval so that stop() does not wait half a second per test.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FaultScript:
    """The scripted-faults API shared by fakes whose state has ``fail_next`` (answers for
    the next calls, used up in order) and ``delay_seconds`` (a slow server)."""

    state: Any

    @property
    def fail_next(self) -> list[Failure]:
        return self.state.fail_next  # type: ignore[no-any-return]

    @property
    def delay_seconds(self) -> float:
        return self.state.delay_seconds  # type: ignore[no-any-return]

    @delay_seconds.setter
    def delay_seconds(self, value: float) -> None:
        self.state.delay_seconds = value
