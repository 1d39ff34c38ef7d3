"""Read a source's bytes: over http(s) with httpx and conditional GET, or from a local path.

A 304, or a body whose hash equals the last one, raises :class:`NotModified`, so the
caller does no parsing and no writes. Errors become :class:`FetchError` with the
reason and, where the server sent one, ``retry_after``. Bodies are read in
chunks and refused past ``max_body`` bytes, decompressed size included.

A fetch has a whole-request deadline (``[http] deadline``): connect, headers and body
together, across redirects and the one retry, however slowly a server sends. The client
of :func:`make_client` enforces it at the socket (:mod:`bot.sources.deadline`), where it
also stops reading within a fraction of a second of its ``stop`` event being set.

Herald inflates gzip and deflate bodies itself, at most 64 kB at a time, rather than
letting httpx do it: httpx inflates each network chunk whole, so a 50 kB chunk of a
gzip bomb became 50 MB in memory before any limit could be checked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from bot.errors import FetchError, NotModified
from bot.sources.deadline import DeadlinePassed, DeadlineTransport, Stopped, limits
from bot.sources.guard import UrlGuard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validators:
    """What we remember of the last fetch, to ask only for changes."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A body that changed since last time."""

    body: bytes
    content_type: str | None
    final_url: str
    validators: Validators
    headers: dict[str, str]


