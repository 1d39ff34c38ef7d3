"""A fake Microsoft Teams Workflows webhook on loopback (port 0) for tests.

``fake.url`` is shaped like a Power Automate "When a Teams webhook request is
received" trigger URL::

    http://127.0.0.1:PORT/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=secret

A POST there with a JSON body answers 202 with an empty body, as Workflows does (the
flow runs later; the answer says nothing about the card), and the parsed body is
appended to ``received``. A body that is not JSON gets 400; a wrong ``sig`` 401; any
other path 404; another HTTP method 405.

Scenarios, on ``fake.state`` (also ``fake.fail_next`` and ``fake.delay_seconds``):

* ``fail_next``: answers handed out, in order, to the next POSTs to the webhook path:
  a ``(status, json_body, headers)`` tuple (e.g. ``(429, {...}, {"Retry-After": "7"})``),
  or ``DROP`` (read the request, reset the connection, record nothing), or
  ``DROP_AFTER_PROCESSING`` (record the body, then reset without an answer);
* ``delay_seconds``: every request waits that long before it is answered.

``requests`` records (method, path, headers, raw body) of every request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes._loopback import (
    DROP,
    DROP_AFTER_PROCESSING,
    Failure,
    FaultScript,
    LoopbackHandler,
    LoopbackServer,
)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def throttled(retry_after: int = 7) -> Failure:
    """The answer a throttled workflow trigger gives."""
    return (429, {"error": {"code": "WorkflowTriggerIsThrottled",
                            "message": "The workflow trigger is being throttled."}},
            {"Retry-After": str(retry_after)})


def server_error(status: int = 500) -> Failure:
    return (status, {"error": {"code": "InternalServerError",
                               "message": "The server encountered an internal error."}}, {})


@dataclass
class TeamsWebhookState:
    path: str = "/workflows/abc/triggers/manual/paths/invoke"
    sig: str = "secret"
    received: list[Any] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    fail_next: list[Failure] = field(default_factory=list)
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class _Handler(LoopbackHandler):
    def _record(self) -> tuple[str, str, bytes]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        with self.server.state.lock:
            self.server.state.requests.append(
                (self.command, self.path, dict(self.headers.items()), raw))
        return parts.path, parts.query, raw

    def do_OPTIONS(self) -> None:
        """``config check --online``'s reachability request: a wrong ``sig`` gets 401, as a
        post would; otherwise 405 (no flow runs for anything but a POST)."""
        path, query, _raw = self._record()
        if path == self.server.state.path and parse_qs(query).get("sig") != [
                self.server.state.sig]:
            self.send_json(401, {"error": {"code": "DirectApiInvalidAuthorizationSignature",
                                       "message": "The provided signature is not valid."}})
            return
        self.send_json(405, {"error": {"code": "MethodNotAllowed",
                                   "message": "The method is not allowed."}})

    def do_POST(self) -> None:
        state = self.server.state
        path, query, raw = self._record()
        if state.delay_seconds:
            time.sleep(state.delay_seconds)
        if path != state.path:
            self.send_json(404, {"error": {"code": "NotFound", "message": "Not found."}})
            return
        if parse_qs(query).get("sig") != [state.sig]:
            self.send_json(401, {"error": {"code": "DirectApiInvalidAuthorizationSignature",
                                       "message": "The provided signature is not valid."}})
            return
        with state.lock:
            failure = state.fail_next.pop(0) if state.fail_next else None
        if failure == DROP:
            self.reset_connection()
            return
        if isinstance(failure, tuple):
            status, body, extra = failure
            self.send_json(status, body, extra)
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"code": "InvalidRequestContent",
                                       "message": "The request content is not valid JSON."}})
            return
        with state.lock:
            state.received.append(body)
        if failure == DROP_AFTER_PROCESSING:
            self.reset_connection()
            return
        self.send_json(202)

    def _not_allowed(self) -> None:
        self._record()
        self.send_json(405, {"error": {"code": "MethodNotAllowed", "message": "Use POST."}},
                   {"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = _not_allowed


class FakeTeamsWebhook(FaultScript, LoopbackServer):
    """A running loopback fake of a Teams Workflows webhook trigger."""

    state: TeamsWebhookState

    def __init__(self) -> None:
        super().__init__(_Handler, TeamsWebhookState())

    @property
    def base_url(self) -> str:
        return self.origin

    @property
    def url(self) -> str:
        """The webhook URL to post to (its ``sig`` is a secret, as in real ones)."""
        return (f"{self.base_url}{self.state.path}?api-version=2016-06-01"
                f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.state.sig}")

    @property
    def received(self) -> list[Any]:
        """The JSON bodies accepted (202, or DROP_AFTER_PROCESSING), in order."""
        return self.state.received

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Card contents of every accepted message, in order."""
        return [att.get("content") for body in self.state.received if isinstance(body, dict)
                for att in body.get("attachments") or []
                if isinstance(att, dict) and att.get("contentType") == ADAPTIVE_CARD]

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return self.state.requests


@contextmanager
def running_teams_webhook() -> Iterator[FakeTeamsWebhook]:
    server = FakeTeamsWebhook().start()
    try:
        yield server
    finally:
        server.stop()
