"""The loopback feed server of the benchmarks: a threaded ``http.server`` on 127.0.0.1.

Every feed has a strong ETag and a Last-Modified date. With ``conditional`` on (the
default) a matching ``If-None-Match`` / ``If-Modified-Since`` gets 304; with it off the
server behaves like the many real ones that ignore conditional GET and sends 200 with
the same bytes. The benchmark runs in another process than the server, so it switches
the mode with ``GET /_bench/mode?conditional=0`` (or ``=1``); ``GET /_bench/stats``
gives the counts of 200 and 304 answers since the last switch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

from bench.corpus import Feed
from tests.fakes._loopback import LoopbackHandler, LoopbackServer

LAST_MODIFIED = formatdate(1_788_000_000, usegmt=True)


@dataclass
class _State:
    #: path -> (body, content type, ETag)
    feeds: dict[str, tuple[bytes, str, str]]
    conditional: bool = True
    counts: dict[str, int] = field(default_factory=lambda: {"200": 0, "304": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(LoopbackHandler):

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        state: _State = self.server.state
        if parts.path == "/_bench/mode":
            state.conditional = parse_qs(parts.query).get("conditional", ["1"])[0] == "1"
            with state.lock:
                state.counts = {"200": 0, "304": 0}
            self.send_bytes(200, b"ok", {"Content-Type": "text/plain"})
            return
        if parts.path == "/_bench/stats":
            self.send_bytes(200, json.dumps(state.counts).encode(),
                            {"Content-Type": "application/json"})
            return
        found = state.feeds.get(parts.path)
        if found is None:
            self.send_bytes(404, b"not found", {"Content-Type": "text/plain"})
            return
        body, content_type, etag = found
        if state.conditional and (
                self.headers.get("If-None-Match") == etag
                or (self.headers.get("If-None-Match") is None
                    and self.headers.get("If-Modified-Since") == LAST_MODIFIED)):
            with state.lock:
                state.counts["304"] += 1
            self.send_bytes(304, b"", {"ETag": etag, "Last-Modified": LAST_MODIFIED})
            return
        with state.lock:
            state.counts["200"] += 1
        self.send_bytes(200, body, {"Content-Type": content_type, "ETag": etag,
                                    "Last-Modified": LAST_MODIFIED})


class FeedServer(LoopbackServer):
    """A running feed server in a daemon thread of this process (the tests' loopback
    server, with the benchmark's feeds and mode switch)."""

    state: _State

    def __init__(self, feeds: Iterable[Feed]) -> None:
        super().__init__(_Handler, _State({
            f.path: (f.body, f.content_type,
                     '"' + hashlib.sha1(f.body).hexdigest()[:20] + '"') for f in feeds}))

    def urls(self) -> list[str]:
        return [self.origin + path for path in sorted(self.state.feeds)]