def is_remote(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def local_path(location: str, base_dir: Path | None = None) -> Path:
    """A filesystem path from a path or file:// URL, relative to ``base_dir``."""
    if location.lower().startswith("file://"):
        path = Path(unquote(urlsplit(location).path))
    else:
        path = Path(location).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def fetch(location: str, *, client: httpx.Client | None, validators: Validators,
          max_body: int, base_dir: Path | None = None) -> Fetched:
    """Fetch a source; raise NotModified when nothing changed, FetchError on failure."""
    if is_remote(location):
        if client is None:
            raise FetchError("no HTTP client configured", url=location)
        return _fetch_http(location, client, validators, max_body)
    return _fetch_local(local_path(location, base_dir), location, validators, max_body)


def _fetch_local(path: Path, location: str, validators: Validators, max_body: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_body:
            raise FetchError(f"file is {size} bytes, over the {max_body}-byte limit",
                             url=location)
        body = path.read_bytes()
    except FileNotFoundError:
        raise FetchError("no such file", url=str(path)) from None
    except IsADirectoryError:
        raise FetchError("is a folder, not a feed file", url=str(path)) from None
    except OSError as exc:
        raise FetchError(f"cannot read the file: {exc.strerror}", url=str(path)) from None
    digest = body_hash(body)
    if digest == validators.body_hash:
        raise NotModified("same bytes as last time", url=location)
    return Fetched(body, None, location, Validators(body_hash=digest), {})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


#: The most one step of inflating may produce: memory per step, whatever the ratio.
INFLATE_STEP = 64 * 1024


class _Inflater:
    """Decodes a Content-Encoding in bounded steps (identity, gzip or deflate)."""

    def __init__(self, encoding: str, url: str) -> None:
        self.url = url
        self.encoding = encoding
        self._raw_deflate_tried = False
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}", url=url)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in pieces of at most INFLATE_STEP."""
        if self._z is None:
            yield data
            return
        while data:
            try:
                out = self._z.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                if self.encoding == "deflate" and not self._raw_deflate_tried:
                    # "deflate" is often sent raw, without its zlib header (as httpx allows).
                    self._raw_deflate_tried = True
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError(f"could not decode the {self.encoding} body: {exc}",
                                 url=self.url) from None
            self._raw_deflate_tried = True
            data = self._z.unconsumed_tail
            if out:
                yield out
            elif not data:
                break


def _fetch_http(url: str, client: httpx.Client, validators: Validators,
                max_body: int) -> Fetched:
    headers = {"Accept-Encoding": "gzip, deflate",
               "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                         "application/xml;q=0.9, application/json;q=0.8, text/xml;q=0.8, "
                         "*/*;q=0.1"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    # httpx's timeouts bound each network read, not the whole request: a server that
    # drips its headers or its body a byte at a time would hold us for ever. The
    # deadline bounds the whole fetch (see bot.sources.deadline); a client that is not a
    # FeedClient uses its read timeout as the budget.
    budget = client.deadline if isinstance(client, FeedClient) else client.timeout.read
    stop = client.stop if isinstance(client, FeedClient) else None
    deadline = time.monotonic() + budget if budget is not None else None
    try:
        with limits(budget, stop):
            for attempt in (1, 2):
                try:
                    return _get_once(url, client, headers, validators, max_body, budget,
                                     deadline)
                except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                    # A GET is safe to repeat. A connection that broke under the request
                    # (a keep-alive connection the server had just closed, one closed
                    # under us by the connection pool) is tried once more on a fresh one
                    # before it counts as the source's failure; the deadline stays the
                    # first attempt's.
                    if attempt == 2 or (deadline is not None and time.monotonic() > deadline):
                        raise FetchError(f"{type(exc).__name__}: {exc}", url=url) from None
                    log.info("retrying %s once after %s: %s", url, type(exc).__name__, exc)
    except DeadlinePassed:
        raise FetchError(f"timed out: no whole response within the {budget:g} s deadline",
                         url=url) from None
    except Stopped:
        raise FetchError("stopped: Herald is shutting down", url=url) from None
    raise AssertionError("unreachable")


def _get_once(url: str, client: httpx.Client, headers: dict[str, str],
              validators: Validators, max_body: int, budget: float | None,
              deadline: float | None) -> Fetched:
    """One GET; a broken connection is raised as httpx's error, for the caller to retry."""
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                raise NotModified("HTTP 304", url=url)
            if response.status_code >= 400:
                raise FetchError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(), url=url,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")))
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_body:
                raise FetchError(f"body of {declared} bytes is over the {max_body}-byte limit",
                                 url=url)
            inflater = _Inflater(
                (response.headers.get("Content-Encoding") or "").strip().lower(), url)
            chunks: list[bytes] = []
            total = 0
            for raw in response.iter_raw():
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchError(
                        f"timed out: no whole response within the {budget:g} s deadline",
                        url=url)
                for chunk in inflater.feed(raw):
                    total += len(chunk)
                    if total > max_body:
                        raise FetchError(f"body is over the {max_body}-byte limit",
                                         url=url)
                    chunks.append(chunk)
            body = b"".join(chunks)
            final_url = str(response.url)
            resp_headers = {k.lower(): v for k, v in response.headers.items()}
    except FetchError:
        raise  # the guard refused a hop
    except httpx.TooManyRedirects:
        raise FetchError("too many redirects", url=url) from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})", url=url) from None
    except httpx.DecodingError as exc:
        raise FetchError(f"could not decode the body: {exc}", url=url) from None
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        raise
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}", url=url) from None
    digest = body_hash(body)
    new = Validators(etag=resp_headers.get("etag"),
                     last_modified=resp_headers.get("last-modified"), body_hash=digest)
    if digest == validators.body_hash:
        raise NotModified("same bytes as last time", url=url)
    return Fetched(body, resp_headers.get("content-type"), final_url, new, resp_headers)


class FeedClient(httpx.Client):
    """An httpx client that carries the fetch limits: ``deadline`` seconds for a whole
    fetch, and a ``stop`` event that ends any fetch under way (the worker's)."""

    def __init__(self, *, deadline: float | None, stop: threading.Event | None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline
        self.stop = stop


def make_client(*, timeout: float, max_redirects: int, user_agent: str,
                transport: httpx.BaseTransport | None = None,
                guard: UrlGuard | None = None, deadline: float | None = None,
                stop: threading.Event | None = None) -> FeedClient:
    """The shared HTTP client for feeds; ``guard`` checks every request, redirects too.

    ``timeout`` bounds each network operation; ``deadline`` (``timeout`` when not given)
    the whole fetch. Setting ``stop`` ends the fetches under way."""
    return FeedClient(
        deadline=deadline if deadline is not None else timeout,
        stop=stop,
        event_hooks={"request": [guard.hook]} if guard else None,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={"User-Agent": user_agent},
        transport=transport if transport is not None else DeadlineTransport(),
        trust_env=os.environ.get("HERALD_HTTP_TRUST_ENV") == "1",
    )
