"""A feed server on loopback (port 0) for tests: real HTTP, scenarios picked by path.

``server.add(path, body, content_type)`` serves a body with an ETag and
Last-Modified, answering 304 to a matching conditional GET (unless
``ignore_conditional`` is set, like many real servers). Fixed scenario paths:

* ``/status/<code>``: that status (503 and 429 carry ``Retry-After: 120``);
* ``/slow``: waits ``slow_seconds`` before answering;
* ``/drip``: sends a valid feed one byte every 0.2 s;
* ``/slow-headers``: sends its status line and headers one byte every
  ``header_byte_seconds``, padded with ``header_padding`` bytes, then a valid feed (the
  headers of a trickling server: each byte well within any read timeout);
* ``/redirect/<path>``: 302 to ``/<path>``; ``/redirect-to?url=U``: 302 to ``U``;
  ``/loop``: redirects to itself;
* ``/big``: a body of ``big_bytes`` bytes;
* ``/gzip-bomb``: a small gzip body that inflates past any cap;
* ``/reset``: closes the connection without an answer;
* ``/flaky/<path>``: the first request closes the connection without an answer, the
  ones after it are answered as ``/<path>``.

``server.requests`` records (method, path, headers) of every request.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate

from tests.fakes._loopback import LoopbackHandler, LoopbackServer


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str = ""
    last_modified: str = ""
    content_encoding: str = ""


@dataclass
class FeedServerState:
    resources: dict[str, Resource] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    ignore_conditional: bool = False
    slow_seconds: float = 5.0
    active: int = 0
    max_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    big_bytes: int = 12 * 1000 * 1000
    flaked: set[str] = field(default_factory=set)
    header_byte_seconds: float = 0.2
    header_padding: int = 40


@functools.lru_cache(maxsize=2)
def big_body(size: int) -> bytes:
    """The ``/big`` body, made once: a test that measures the client's memory can make it
    before it starts measuring, so the server's copy is not counted."""
    return b"<rss>" + b" " * size


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """The ``/gzip-bomb`` body (50 MB of spaces, gzipped to about 50 kB), made once."""
    return gzip.compress(b" " * (50 * 1000 * 1000), compresslevel=9)


class _Handler(LoopbackHandler):

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.active += 1
            state.max_active = max(state.max_active, state.active)
        try:
            self._get(state)
        finally:
            with state.lock:
                state.active -= 1

    def _get(self, state: FeedServerState) -> None:
        state.requests.append((self.command, self.path, dict(self.headers.items())))
        path = self.path.split("?", 1)[0]
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = {"Retry-After": "120"} if code in (429, 503) else {}
            self.send_bytes(code, b"error page", {"Content-Type": "text/plain", **headers})
        elif path == "/slow":
            time.sleep(state.slow_seconds)
            self.send_bytes(200, b"<rss version='2.0'><channel></channel></rss>")
        elif path == "/drip":
            body = b"<rss version='2.0'><channel><title>drip</title></channel></rss>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        elif path == "/slow-headers":
            self._trickle_headers(state)
        elif path == "/redirect-to":
            from urllib.parse import parse_qs, urlsplit

            target = parse_qs(urlsplit(self.path).query).get("url", ["/"])[0]
            self.send_bytes(302, b"", {"Location": target})
        elif path.startswith("/redirect/"):
            self.send_bytes(302, b"", {"Location": "/" + path[len("/redirect/"):]})
        elif path == "/loop":
            self.send_bytes(302, b"", {"Location": "/loop"})
        elif path == "/big":
            self.send_bytes(200, big_body(state.big_bytes),
                            {"Content-Type": "application/rss+xml"})
        elif path == "/gzip-bomb":
            self.send_bytes(200, gzip_bomb(), {"Content-Type": "application/rss+xml",
                                               "Content-Encoding": "gzip"})
        elif path == "/reset":
            self.reset_connection()
        elif path.startswith("/flaky/") and path not in state.flaked:
            state.flaked.add(path)
            self.reset_connection()
        elif path.startswith("/flaky/"):
            self._serve(state, path[len("/flaky"):])
        else:
            self._serve(state, path)

    def _trickle_headers(self, state: FeedServerState) -> None:
        body = (b"<rss version='2.0'><channel><title>slow headers</title><item>"
                b"<title>Late news from a slow server</title><guid>slow-1</guid></item>"
                b"</channel></rss>")
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                b"X-Padding: " + b"p" * state.header_padding + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        self.close_connection = True
        try:
            for byte in head:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(state.header_byte_seconds)
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            pass  # the client gave up

    def _serve(self, state: FeedServerState, path: str) -> None:
        if path in state.resources:
            res = state.resources[path]
            if not state.ignore_conditional and (
                    (res.etag and self.headers.get("If-None-Match") == res.etag)
                    or (not self.headers.get("If-None-Match") and res.last_modified
                        and self.headers.get("If-Modified-Since") == res.last_modified)):
                self.send_bytes(304, b"", {"ETag": res.etag})
                return
            headers = {"Content-Type": res.content_type, "ETag": res.etag,
                       "Last-Modified": res.last_modified}
            if res.content_encoding:
                headers["Content-Encoding"] = res.content_encoding
            self.send_bytes(200, res.body, headers)
        else:
            self.send_bytes(404, b"not found", {"Content-Type": "text/plain"})


class FeedServer(LoopbackServer):
    """A running loopback feed server."""

    state: FeedServerState

    def __init__(self) -> None:
        super().__init__(_Handler, FeedServerState())

    @property
    def base_url(self) -> str:
        return self.origin

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, body: bytes, content_type: str = "application/rss+xml; "
            "charset=utf-8", content_encoding: str = "") -> str:
        """Serve ``body`` at ``path`` (replacing what was there); returns its URL. With
        ``content_encoding``, the body is sent as given, with that header."""
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        self.state.resources[path] = Resource(body, content_type, etag,
                                              formatdate(time.time(), usegmt=True),
                                              content_encoding)
        return self.url(path)

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        return self.state.requests

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _ in self.state.requests if p.split("?")[0] == path)


@contextmanager
def running_feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
