"""Sources in the store: the config's and those added with ``herald feeds add``,
with their poll state (validators, last error, error count, next poll)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Engine

from bot.config import SourceConfig
from bot.errors import ConfigError, StoreError
from bot.sources.fetch import Validators
from bot.store._common import insert_ignore
from bot.store.schema import sources as t_sources


@dataclass(frozen=True)
class SourceRow:
    """A source and its poll state."""

    name: str
    origin: str
    kind: str
    url: str
    every: timedelta
    enabled: bool
    validators: Validators
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None
    last_error: str | None
    error_count: int
    state: dict[str, Any] = field(default_factory=dict)
    paused: bool = False
    #: Its first poll announces old entries too (see worker.announce_since).
    announce_backlog: bool = False
    #: The name people read ("Academy news"); None: show ``name``.
    display_name: str | None = None

    @property
    def shown_name(self) -> str:
        """What to call the feed in front of people: its display name, else its name."""
        return self.display_name or self.name

    @property
    def warnings(self) -> list[str]:
        """What its last changed poll skipped, ignored or cut (bad items, hostile HTML)."""
        found = self.state.get("warnings")
        return [str(w) for w in found] if isinstance(found, list) else []

    @classmethod
    def from_mapping(cls, m: Any) -> SourceRow:
        return cls(name=m["name"], origin=m["origin"], kind=m["kind"], url=m["url"],
                   every=timedelta(seconds=m["every_seconds"]), enabled=m["enabled"],
                   validators=Validators(m["etag"], m["last_modified"], m["body_hash"]),
                   last_polled_at=m["last_polled_at"], last_ok_at=m["last_ok_at"],
                   next_poll_at=m["next_poll_at"], last_error=m["last_error"],
                   error_count=m["error_count"],
                   state=json.loads(m["state"]) if m["state"] else {},
                   paused=bool(m["paused"]),
                   announce_backlog=bool(m["announce_backlog"]),
                   display_name=m.get("display_name"))


class SourcesMixin:
    engine: Engine

    def sync_config_sources(self, configs: Iterable[SourceConfig], now: datetime) -> None:
        """Make the stored config sources match the config file (added, changed, removed)."""
        wanted = {c.name: c for c in configs}
        with self.engine.begin() as conn:
            rows = {r.name: r for r in conn.execute(select(t_sources)).mappings()}
            for name, cfg in wanted.items():
                row = rows.get(name)
                values = {"url": cfg.location, "every_seconds": int(cfg.every.total_seconds()),
                          "enabled": cfg.enabled, "kind": cfg.type,
                          "announce_backlog": cfg.announce_backlog,
                          "display_name": cfg.display_name}
                if row is None:
                    # Several workers start at once: the first insert wins, others skip.
                    insert_ignore(conn, t_sources, [dict(
                        name=name, origin="config", error_count=0, created_at=now,
                        next_poll_at=now, **values)], ["name"])
                elif row["origin"] != "config":
                    raise ConfigError(f"a feed added with `herald feeds add` is already "
                                      f"named {name!r}; rename one of them", key="sources")
                elif any(row[k] != v for k, v in values.items()):
                    reset = {}
                    if row["url"] != cfg.location:
                        reset = {"etag": None, "last_modified": None, "body_hash": None,
                                 "state": None, "next_poll_at": now, "error_count": 0,
                                 "last_error": None, "last_ok_at": None}  # a new feed
                    conn.execute(update(t_sources).where(t_sources.c.name == name)
                                 .values(**values, **reset))
            gone = [n for n, r in rows.items() if r["origin"] == "config" and n not in wanted]
            if gone:
                conn.execute(delete(t_sources).where(t_sources.c.name.in_(gone)))

    def add_source(self, name: str, url: str, every: timedelta, now: datetime, *,
                   announce_backlog: bool = False, display_name: str | None = None
                   ) -> SourceRow:
        """Add a feed. Its first poll announces only recent entries, unless
        ``announce_backlog``."""
        with self.engine.begin() as conn:
            if conn.execute(select(t_sources.c.id).where(t_sources.c.name == name)).first():
                raise StoreError(f"a source named {name!r} already exists")
            conn.execute(t_sources.insert().values(
                name=name, origin="database", kind="rss", url=url,
                every_seconds=int(every.total_seconds()), enabled=True, error_count=0,
                created_at=now, next_poll_at=now, announce_backlog=announce_backlog,
                display_name=display_name))
        return self.get_source(name)

    def update_source(self, name: str, now: datetime, *, url: str | None = None,
                      every: timedelta | None = None, display_name: str | None = None,
                      clear_display_name: bool = False) -> SourceRow:
        """Change a feed added in Herald (not one from the config file): a new address
        starts it afresh (validators, state and errors forgotten, polled at once); a new
        interval brings its next poll forward when it is now due sooner."""
        row = self.get_source(name)
        if row.origin == "config":
            raise StoreError(f"{name!r} comes from the config file; change it there")
        values: dict[str, Any] = {}
        if display_name is not None or clear_display_name:
            values["display_name"] = display_name
        if every is not None:
            values["every_seconds"] = int(every.total_seconds())
            sooner = (row.last_polled_at or now) + every
            if row.next_poll_at is None or sooner < row.next_poll_at:
                values["next_poll_at"] = max(sooner, now)
        if url is not None and url != row.url:
            values.update(url=url, etag=None, last_modified=None, body_hash=None, state=None,
                          next_poll_at=now, error_count=0, last_error=None, last_ok_at=None)
        if values:
            with self.engine.begin() as conn:
                conn.execute(update(t_sources).where(t_sources.c.name == name)
                             .values(**values))
        return self.get_source(name)

    def poll_source_now(self, name: str, now: datetime) -> SourceRow:
        """Make a source due at once: the worker polls it on its next cycle (a paused
        one is refused: resuming it polls it at once)."""
        row = self.get_source(name)
        if row.paused:
            raise StoreError(f"feed {name!r} is paused: resume it to poll it")
        if not row.enabled:
            raise StoreError(f"feed {name!r} is turned off in the config file")
        with self.engine.begin() as conn:
            conn.execute(update(t_sources).where(t_sources.c.name == name)
                         .values(next_poll_at=now))
        return self.get_source(name)

    def source_display_names(self) -> dict[str, str]:
        """Every source's name -> what to call it in front of people: its display name,
        else its name (for posts, digests and pages)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t_sources.c.name, t_sources.c.display_name)).all()
        return {name: shown or name for name, shown in rows}

    def set_source_paused(self, name: str, paused: bool, now: datetime) -> SourceRow:
        """Pause a source (it is not polled) or resume it (polled at once)."""
        self.get_source(name)
        values: dict[str, Any] = {"paused": paused}
        if not paused:
            values["next_poll_at"] = now
        with self.engine.begin() as conn:
            conn.execute(update(t_sources).where(t_sources.c.name == name).values(**values))
        return self.get_source(name)

    def remove_source(self, name: str) -> None:
        row = self.get_source(name)
        if row.origin == "config":
            raise StoreError(f"{name!r} comes from the config file; remove it there")
        with self.engine.begin() as conn:
            conn.execute(delete(t_sources).where(t_sources.c.name == name))

    def get_source(self, name: str) -> SourceRow:
        with self.engine.connect() as conn:
            row = conn.execute(select(t_sources).where(t_sources.c.name == name)).mappings()\
                .first()
        if row is None:
            raise StoreError(f"no source named {name!r}")
        return SourceRow.from_mapping(row)

    def list_sources(self) -> list[SourceRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t_sources).order_by(t_sources.c.origin,
                                                           t_sources.c.name)).mappings()
            return [SourceRow.from_mapping(r) for r in rows]

    def claim_sources(self, owner: str, now: datetime, lease: timedelta, *,
                      all_enabled: bool = False, limit: int = 200,
                      not_polled_since: datetime | None = None) -> list[SourceRow]:
        """Claim due sources for ``owner`` until ``now + lease``: no other worker polls them
        meanwhile (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). A dead worker's claims run
        out with their lease. Recording the poll gives the claim back."""
        c = t_sources.c
        free = or_(c.lease_until.is_(None), c.lease_until < now)
        due = [c.enabled.is_(True), c.paused.is_(False), free]
        if not all_enabled:
            due.append(or_(c.next_poll_at.is_(None), c.next_poll_at <= now))
        if not_polled_since is not None:
            due.append(or_(c.last_polled_at.is_(None), c.last_polled_at < not_polled_since))
        query = select(t_sources).where(*due).order_by(c.next_poll_at, c.name).limit(limit)
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            rows = conn.execute(query).mappings().all()
            if not rows:
                return []
            # One statement for the batch; a row another worker took meanwhile (SQLite
            # has no row locks) is not returned, so it is not ours.
            taken = set(conn.execute(
                update(t_sources).where(c.id.in_([r["id"] for r in rows]), free)
                .values(lease_owner=owner, lease_until=now + lease)
                .returning(c.id)).scalars())
        return [SourceRow.from_mapping(r) for r in rows if r["id"] in taken]

    def release_sources(self, owner: str, names: list[str]) -> None:
        """Give back claimed sources that were not polled (a stop mid-collection)."""
        if names:
            with self.engine.begin() as conn:
                conn.execute(update(t_sources).where(
                    t_sources.c.lease_owner == owner, t_sources.c.name.in_(names))
                    .values(lease_owner=None, lease_until=None))

    def record_poll_ok(self, name: str, *, validators: Validators | None, now: datetime,
                       next_poll_at: datetime, state: dict[str, Any] | None = None) -> None:
        """A poll that worked (changed or not); ``validators`` None keeps the old ones."""
        values: dict[str, Any] = {"last_polled_at": now, "last_ok_at": now,
                                  "next_poll_at": next_poll_at, "last_error": None,
                                  "error_count": 0, "lease_owner": None, "lease_until": None}
        if state is not None:
            values["state"] = json.dumps(state)
        if validators is not None:
            values.update(etag=validators.etag, last_modified=validators.last_modified,
                          body_hash=validators.body_hash)
        with self.engine.begin() as conn:
            conn.execute(update(t_sources).where(t_sources.c.name == name).values(**values))

    def record_polls_unchanged(self, polls: list[tuple[str, datetime]], now: datetime) -> None:
        """Several polls that found nothing new, as (name, next poll) pairs, in one
        statement: what ``record_poll_ok`` with no validators does for each."""
        if not polls:
            return
        c = t_sources.c
        with self.engine.begin() as conn:
            conn.execute(update(t_sources).where(c.name == bindparam("n")).values(
                last_polled_at=now, last_ok_at=now, next_poll_at=bindparam("next"),
                last_error=None, error_count=0, lease_owner=None, lease_until=None),
                [{"n": name, "next": nxt} for name, nxt in polls])

    def record_poll_error(self, name: str, *, error: str, now: datetime,
                          next_poll_at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t_sources).where(t_sources.c.name == name).values(
                last_polled_at=now, last_error=error[:2000], next_poll_at=next_poll_at,
                error_count=t_sources.c.error_count + 1, lease_owner=None, lease_until=None))
