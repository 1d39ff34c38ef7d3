"""Collect: poll the sources that are due, parse what changed, and ingest it.

A 304 or a body with the same hash as last time costs no parse and no write
beyond the poll time. Any error is recorded on its source (last error, error
count, next poll after an exponential backoff capped by
``worker.source_backoff_cap``, never sooner than a server's Retry-After), and the
other sources go on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.clock import Clock
from bot.errors import FetchError, HeraldError, NotModified
from bot.model import Item
from bot.sources.feed import parse_feed
from bot.sources.fetch import fetch
from bot.sources.x import XSource
from bot.store import IngestStats, SourceRow, Store
from bot.store._ingest import RoutingContext

log = logging.getLogger("herald.collect")


@dataclass
class PollResult:
    source: str
    status: str  # "changed", "unchanged" or "error"
    items: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class CollectStats:
    polled: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: int = 0
    ingest: IngestStats = field(default_factory=IngestStats)
    results: list[PollResult] = field(default_factory=list)


def source_backoff(every: timedelta, error_count: int, cap: timedelta,
                   retry_after: float | None = None, rng: random.Random | None = None
                   ) -> timedelta:
    """Delay before polling a failing source again (``error_count`` counts this failure)."""
    rng = rng or random
    base = min(cap.total_seconds(), max(60.0, every.total_seconds() / 4)
               * (2 ** max(0, error_count - 1)))
    delay = base * (0.8 + 0.4 * rng.random())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=min(delay, max(cap.total_seconds(), retry_after or 0)))


class Collector:
    """Polls sources and feeds what they found into the store."""

    def __init__(self, store: Store, routing: RoutingContext, *, clock: Clock,
                 client: httpx.Client | None, max_body: int, base_dir: Path,
                 backoff_cap: timedelta, stop: threading.Event | None = None,
                 x_sources: Mapping[str, XSource] | None = None) -> None:
        self.store = store
        self.x_sources = dict(x_sources or {})
        self.routing = routing
        self.clock = clock
        self.client = client
        self.max_body = max_body
        self.base_dir = base_dir
        self.backoff_cap = backoff_cap
        self.stop = stop or threading.Event()

    def run_once(self, *, all_enabled: bool = False) -> CollectStats:
        """Poll every due source (or every enabled one) once."""
        stats = CollectStats()
        for source in self.store.due_sources(self.clock.now(), all_enabled=all_enabled):
            if self.stop.is_set():
                break
            result = self.poll(source, stats.ingest)
            stats.results.append(result)
            stats.polled += 1
            if result.status == "changed":
                stats.changed += 1
            elif result.status == "unchanged":
                stats.unchanged += 1
            else:
                stats.errors += 1
        return stats

    def poll(self, source: SourceRow, into: IngestStats | None = None) -> PollResult:
        """Poll one source; never raises for a problem with the source itself."""
        started = time.monotonic()
        now = self.clock.now()
        try:
            if source.kind == "x":
                items, stats = self._poll_x(source, now)
            else:
                fetched = fetch(source.url, client=self.client, validators=source.validators,
                                max_body=self.max_body, base_dir=self.base_dir)
                items = parse_feed(fetched.body, source=source.name, url=fetched.final_url,
                                   collected_at=now, content_type=fetched.content_type,
                                   headers=fetched.headers)
                stats = self.store.ingest(items, self.routing, now)
                self.store.record_poll_ok(source.name, validators=fetched.validators, now=now,
                                          next_poll_at=now + source.every)
        except NotModified:
            self.store.record_poll_ok(source.name, validators=None, now=now,
                                      next_poll_at=now + source.every)
            return PollResult(source.name, "unchanged", seconds=time.monotonic() - started)
        except HeraldError as exc:
            return self._failed(source, exc, now, started)
        except Exception as exc:  # one source's surprise must not stop the others
            log.exception("unexpected error polling %s", source.name)
            return self._failed(source, exc, now, started)
        if into is not None:
            into.add(stats)
        log.info("polled %s: %d items, %d new, %d updated in %.0f ms", source.name,
                 len(items), stats.new_items, stats.updated_items,
                 (time.monotonic() - started) * 1000)
        return PollResult(source.name, "changed", items=len(items),
                          seconds=time.monotonic() - started)

    def _poll_x(self, source: SourceRow, now: datetime) -> tuple[list[Item], IngestStats]:
        x = self.x_sources.get(source.name)
        if x is None:
            raise FetchError(f"no x source named {source.name!r} in the config file",
                             url=source.url, permanent=True)
        found = x.poll(source.state, now)
        stats = self.store.ingest(found.items, self.routing, now)
        # The new since_id is kept only once the posts are stored: nothing read is lost.
        self.store.record_poll_ok(source.name, validators=None, now=now,
                                  next_poll_at=now + source.every, state=found.state)
        return found.items, stats

    def _failed(self, source: SourceRow, exc: BaseException, now: datetime,
                started: float) -> PollResult:
        message = str(exc) if isinstance(exc, HeraldError) else f"{type(exc).__name__}: {exc}"
        retry_after = getattr(exc, "retry_after", None)
        if getattr(exc, "permanent", False):
            delay = self.backoff_cap  # nothing changes until someone fixes it
        else:
            delay = source_backoff(source.every, source.error_count + 1, self.backoff_cap,
                                   retry_after)
        self.store.record_poll_error(source.name, error=message, now=now,
                                     next_poll_at=now + delay)
        log.warning("source %s failed (%d in a row): %s; next poll in %s", source.name,
                    source.error_count + 1, message, delay)
        return PollResult(source.name, "error", error=message,
                          seconds=time.monotonic() - started)
