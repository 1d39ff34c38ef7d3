"""What every loopback HTTP fake shares: a threading server on 127.0.0.1, port 0, that
runs in a daemon thread, stays quiet when a client hangs up early (the tests provoke
that), and stops fast."""

from __future__ import annotations

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
    state: Any

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


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
