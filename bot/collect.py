"""Collect: claim the sources that are due, read them, and ingest what changed.

A 304 or a body with the same hash as last time costs no parse and no write
beyond the poll time. Any error is recorded on its source (last error, error
count, next poll after an exponential backoff capped by
``worker.source_backoff_cap``, never sooner than a server's Retry-After), and the
other sources go on.

With a :class:`~bot.pipeline.pool.PreparePool`, a changed body is parsed and its entries
prepared (:mod:`bot.pipeline.prepare`) in a child process while this one stores; a
failure of the pool (not of the feed) parses that feed here instead, as without a pool.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import DBAPIError

from bot.clock import Clock
from bot.durations import humanize
from bot.errors import FetchError, HeraldError, NotModified
from bot.model import Item
from bot.pipeline.prepare import Prepared
from bot.progress import SILENT, Progress
from bot.sources.feed import parse_feed
from bot.sources.fetch import Validators, fetch, is_remote
from bot.store import IngestStats, SourceRow, Store
from bot.store._ingest import RoutingContext

#: Jitter for back-offs (not a secret: any generator will do).
_JITTER = random.Random()

if TYPE_CHECKING:  # tweepy (and requests) load only where X sources are configured
    from bot.pipeline.pool import PreparePool
    from bot.sources.x import XSource

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
    rng = rng or _JITTER
    base = min(cap.total_seconds(), max(60.0, every.total_seconds() / 4)
               * (2 ** max(0, error_count - 1)))
    delay = base * (0.8 + 0.4 * rng.random())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=min(delay, max(cap.total_seconds(), retry_after or 0)))


@dataclass
class _Read:
    """What reading one source gave, before anything is stored."""

    items: list[Item] | None = None  # None: unchanged
    validators: Validators | None = None
    state: dict[str, Any] | None = None
    error: BaseException | None = None
    #: Each item prepared by the pool (None: ingest computes it).
    prepared: list[Prepared] | None = None
    #: What the parse skipped, ignored or cut (bad items, hostile HTML), for the source.
    notes: list[str] = field(default_factory=list)


class Collector:
    """Polls sources and feeds what they found into the store.

    Due sources are claimed with a lease, so several workers never poll the same one.
    Reading (fetch and parse, or an X call) runs in a bounded pool of threads, at most
    ``per_host`` at a time against one host; storing runs in the calling thread, one
    source at a time, so the store sees one writer per worker.
    """

    def __init__(self, store: Store, routing: RoutingContext, *, clock: Clock,
                 client: httpx.Client | None, max_body: int, base_dir: Path,
                 backoff_cap: timedelta, stop: threading.Event | None = None,
                 x_sources: Mapping[str, XSource] | None = None, owner: str = "collector",
                 lease: timedelta = timedelta(minutes=5), concurrency: int = 8,
                 per_host: int = 2, announce_since: timedelta = timedelta(days=3),
                 pool: PreparePool | None = None) -> None:
        self.store = store
        self.announce_since = announce_since
        self.x_sources = dict(x_sources or {})
        self.routing = routing
        self.clock = clock
        self.client = client
        self.max_body = max_body
        self.base_dir = base_dir
        self.backoff_cap = backoff_cap
        self.stop = stop or threading.Event()
        self.owner = owner
        self.lease = lease
        self.concurrency = max(1, concurrency)
        self.per_host = max(1, per_host)
        self._hosts: dict[str, threading.Semaphore] = {}
        self._hosts_lock = threading.Lock()
        self.pool = pool
        #: Batches of fewer sources are parsed here: a pool's start costs more than it saves.
        self.pool_min_sources = 8
        self._use_pool = False

    def run_once(self, *, all_enabled: bool = False, progress: Progress = SILENT
                 ) -> CollectStats:
        """Poll every due source (or every enabled one) once, in claimed batches;
        ``progress`` counts the sources claimed and the ones done."""
        stats = CollectStats()
        started = self.clock.now()
        while not self.stop.is_set():
            sources = self.store.claim_sources(self.owner, self.clock.now(), self.lease,
                                               all_enabled=all_enabled,
                                               not_polled_since=started)
            if not sources:
                break
            progress.add_total(len(sources))
            self._run_batch(sources, stats, progress)
        return stats

    def _run_batch(self, sources: list[SourceRow], stats: CollectStats,
                   progress: Progress = SILENT) -> None:
        """Read the batch in the pool and store each read as it completes. At most twice
        as many reads as threads are under way or waiting to be stored, so what was read
        but not stored yet stays a few feeds, however large the batch."""
        pending = {s.name for s in sources}
        unchanged: list[tuple[str, datetime]] = []  # recorded together, in one statement
        queue = list(reversed(sources))
        window = 2 * self.concurrency
        self._use_pool = (self.pool is not None and self.pool.disabled is None
                          and len(sources) >= self.pool_min_sources)
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(sources)),
                                  thread_name_prefix="herald-read")
        try:
            running: dict[Future[_Read], SourceRow] = {}
            while (queue or running) and not self.stop.is_set():
                while queue and len(running) < window:
                    source = queue.pop()
                    running[pool.submit(self._read, source, self.clock.now())] = source
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    source = running.pop(future)
                    if self.stop.is_set():
                        break
                    pending.discard(source.name)
                    progress.advance()
                    read = future.result()
                    if read.items is None and read.error is None:
                        unchanged.append((source.name, self.clock.now() + source.every))
                        stats.results.append(PollResult(source.name, "unchanged"))
                        stats.polled += 1
                        stats.unchanged += 1
                        if len(unchanged) >= 100:
                            self.store.record_polls_unchanged(unchanged, self.clock.now())
                            unchanged = []
                        continue
                    result = self._store(source, read, stats.ingest)
                    stats.results.append(result)
                    stats.polled += 1
                    if result.status == "changed":
                        stats.changed += 1
                    elif result.status == "unchanged":
                        stats.unchanged += 1
                    else:
                        stats.errors += 1
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._use_pool = False
            self.store.record_polls_unchanged(unchanged, self.clock.now())
            self.store.release_sources(self.owner, sorted(pending))

    def poll(self, source: SourceRow, into: IngestStats | None = None) -> PollResult:
        """Poll one source now, in this thread; never raises for a problem with the source."""
        return self._store(source, self._read(source, self.clock.now()), into)

    def _host_slot(self, location: str) -> threading.Semaphore | None:
        if not is_remote(location):
            return None
        host = (urlsplit(location).hostname or "").lower()
        with self._hosts_lock:
            return self._hosts.setdefault(host, threading.Semaphore(self.per_host))

    def _read(self, source: SourceRow, now: datetime) -> _Read:
        """Fetch and parse one source (thread-safe: touches no store)."""
        try:
            if source.kind == "x":
                x = self.x_sources.get(source.name)
                if x is None:
                    raise FetchError(f"no x source named {source.name!r} in the config file",
                                     url=source.url, permanent=True)
                found = x.poll(source.state, now)
                return _Read(items=found.items, state=found.state)
            slot = self._host_slot(source.url)
            if slot is not None:
                slot.acquire()
            try:
                fetched = fetch(source.url, client=self.client, validators=source.validators,
                                max_body=self.max_body, base_dir=self.base_dir)
            finally:
                if slot is not None:
                    slot.release()
            notes: list[str] = []
            if self._use_pool and self.pool is not None:
                prepared = self._prepared(source, fetched.body, fetched.final_url, now,
                                          fetched.content_type, fetched.headers, notes)
                if prepared is not None:
                    return _Read(items=prepared[0], validators=fetched.validators,
                                 prepared=prepared[1], notes=notes)
            items = parse_feed(fetched.body, source=source.name, url=fetched.final_url,
                               collected_at=now, content_type=fetched.content_type,
                               headers=fetched.headers, notes=notes)
            return _Read(items=items, validators=fetched.validators, notes=notes)
        except NotModified:
            return _Read()
        except Exception as exc:  # recorded on the source by _store
            return _Read(error=exc)

    def _prepared(self, source: SourceRow, body: bytes, url: str, now: datetime,
                  content_type: str | None, headers: dict[str, str], notes: list[str]
                  ) -> tuple[list[Item], list[Prepared]] | None:
        """The feed's items, each prepared, from the pool; None if the pool failed (the
        caller parses the feed itself). A problem with the feed is raised as it is."""
        from bot.pipeline.pool import PoolFailure

        assert self.pool is not None
        try:
            return self.pool.parse(body, source=source.name, url=url, collected_at=now,
                                   content_type=content_type, headers=headers,
                                   notes=notes)
        except PoolFailure as exc:
            if not self.stop.is_set() and not self.pool.disabled:
                log.warning("the prepare pool failed on %s (%s): parsing it here", source.name,
                            exc)
            return None

    def _backlog(self, source: SourceRow, items: list[Item], now: datetime) -> set[
            tuple[str, str]]:
        """A new source's first poll is a backfill: its entries older than
        ``announce_since`` are stored, merged and tagged but not announced (unless the
        source asks for its backlog: ``announce_backlog``)."""
        if source.last_ok_at is not None or source.announce_backlog:
            return set()
        cutoff = now - self.announce_since
        # An entry without a date (its published time is the collect time) cannot be told
        # from an old one: a first poll does not announce it either.
        old = {i.key for i in items if i.published_at < cutoff
               or i.published_at == i.collected_at}
        if old:
            log.info("first poll of %s: %d of %d entries are older than %s (or undated) "
                     "and are not announced", source.name, len(old), len(items),
                     humanize(self.announce_since))
        return old

    def _store(self, source: SourceRow, read: _Read, into: IngestStats | None) -> PollResult:
        """Store what a read found and record the poll on its source."""
        started = time.monotonic()
        now = self.clock.now()
        if read.error is not None:
            if not isinstance(read.error, HeraldError):
                log.error("unexpected error polling %s: %r", source.name, read.error)
            return self._failed(source, read.error, now, started)
        if read.items is None:
            self.store.record_poll_ok(source.name, validators=None, now=now,
                                      next_poll_at=now + source.every)
            return PollResult(source.name, "unchanged", seconds=time.monotonic() - started)
        for note in read.notes:
            log.warning("source %s: %s", source.name, note)
        try:
            stats = self.store.ingest(read.items, self.routing, now,
                                      backlog=self._backlog(source, read.items, now),
                                      prepared=read.prepared)
            # The validators (and X's since_id) are kept only once the items are stored:
            # a crash in between reads them again rather than losing them.
            self.store.record_poll_ok(source.name, validators=read.validators, now=now,
                                      next_poll_at=now + source.every,
                                      state=_with_warnings(source, read))
        except HeraldError as exc:
            return self._failed(source, exc, now, started)
        except DBAPIError:
            raise  # the database itself is in trouble: not this source's fault
        except Exception as exc:  # a surprise in one source's items must not stop the rest
            log.exception("unexpected error storing %s", source.name)
            return self._failed(source, exc, now, started)
        if into is not None:
            into.add(stats)
        log.info("polled %s: %d items, %d new, %d updated", source.name, len(read.items),
                 stats.new_items, stats.updated_items)
        return PollResult(source.name, "changed", items=len(read.items),
                          seconds=time.monotonic() - started)

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
                    source.error_count + 1, message, humanize(delay))
        return PollResult(source.name, "error", error=message,
                          seconds=time.monotonic() - started)


#: At most this many of a poll's notes are kept on its source (all are logged).
MAX_WARNINGS = 20


def _with_warnings(source: SourceRow, read: _Read) -> dict[str, Any] | None:
    """The source's state to record after a changed poll: the read's own (X), with the
    parse's notes as ``warnings`` (shown by ``herald feeds list`` and the feeds page); a
    clean parse clears them. None: leave the stored state as it is."""
    state = read.state
    if not read.notes and "warnings" not in (state or source.state):
        return state
    state = dict(source.state if state is None else state)
    state.pop("warnings", None)
    if read.notes:
        extra = len(read.notes) - MAX_WARNINGS
        state["warnings"] = read.notes[:MAX_WARNINGS] + (
            [f"… and {extra} more (in the log)"] if extra > 0 else [])
    return state
