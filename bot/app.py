"""The running Herald: everything built from one validated config.

``Herald(settings)`` opens the store, loads the taxonomy, builds the channels of
the enabled targets and the HTTP client, and offers ``cycle()`` (collect,
then dispatch: what ``herald run --once`` does). The worker and the CLI both
go through it, so they behave the same.

Composition checks live here too: ``check_settings`` validates what ``bot.config`` cannot
know alone (each target's options against its channel, the tags routes name against the
taxonomy, the tagger's weights). ``Herald()``, ``herald config check`` and every command
(through ``load_settings``) call it, so a mistake reads the same wherever it is found.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError
from rich.console import Console

from bot.clock import Clock, SystemClock
from bot.collect import Collector, CollectStats
from bot.config import HeraldConfig, RouteConfig, Settings, load_config
from bot.dispatch import Dispatcher, DispatchStats
from bot.errors import ConfigError
from bot.pipeline.learned import load_tagger
from bot.pipeline.prepare import TaxonomySpec, bundled_weights
from bot.pipeline.tagging import Taxonomy, load_taxonomy
from bot.progress import SILENT, Progress
from bot.release import DIGEST
from bot.remind_dispatch import ReminderSender, ReminderStats
from bot.retry import RetryPolicy
from bot.sources.fetch import make_client
from bot.sources.guard import UrlGuard
from bot.store import Store
from bot.store._ingest import RoutingContext
from bot.store.worker_lock import WorkerLock
from channels import BaseChannel, ChannelContext, load_channel_class

if TYPE_CHECKING:
    from bot.pipeline.pool import PreparePool

log = logging.getLogger(__name__)


@dataclass
class CycleStats:
    collect: CollectStats
    dispatch: DispatchStats
    #: Reminders before key dates planned and sent after the deliveries (issue #17).
    reminders: ReminderStats | None = None


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"



def digest_routes(cfg: HeraldConfig) -> tuple[RouteConfig, ...]:
    """The routes, and the digest's: where no route names the digest, every story goes to
    it (as before the digest was a target); a route naming it chooses instead."""
    routes = tuple(cfg.routes)
    if not cfg.digest.enabled or any(DIGEST in r.to for r in routes):
        return routes
    return (*routes, RouteConfig(to=[DIGEST]))

def taxonomy_spec(settings: Settings) -> TaxonomySpec | None:
    """Where pool children read the taxonomy ``taxonomy_for`` reads (None: unreadable)."""
    try:
        return TaxonomySpec.of(settings.taxonomy_path, None if settings.tagger_off
                               else settings.tagger_path or bundled_weights())
    except OSError:
        return None


def taxonomy_for(settings: Settings) -> Taxonomy:
    """The configured rules, with the learned model beside them unless ``[tagging] model``
    is ``"off"``."""
    rules = load_taxonomy(settings.taxonomy_path)
    return rules if settings.tagger_off else rules.with_model(load_tagger(settings.tagger_path))


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """:func:`bot.config.load_config`, then :func:`check_settings`: a config Herald can run."""
    settings = load_config(path, environ)
    check_settings(settings)
    return settings


def target_options(settings: Settings, index: int) -> tuple[type[BaseChannel], Any]:
    """The channel class of ``targets[index]`` and its options, validated (ConfigError
    naming the key and what is allowed)."""
    target = settings.config.targets[index]
    file = str(settings.file) if settings.file else None
    key = f"targets[{index}] ({target.name})"
    cls = load_channel_class(target.type, key=f"{key}.type", file=file)
    try:
        return cls, cls.Options.model_validate(target.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        sub = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(["name", "type", "enabled", *sorted(cls.Options.model_fields)])
            msg = f"unknown key for a {target.type} target; allowed: {allowed}"
        elif err["type"] == "missing":
            msg = f"required for a {target.type} target"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, key=f"{key}.{sub}", file=file) from None


def check_settings(settings: Settings) -> Taxonomy:
    """The checks that need the channels, the taxonomy and the tagger; returns the
    taxonomy (with the model beside it unless it is off). Needs no secret."""
    cfg = settings.config
    file = str(settings.file) if settings.file else None
    for i in range(len(cfg.targets)):
        target_options(settings, i)
    taxonomy = taxonomy_for(settings)  # a missing or broken taxonomy or weights file stops here
    known = {"domains": set(taxonomy.slugs("domain")), "kinds": set(taxonomy.slugs("kind")),
             "programmes": set(taxonomy.slugs("programme"))}
    for i, route in enumerate(cfg.routes):
        for field_name, slugs in known.items():
            for slug in getattr(route, field_name) or []:
                if slug not in slugs:
                    raise ConfigError(f"unknown {field_name[:-1]} {slug!r}; allowed: "
                                      f"{', '.join(sorted(slugs))}",
                                      key=f"routes[{i}].{field_name}", file=file)
    if "buttons" in cfg.brand.model_fields_set:  # the defaults name the bundled kinds
        for kind in cfg.brand.buttons:
            if kind not in known["kinds"]:
                raise ConfigError(f"a button for the unknown kind {kind!r}; known kinds: "
                                  f"{', '.join(sorted(known['kinds']))}",
                                  key="brand.buttons", file=file)
    return taxonomy


@dataclass(frozen=True)
class Secret:
    """An environment variable Herald reads a secret from, and who reads it."""

    variable: str
    user: str          # "target staff-slack (slack)", "source academy-x (x)", …
    is_set: bool
    #: A run needs it: the target or source is enabled and cannot work without it.
    required: bool
    #: What happens without it, when it is optional.
    without: str = ""


def secrets(settings: Settings) -> list[Secret]:
    """Every secret the config reads (in the order of the file), set or not. Targets name
    theirs in their options (keys ending in ``_env``), X sources in ``token_env``."""
    cfg, env = settings.config, settings.environ
    found: list[Secret] = []
    for i, target in enumerate(cfg.targets):
        cls, options = target_options(settings, i)
        for field_name in cls.Options.model_fields:
            var = getattr(options, field_name) if field_name.endswith("_env") else None
            if var:
                found.append(Secret(var, f"target {target.name} ({target.type})",
                                    bool(env.get(var)), required=target.enabled))
    for source in cfg.sources:
        if source.type == "x":
            found.append(Secret(source.token_env, f"source {source.name} (x)",
                                bool(env.get(source.token_env)), required=source.enabled))
    digest = cfg.digest
    if digest.enabled:
        found.append(Secret(digest.smtp_env, "the weekly digest", bool(env.get(digest.smtp_env)),
                            required=False, without="digests are written as files under "
                            f"{settings.outbox_dir / 'digest'}"))
    found.append(Secret("HERALD_SECRET_KEY", "the web app and the digest's links",
                        bool(env.get("HERALD_SECRET_KEY")), required=False,
                        without=f"a key is made once in {settings.var_dir / 'secret.key'}"))
    found.append(Secret("HERALD_METRICS_TOKEN", "/metrics for a Prometheus scraper",
                        bool(env.get("HERALD_METRICS_TOKEN")), required=False,
                        without="/metrics needs a signed-in admin"))
    return found


class SourceNames(Mapping[str, str]):
    """Sources' display names (only those set), read from the database at most once a
    minute: the channels are built once, a feed renamed in the web app is not."""

    def __init__(self, read: Callable[[], dict[str, str]], ttl: float = 60.0) -> None:
        self._read, self._ttl = read, ttl
        self._names: dict[str, str] = {}
        self._at = -ttl
        self._lock = threading.Lock()

    def _current(self) -> dict[str, str]:
        now = time.monotonic()
        if now - self._at >= self._ttl:
            with self._lock:
                if now - self._at >= self._ttl:
                    try:
                        self._names = {k: v for k, v in self._read().items() if v and v != k}
                    except Exception:
                        log.warning("could not read the sources' display names", exc_info=True)
                    self._at = now
        return self._names

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


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
        self.taxonomy: Taxonomy = check_settings(settings)
        self._spec = taxonomy_spec(settings)  # the files as they were when read
        self._pool: PreparePool | None = None
        self.store = store or Store.open(settings.database_url)
        self.channels = self._build_channels()
        cfg = settings.config
        merge = cfg.merge.merge_config()
        self.routing = RoutingContext(self.taxonomy, digest_routes(cfg), self.targets, merge)
        self.x_sources = self._x_sources(settings)
        self._transport = transport
        self._client: httpx.Client | None = None
        #: The SSRF guard every feed fetch and every feed added in the web app goes
        #: through (one object, so tests can give it a resolver of their own).
        self.guard = UrlGuard(cfg.http.allow_networks)
        self.worker_lock = WorkerLock(settings.database_url)
        #: What the last dispatch's reminders did (``herald run --once``'s summary).
        self.last_reminders: ReminderStats | None = None

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

    def post_context(self) -> dict[str, Any]:
        """What posts say about their sender: the academy's name ([brand]), the button
        labels by kind, and the sources' display names (``sources.display_name``, read
        live so a rename in the web app shows without a restart; a source without one has
        its slug made readable by ``channels._post.source_name``)."""
        from bot.config import brand_name

        config = self.settings.config
        return {"brand": brand_name(config), "buttons": dict(config.brand.buttons),
                "source_names": self._source_names}

    @functools.cached_property
    def _source_names(self) -> SourceNames:
        return SourceNames(self.store.source_display_names)

    def _build_channels(self) -> dict[str, BaseChannel]:
        labels = {r.slug: r.label for r in self.taxonomy.rules}
        context = ChannelContext(outbox_dir=self.settings.outbox_dir,
                                 environ=dict(self.settings.environ), console=self.console,
                                 timezone=self.settings.config.worker.timezone, labels=labels,
                                 clock=self.clock, **self.post_context(),
                                 reminder_broadcast=self.settings.config.reminders
                                 .also_to_channel)
        built: dict[str, BaseChannel] = {}
        for i, target in enumerate(self.settings.config.targets):
            if not target.enabled:
                continue
            cls, options = target_options(self.settings, i)
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

    def prepare(self, *, migrate_in_child: bool = False) -> None:
        """Check the schema (migrating an empty database) and sync the config's sources.

        ``migrate_in_child``: a long-lived process (the worker, the web app) migrates an
        empty database in a short-lived child, so it never imports Alembic
        (``bot.store.migrate.upgrade_in_child``)."""
        self.store.ensure_schema(in_child=migrate_in_child)
        self.store.sync_config_sources(self.settings.config.sources, self.clock.now())

    @property
    def prepare_pool(self) -> PreparePool | None:
        """The processes that parse and prepare feeds (``[worker] processes``, unset: one a
        core), started with the first large collection; None where there are to be none."""
        from bot.pipeline import pool

        if self._pool is None and self._spec is not None and not self.stop.is_set():
            processes = self.settings.config.worker.processes
            if processes is None:
                processes = pool.default_processes()
            if processes > 1 and pool.available():
                self._pool = pool.PreparePool(processes, self._spec,
                                              merge=self.routing.merge is not None)
        return self._pool

    def collector(self) -> Collector:
        cfg = self.settings.config
        return Collector(self.store, self.routing, clock=self.clock, client=self.client,
                         max_body=cfg.http.max_body, base_dir=self.settings.base_dir,
                         backoff_cap=cfg.worker.source_backoff_cap, stop=self.stop,
                         x_sources=self.x_sources, owner=self.owner, lease=cfg.worker.lease,
                         concurrency=cfg.http.concurrency, per_host=cfg.http.per_host,
                         announce_since=cfg.worker.announce_since, pool=self.prepare_pool)

    def dispatcher(self) -> Dispatcher:
        w = self.settings.config.worker
        return Dispatcher(self.store, self.channels, clock=self.clock,
                          policy=RetryPolicy(w.backoff_base, w.backoff_cap, w.max_attempts),
                          owner=self.owner, lease_seconds=w.lease.total_seconds(),
                          stop=self.stop)

    def collect(self, *, all_enabled: bool = False, progress: Progress = SILENT
                ) -> CollectStats:
        return self.collector().run_once(all_enabled=all_enabled, progress=progress)

    def reminder_sender(self) -> ReminderSender:
        cfg = self.settings.config
        w = cfg.worker
        return ReminderSender(self.store, self.channels, clock=self.clock,
                              policy=RetryPolicy(w.backoff_base, w.backoff_cap,
                                                 w.max_attempts),
                              owner=self.owner, config=cfg.reminders, timezone=w.timezone,
                              routes=cfg.routes, lease_seconds=w.lease.total_seconds(),
                              stop=self.stop)

    def remind(self) -> ReminderStats:
        """Plan the reminders before key dates and send those due (bot.remind_dispatch)."""
        stats = self.reminder_sender().run_once()
        self.last_reminders = stats
        return stats

    def dispatch(self) -> DispatchStats:
        """Send the outbox, then the reminders (after the deliveries: a reminder needs
        its original post out first)."""
        self.last_reminders = None
        stats = self.dispatcher().run_once()
        if not self.stop.is_set():
            self.remind()
        # Who hears of what went out or failed (bot.notify): after each run, never in
        # the way of the next.
        from bot.notify import after_dispatch

        after_dispatch(self)
        return stats

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
        return CycleStats(collected, dispatched, self.last_reminders)

    def close(self) -> None:
        if self._pool is not None:  # its children stop before the store closes
            self._pool.close()
            self._pool = None
        self.worker_lock.release()
        if self._client is not None:
            self._client.close()
        self.store.close()

    @property
    def var_dir(self) -> Path:
        return self.settings.var_dir
