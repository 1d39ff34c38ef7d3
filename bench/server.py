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
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from bench.corpus import Feed

LAST_MODIFIED = formatdate(1_788_000_000, usegmt=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, feeds: Iterable[Feed]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.feeds = {f.path: (f.body, f.content_type,
                               '"' + hashlib.sha1(f.body).hexdigest()[:20] + '"')
                      for f in feeds}
        self.conditional = True
        self.counts = {"200": 0, "304": 0}
        self.lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early is no news here


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        server = self.server
        if parts.path == "/_bench/mode":
            server.conditional = parse_qs(parts.query).get("conditional", ["1"])[0] == "1"
            with server.lock:
                server.counts = {"200": 0, "304": 0}
            self._send(200, b"ok", {"Content-Type": "text/plain"})
            return
        if parts.path == "/_bench/stats":
            self._send(200, json.dumps(server.counts).encode(),
                       {"Content-Type": "application/json"})
            return
        found = server.feeds.get(parts.path)
        if found is None:
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        body, content_type, etag = found
        if server.conditional and (
                self.headers.get("If-None-Match") == etag
                or (self.headers.get("If-None-Match") is None
                    and self.headers.get("If-Modified-Since") == LAST_MODIFIED)):
            with server.lock:
                server.counts["304"] += 1
            self._send(304, b"", {"ETag": etag, "Last-Modified": LAST_MODIFIED})
            return
        with server.lock:
            server.counts["200"] += 1
        self._send(200, body, {"Content-Type": content_type, "ETag": etag,
                               "Last-Modified": LAST_MODIFIED})


class FeedServer:
    """A running feed server in a daemon thread of this process."""

    def __init__(self, feeds: Iterable[Feed]) -> None:
        self._server = _Server(feeds)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def urls(self) -> list[str]:
        return [self.origin + path for path in sorted(self._server.feeds)]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
