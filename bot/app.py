"""The running Herald: everything built from one validated config.

``Herald(settings)`` opens the store, loads the taxonomy, builds the channels of
the enabled targets and the HTTP client, and offers ``cycle()`` (collect,
then dispatch: what ``herald run --once`` does). The worker and the CLI both
go through it, so they behave the same.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bot.clock import Clock, SystemClock
from bot.collect import Collector, CollectStats
from bot.config import HeraldConfig, RouteConfig, Settings
from bot.dispatch import Dispatcher, DispatchStats
from bot.pipeline.learned import load_tagger
from bot.pipeline.similar import MergeConfig
from bot.pipeline.tagging import Taxonomy, load_taxonomy
from bot.progress import SILENT, Progress
from bot.release import DIGEST
from bot.retry import RetryPolicy
from bot.sources.fetch import make_client
from bot.sources.guard import UrlGuard
from bot.store import Store
from bot.store._ingest import RoutingContext
from bot.store.worker_lock import WorkerLock
from channels import BaseChannel, ChannelContext, load_channel_class


@dataclass
class CycleStats:
    collect: CollectStats
    dispatch: DispatchStats


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"



def digest_routes(cfg: HeraldConfig) -> tuple[RouteConfig, ...]:
    """The routes, and the digest's: where no route names the digest, every story goes to
    it (as before the digest was a target); a route naming it chooses instead."""
    routes = tuple(cfg.routes)
    if not cfg.digest.enabled or any(DIGEST in r.to for r in routes):
        return routes
    return (*routes, RouteConfig(to=[DIGEST]))

def taxonomy_for(settings: Settings) -> Taxonomy:
    """The configured rules, with the learned model beside them unless ``[tagging] model``
    is ``"off"``."""
    rules = load_taxonomy(settings.taxonomy_path)
    return rules if settings.tagger_off else rules.with_model(load_tagger(settings.tagger_path))


class Herald:
    """One configured instance: store, taxonomy, channels, collector and dispatcher."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 console: Console | None = None, store: Store | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.console = console
        self.owner = worker_id()
        self.stop = threading.Event()
        self.store = store or Store.open(settings.database_url)
        self.taxonomy: Taxonomy = taxonomy_for(settings)
        self.channels = self._build_channels()
        cfg = settings.config
        m = cfg.merge
        merge = MergeConfig(window=m.window, strong_window=m.strong_window,
                            text_threshold=m.text_threshold,
                            min_shared_words=m.min_shared_words,
                            dated_text_threshold=m.dated_text_threshold,
                            link_text_threshold=m.link_text_threshold) if m.enabled else None
        self.routing = RoutingContext(self.taxonomy, digest_routes(cfg), self.targets, merge)
        self.x_sources = self._x_sources(settings)
        self._transport = transport
        self._client: httpx.Client | None = None
        #: The SSRF guard every feed fetch and every feed added in the web app goes
        #: through (one object, so tests can give it a resolver of their own).
        self.guard = UrlGuard(cfg.http.allow_networks)
        self.worker_lock = WorkerLock(settings.database_url)

    @staticmethod
    def _x_sources(settings: Settings) -> dict[str, Any]:
        """The X sources of the config (tweepy is imported only when there are some)."""
        cfg = settings.config
        if not any(s.type == "x" for s in cfg.sources):
            return {}
        from bot.sources.x import XOptions, XSource

        return {s.name: XSource(s.name, XOptions(
            username=s.handle, token_env=s.token_env, include_replies=s.include_replies,
            include_retweets=s.include_retweets, max_results=s.max_results,
            max_pages=s.max_pages), settings.environ,
            timeout=cfg.http.timeout.total_seconds(),
            deadline=cfg.http.deadline.total_seconds())
            for s in cfg.sources if s.type == "x"}

    @property
    def targets(self) -> tuple[str, ...]:
        """Every target a story can reach: the channels, and the digest when it is on."""
        digest = (DIGEST,) if self.settings.config.digest.enabled else ()
        return (*self.channels, *digest)

    def _build_channels(self) -> dict[str, BaseChannel]:
        labels = {r.slug: r.label for r in self.taxonomy.rules}
        context = ChannelContext(outbox_dir=self.settings.outbox_dir,
                                 environ=dict(self.settings.environ), console=self.console,
                                 timezone=self.settings.config.worker.timezone, labels=labels,
                                 clock=self.clock)
        built: dict[str, BaseChannel] = {}
        for target in self.settings.config.targets:
            if not target.enabled:
                continue
            cls = load_channel_class(target.type)
            options = cls.Options.model_validate(target.options)
            built[target.name] = cls(target.name, options, context)
        return built

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            http = self.settings.config.http
            self._client = make_client(timeout=http.timeout.total_seconds(),
                                       max_redirects=http.max_redirects,
                                       user_agent=http.user_agent, transport=self._transport,
                                       guard=self.guard,
                                       deadline=http.deadline.total_seconds(),
                                       stop=self.stop)
        return self._client

    def prepare(self) -> None:
        """Check the schema (migrating an empty database) and sync the config's sources."""
        self.store.ensure_schema()
        self.store.sync_config_sources(self.settings.config.sources, self.clock.now())

    def collector(self) -> Collector:
        cfg = self.settings.config
        return Collector(self.store, self.routing, clock=self.clock, client=self.client,
                         max_body=cfg.http.max_body, base_dir=self.settings.base_dir,
                         backoff_cap=cfg.worker.source_backoff_cap, stop=self.stop,
                         x_sources=self.x_sources, owner=self.owner, lease=cfg.worker.lease,
                         concurrency=cfg.http.concurrency, per_host=cfg.http.per_host,
                         announce_since=cfg.worker.announce_since)

    def dispatcher(self) -> Dispatcher:
        w = self.settings.config.worker
        return Dispatcher(self.store, self.channels, clock=self.clock,
                          policy=RetryPolicy(w.backoff_base, w.backoff_cap, w.max_attempts),
                          owner=self.owner, lease_seconds=w.lease.total_seconds(),
                          stop=self.stop)

    def collect(self, *, all_enabled: bool = False, progress: Progress = SILENT
                ) -> CollectStats:
        return self.collector().run_once(all_enabled=all_enabled, progress=progress)

    def dispatch(self) -> DispatchStats:
        return self.dispatcher().run_once()

    def cycle(self, *, collecting: AbstractContextManager[Progress] | None = None,
              dispatching: AbstractContextManager[object] | None = None) -> CycleStats:
        """One full cycle: poll every enabled source, process, dispatch the outbox (a
        paused target is tried once: its secret may have been fixed meanwhile).
        ``collecting`` is entered around the collection and gives its progress (a bar on
        a terminal); ``dispatching`` around the dispatch (``herald run --once`` holds its
        log lines back there while the console channel prints panels)."""
        self.worker_lock.acquire()
        self.store.probe_paused_now(self.clock.now())
        with collecting or contextlib.nullcontext(SILENT) as progress:
            collected = self.collect(all_enabled=True, progress=progress)
        with dispatching or contextlib.nullcontext():
            dispatched = self.dispatch()
        return CycleStats(collected, dispatched)

    def close(self) -> None:
        self.worker_lock.release()
        if self._client is not None:
            self._client.close()
        self.store.close()

    @property
    def var_dir(self) -> Path:
        return self.settings.runtime_path(self.settings.config.paths.var)
