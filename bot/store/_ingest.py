"""Ingest: store new and edited items, attach them to stories, tag, route, and write the
deliveries, all in one transaction (the transactional outbox).

An entry seen again unchanged costs one lookup and no write. An edited entry
updates its item and recomposes its story (a new revision when the title, summary
or link changed); it is never delivered again to a target it already went to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from bot.config import RouteConfig
from bot.model import DeliveryStatus, Item, Tag, TagGroup
from bot.pipeline.dedupe import MatchKeys, content_changed, find_story, match_keys
from bot.pipeline.normalize import is_repost
from bot.pipeline.prepare import Prepared, item_features, item_terms
from bot.pipeline.route import route
from bot.pipeline.similar import (
    Features,
    MergeConfig,
    chance_level,
    containment,
    links_to_page,
    same_announcement,
)
from bot.pipeline.story import StoryContent, compose
from bot.pipeline.tagging import Taxonomy
from bot.store import _features as stored_features
from bot.store._common import (
    date_row,
    insert_ignore,
    insert_many_ignore,
    inserted_id,
    links_to_json,
    row_to_date,
    row_to_item,
    wake_sent,
)
from bot.store._overrides import apply_overrides
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import item_terms as t_item_terms
from bot.store.schema import item_urls as t_item_urls
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from bot.store.schema import story_tags as t_tags
from bot.store.schema import term_counts as t_term_counts

log = logging.getLogger("herald.ingest")

#: The PostgreSQL advisory lock key that serialises ingests ("herald" in ASCII).
INGEST_LOCK = 0x686572616C64


@dataclass
class IngestStats:
    """What one ingest did."""

    new_items: int = 0
    updated_items: int = 0
    unchanged_items: int = 0
    new_stories: list[int] = field(default_factory=list)
    updated_stories: list[int] = field(default_factory=list)
    deliveries: int = 0

    def add(self, other: IngestStats) -> None:
        self.new_items += other.new_items
        self.updated_items += other.updated_items
        self.unchanged_items += other.unchanged_items
        self.new_stories += other.new_stories
        self.updated_stories += other.updated_stories
        self.deliveries += other.deliveries


@dataclass(frozen=True)
class RoutingContext:
    """What ingest needs besides items: the taxonomy, the routes, the enabled target names,
    and how to merge across sources (None: exact matches only)."""

    taxonomy: Taxonomy
    routes: Sequence[RouteConfig]
    targets: Collection[str]
    merge: MergeConfig | None = field(default_factory=MergeConfig)


#: How many index rows one candidate lookup may read, by the terms' counts: a new item is
#: looked up by its rarest terms, adding terms while their posting lists together stay
#: within this (but always at least ``MIN_LOOKUP_TERMS`` of them). Copies of one
#: announcement share their rare words; common words find mostly strangers, and reading
#: their ever longer lists is what would make each new item dearer as the store grows.
LOOKUP_BUDGET = 600
MIN_LOOKUP_TERMS = 3


def _features(item: Item, ctx: RoutingContext) -> Features:
    """An item's merge features, computed from the item."""
    return item_features(item, ctx.taxonomy)


class _Placed(NamedTuple):
    """An item this ingest has stored, as a candidate for the items after it."""

    item_id: int
    story_id: int
    published_at: datetime
    terms: frozenset[str]
    feats: Features


def _terms(feats: Features, ctx: RoutingContext) -> list[str]:
    """The distinct terms an item is filed under (see ``index_terms``)."""
    return item_terms(feats, ctx.taxonomy)


#: ``stories.targets`` of a new source's old entries: stored, but announced nowhere.
NOT_ANNOUNCED = "[]"


def file_item(conn: Connection, item_id: int, item: Item, ctx: RoutingContext) -> None:
    """File a stored item under its merge features and index terms, as ingest files every
    new item: so that later copies of it (an X post linking to an approved announcement)
    find its story. Nothing to do where merging is off."""
    if ctx.merge is None:
        return
    feats = _features(item, ctx)
    terms = _terms(feats, ctx)
    conn.execute(update(t_items).where(t_items.c.id == item_id).values(
        features=stored_features.encode(feats, stored_features.features_key(ctx.taxonomy))))
    batch = _Batch()
    batch.term_rows = [{"term": t, "item_id": item_id, "published_at": item.published_at}
                       for t in terms]
    batch.file(terms)
    batch.flush(conn)


def _item_values(item: Item, keys: MatchKeys, now: datetime,
                 stored: str | None) -> dict[str, object]:
    return {
        "source_kind": item.source_kind, "url": item.url, "canonical_url": item.canonical_url,
        "fingerprint": keys.fingerprint, "title": item.title, "text": item.text,
        "html": item.html, "author": item.author, "links": links_to_json(item.links),
        "published_at": item.published_at, "updated_at": now,
        "raw_type": item.raw.mime_type if item.raw else None,
        "raw": item.raw.content if item.raw else None,
        "features": stored,
    }


class _Ids:
    """Ids for rows not yet written, known before writing, so that the rows can go in one
    executemany. PostgreSQL: the table's own sequence, ``count`` values in one statement
    (what the inserts would have taken). SQLite: the ids after the largest stored one,
    which is what SQLite gives an insert on a table without AUTOINCREMENT; the ingest
    is the only writer while its transaction is open."""

    def __init__(self, conn: Connection, table: Table) -> None:
        self._conn = conn
        self._table = table
        self._next: int | None = None  # SQLite: the next id
        self._ready: list[int] = []  # PostgreSQL: allotted, not yet taken

    def reserve(self, count: int) -> None:
        """Allot ``count`` ids in one statement (PostgreSQL; SQLite needs none)."""
        if count <= 0 or self._conn.dialect.name != "postgresql":
            return
        self._ready += sorted(self._conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                 "FROM generate_series(1, :n)"),
            {"t": self._table.name, "n": count}).scalars())

    def take(self) -> int:
        if self._conn.dialect.name == "postgresql":
            if not self._ready:
                self.reserve(1)
            return self._ready.pop(0)
        if self._next is None:
            self._next = int(self._conn.execute(
                select(func.coalesce(func.max(self._table.c.id), 0))).scalar_one()) + 1
        self._next += 1
        return self._next - 1


@dataclass
class _Batch:
    """What one ingest has placed so far but not yet written in bulk: the new stories
    (SQLite), items, URL and term rows (flushed in one statement each), and the lookups
    that the rows, were they written, would answer: URL → story, fingerprint → story,
    each story's size and lead items, and each new item with its terms, for finding
    candidates among the items of the same ingest."""

    story_rows: list[dict[str, Any]] = field(default_factory=list)
    item_rows: list[dict[str, Any]] = field(default_factory=list)
    url_rows: list[dict[str, Any]] = field(default_factory=list)
    term_rows: list[dict[str, Any]] = field(default_factory=list)
    by_url: dict[str, int] = field(default_factory=dict)
    by_fp: dict[str, int] = field(default_factory=dict)
    placed: list[_Placed] = field(default_factory=list)
    #: Items in each story, and its first items' ids (up to the lead count, or more), of
    #: the stories this ingest has looked at: as stored, plus this ingest's items.
    sizes: dict[int, int] = field(default_factory=dict)
    leads: dict[int, list[int]] = field(default_factory=dict)
    #: Items filed under each term: as stored when the ingest began, plus this ingest's.
    counts: dict[str, int] = field(default_factory=dict)
    #: This ingest's changes to the stored counts, written with the term rows.
    count_delta: dict[str, int] = field(default_factory=dict)
    new_keys: set[tuple[str, str]] = field(default_factory=set)
    #: Items that would have joined a full story: the stories they make are not announced
    #: (a copy past the cap is a repeat, not news).
    overflow: set[tuple[str, str]] = field(default_factory=set)
    #: Items of the stories this ingest created, in insertion order (their only items).
    created: dict[int, list[Item]] = field(default_factory=dict)
    item_ids: _Ids | None = None
    #: Stored items' (story, publication time, features), as read by this ingest.
    stored_features: dict[int, tuple[int, datetime, Features]] = field(
        default_factory=dict)
    story_ids: _Ids | None = None
    #: Each source's posts in this ingest (key, words), its newest stored ones' words
    #: (read when first needed), and the chance level of each item asked for.
    siblings: dict[str, list[tuple[tuple[str, str], frozenset[str]]]] = field(
        default_factory=dict)
    stored_siblings: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    chances: dict[tuple[str, str], float] = field(default_factory=dict)

    def chance(self, conn: Connection, item: Item, feats: Features,
               ctx: RoutingContext) -> Callable[[], float]:
        """The item's chance level (``similar.chance_level``) against its own source's
        other posts, this ingest's and its newest stored ones; worked out when first
        asked, which is only where words alone would decide a merge."""
        def level() -> float:
            if item.key not in self.chances:
                cfg = ctx.merge
                assert cfg is not None
                if item.source not in self.stored_siblings:
                    self.stored_siblings[item.source] = _source_words(
                        conn, item.source, cfg.chance_siblings, ctx,
                        {k[1] for k, _ in self.siblings.get(item.source, [])})
                words = [w for k, w in self.siblings.get(item.source, []) if k != item.key]
                words += self.stored_siblings[item.source]
                self.chances[item.key] = chance_level(feats.words, words, cfg.chance_rank)
            return self.chances[item.key]
        return level

    def flush(self, conn: Connection) -> None:
        if self.story_rows:
            conn.execute(_INSERT_STORY, self.story_rows)
        if self.item_rows:
            conn.execute(_INSERT_ITEM, self.item_rows)
        self.story_rows = []
        self.item_rows = []
        insert_many_ignore(conn, t_item_urls, self.url_rows, ["item_id", "url"])
        insert_many_ignore(conn, t_item_terms, self.term_rows,
                           ["term", "published_at", "item_id"])
        if self.count_delta:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(t_term_counts)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["term"], set_={"n": t_term_counts.c.n + stmt.excluded.n}),
                [{"term": t, "n": n} for t, n in sorted(self.count_delta.items())])
        self.url_rows = []
        self.term_rows = []
        self.count_delta = {}

    def new_story(self, conn: Connection, row: dict[str, Any]) -> int:
        """A new story's id. SQLite: allotted, its row written with the next flush.
        PostgreSQL: written now (a sequence cannot give back the ids of stories an
        ingest did not make, and the story ids stay those the inserts gave before)."""
        if conn.dialect.name == "postgresql":
            story_id = inserted_id(conn.execute(_INSERT_STORY, row))
        else:
            assert self.story_ids is not None
            story_id = self.story_ids.take()
            self.story_rows.append({"id": story_id, **row})
        self.sizes[story_id] = 0
        self.leads[story_id] = []
        return story_id

    def size(self, conn: Connection, story_id: int) -> int:
        """How many items a story has, this ingest's placed ones included."""
        if story_id not in self.sizes:
            self.sizes[story_id] = _story_size(conn, story_id) + sum(
                1 for r in self.item_rows if r["story_id"] == story_id)
        return self.sizes[story_id]

    def lead_ids(self, conn: Connection, story_id: int, n: int) -> list[int]:
        """The ids of a story's first ``n`` items, this ingest's placed ones included."""
        if story_id not in self.leads:
            stored = list(conn.execute(_LEAD_IDS, {"sid": story_id, "n": n}).scalars())
            self.leads[story_id] = stored + [r["id"] for r in self.item_rows
                                             if r["story_id"] == story_id]
        return self.leads[story_id][:n]

    def joined(self, story_id: int, item_id: int) -> None:
        """Count an item placed in a story in the story's size and leads."""
        if story_id in self.sizes:
            self.sizes[story_id] += 1
        if story_id in self.leads:
            self.leads[story_id].append(item_id)

    def file(self, terms: Iterable[str], step: int = 1) -> None:
        """Count an item in (``step`` -1: out of) each of these word terms. Link terms
        ("u:…") are not counted: a lookup always uses them all."""
        for t in terms:
            if t.startswith("u:"):
                continue
            self.counts[t] = self.counts.get(t, 0) + step
            self.count_delta[t] = self.count_delta.get(t, 0) + step


_INSERT_STORY = t_stories.insert()
_INSERT_ITEM = t_items.insert()


_c = t_item_terms.c
_LINKS = func.sum(case((func.substr(_c.term, 1, 2) == "u:", 1), else_=0))
#: The candidate lookup, built once: per item within [low, high] filed under any of
#: ``terms``, how many of them are link terms ("u:…") and how many in all; only items
#: sharing a link term or at least two word terms. The word terms are chosen within the
#: lookup budget; a link many items share (a campaign's sign-up page) is not, so at most
#: ``cap`` items come back, those sharing most links and terms first.
_CANDIDATES = (
    select(_c.item_id, _LINKS.label("links"), func.count().label("overlap"))
    .where(_c.term.in_(bindparam("terms", expanding=True)),
           _c.published_at >= bindparam("low"), _c.published_at <= bindparam("high"))
    .group_by(_c.item_id)
    .having(or_(_LINKS >= 1, func.count() - _LINKS >= 2))
    .order_by(_LINKS.desc(), func.count().desc(), _c.item_id)
    .limit(bindparam("cap")))
_i = t_items.c
_STORED_FEATURES = select(_i.id, _i.story_id, _i.published_at, _i.features).where(
    _i.id.in_(bindparam("ids", expanding=True)))
_SOURCE_FEATURES = select(_i.source_item_id, _i.features).where(
    _i.source == bindparam("source"), _i.features.is_not(None)).order_by(
    _i.published_at.desc(), _i.id.desc()).limit(bindparam("n"))
_STORY_SIZE = select(func.count()).select_from(t_items).where(
    _i.story_id == bindparam("sid"))
_LEAD_IDS = select(_i.id).where(_i.story_id == bindparam("sid")).order_by(_i.id).limit(
    bindparam("n"))
_COUNTS = select(t_term_counts.c.term, t_term_counts.c.n).where(
    t_term_counts.c.term.in_(bindparam("terms", expanding=True)))


def _targets(content: StoryContent, items: Sequence[Item], ctx: RoutingContext) -> list[str]:
    """The targets a story with this content and these items goes to."""
    return route(
        domains=[t.slug for t in content.tags if t.group is TagGroup.DOMAIN],
        kind=content.kind,
        programmes=[t.slug for t in content.tags if t.group is TagGroup.PROGRAMME],
        sources={i.source for i in items}, routes=ctx.routes, enabled_targets=ctx.targets)


def _comms_first(conn: Connection, stories: list[int]) -> int | None:
    """Of the stories whose items link to one page, comms' own announcement's if there is
    one (a feed page comms split off it shares its link), else the best-ranked."""
    if len(set(stories)) > 1:
        approved = set(conn.execute(select(t_stories.c.id).where(
            t_stories.c.id.in_(stories), t_stories.c.targets.is_not(None),
            t_stories.c.targets != NOT_ANNOUNCED)).scalars())
        for story in stories:
            if story in approved:
                return story
    return stories[0] if stories else None


def _lookup_terms(terms: list[str], counts: dict[str, int]) -> list[str]:
    """The word terms to look candidates up by: the rarest first, while the items they
    file stay within ``LOOKUP_BUDGET`` (at least ``MIN_LOOKUP_TERMS`` of them)."""
    chosen: list[str] = []
    spent = 0
    for term in sorted(terms, key=lambda t: (counts.get(t, 0), t)):
        n = counts.get(term, 0)
        if len(chosen) >= MIN_LOOKUP_TERMS and spent + n > LOOKUP_BUDGET:
            break
        chosen.append(term)
        spent += n
    return chosen


def _source_words(conn: Connection, source: str, n: int, ctx: RoutingContext,
                  skip: Collection[str]) -> list[frozenset[str]]:
    """The words of a source's newest ``n`` stored items (not those of entry ids in
    ``skip``), from their stored features; an item whose features were stored under
    another taxonomy or code version is left out (this is a measure, not a decision)."""
    key = stored_features.features_key(ctx.taxonomy)
    out = []
    for entry_id, stored in conn.execute(_SOURCE_FEATURES, {"source": source, "n": n}):
        if entry_id in skip:
            continue
        feats = stored_features.decode(stored, key)
        if feats is not None:
            out.append(feats.words)
    return out


def _stored_features(conn: Connection, ids: Collection[int], ctx: RoutingContext,
                     cache: dict[int, tuple[int, datetime, Features]] | None = None,
                     ) -> dict[int, tuple[int, datetime, Features]]:
    """Stored items' stories, publication times and merge features, by item id. Features
    that are missing or were stored under another taxonomy or code version are computed
    from the item and stored again. ``cache``: what this ingest read before (an item it
    edits is dropped from it), and where what is read now is kept."""
    found: dict[int, tuple[int, datetime, Features]] = {}
    if cache is not None:
        found = {i: cache[i] for i in ids if i in cache}
        ids = [i for i in ids if i not in found]
        if not ids:
            return found
        # (read below, then kept)
    if not ids:
        return {}
    key = stored_features.features_key(ctx.taxonomy)
    stale: list[int] = []
    for item_id, story_id, published_at, stored in conn.execute(
            _STORED_FEATURES, {"ids": sorted(ids)}):
        feats = stored_features.decode(stored, key)
        if feats is None:
            stale.append(item_id)
        else:
            found[item_id] = (story_id, published_at, feats)
    if stale:
        fresh = []
        for row in conn.execute(select(t_items).where(_i.id.in_(stale))):
            feats = _features(row_to_item(row), ctx)
            found[row.id] = (row.story_id, row.published_at, feats)
            fresh.append({"fid": row.id, "features": stored_features.encode(feats, key)})
        if fresh:
            conn.execute(update(t_items).where(_i.id == bindparam("fid"))
                         .values(features=bindparam("features")), fresh)
    if cache is not None:
        cache.update(found)
    return found


def _story_size(conn: Connection, story_id: int) -> int:
    return int(conn.execute(_STORY_SIZE, {"sid": story_id}).scalar_one())


def _may_join(conn: Connection, story_id: int, matched: int, item: Item, feats: Features,
              ctx: RoutingContext, batch: _Batch, page: bool = False) -> bool:
    """Whether a new item that announces the same thing as item ``matched`` of a story may
    join it: the story has room (under ``max_story_items``), and the item is the same
    announcement as one of the story's lead items (its first ``lead_items``), not only as
    something that joined it later. Every item of a story is then one step from a lead,
    so likeness cannot chain from item to item into one story of unrelated ones. An item
    that links to the matched item's own page (``page``), or whose page it links to, is
    that item's copy by identity, not by likeness: it needs only room (comms' merges
    make stories whose first items are not their announcement's)."""
    cfg = ctx.merge
    assert cfg is not None
    if batch.size(conn, story_id) >= cfg.max_story_items:
        log.info("story %d is full (%d items): %s %s does not join it", story_id,
                 cfg.max_story_items, item.source, item.source_item_id)
        batch.overflow.add(item.key)
        return False
    if page:
        return True
    leads = batch.lead_ids(conn, story_id, cfg.lead_items)
    if matched in leads:
        return True
    # This ingest's items compare as placed (their features are in memory, maybe not yet
    # written); the stored ones as stored.
    placed = {p.item_id: (p.story_id, p.published_at, p.feats) for p in batch.placed
              if p.item_id in leads}
    found = _stored_features(conn, [i for i in leads if i not in placed], ctx,
                             batch.stored_features)
    chance = batch.chance(conn, item, feats, ctx)
    return any(same_announcement(feats, lead, cfg, item.published_at - published, chance)[0]
               for _story, published, lead in [*found.values(), *placed.values()])


def _lock_ingests(conn: Connection) -> None:
    """On PostgreSQL, one ingest (or comms' merge or split) at a time across workers: two
    workers placing the article and the tweet about it at once would each miss the
    other's uncommitted row; and an ingest that stores a candidate's features must not
    meet a merge moving that candidate's rows in the other order (a deadlock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK})


class IngestMixin:
    engine: Engine

    def ingest(self, items: Iterable[Item], ctx: RoutingContext, now: datetime, *,
               backlog: Collection[tuple[str, str]] = (),
               prepared: Sequence[Prepared] | None = None) -> IngestStats:
        """Store items and everything that follows from them, in one transaction.

        Items are placed one by one, in order, exactly as if each were stored before the
        next is looked at; the writes that nothing in between reads (URL and term rows,
        the composed stories, their tags, dates and deliveries) go in bulk at the end.

        ``backlog``: keys of items from a new source's first poll that are too old to
        announce. A story made only of them is stored, merged and tagged but reaches no
        target (its ``targets`` is the empty list, see :mod:`bot.release`) until comms
        release it; it does not hold back a story they join. Reposts and quotes of the
        account's own posts (``is_repost``) are treated the same way: they join their
        post's story, and one whose post is not stored is never announced on its own.
        They are placed after the other items of the ingest, so a post that comes in the
        same poll as its repost makes the story, not joins the repost's.

        ``prepared``: for each item, in the same order, what :mod:`bot.pipeline.prepare`
        computed of it with ``ctx``'s taxonomy (a pool child did); used instead of
        computing it here, with the same result.
        """
        stats = IngestStats()
        items = list(items)
        ready: list[Prepared | None] = (list(prepared) if prepared is not None
                                        else [None] * len(items))
        pairs = sorted(zip(items, ready, strict=True), key=lambda p: is_repost(p[0]))
        items = [i for i, _ in pairs]  # stable: reposts last
        backlog = {*backlog, *(i.key for i in items if is_repost(i))}
        touched: dict[int, bool] = {}  # story id -> created in this ingest
        batch = _Batch()
        with self.engine.begin() as conn:
            _lock_ingests(conn)
            stored = self._stored_rows(conn, items)
            keys = [p.keys if p else match_keys(item) for item, p in pairs]
            fresh = [item.key not in stored for item in items]
            self._prefetch(conn, [k for k, new in zip(keys, fresh, strict=True) if new], batch)
            # The features of new items, computed once: they are compared, filed and stored.
            feats: list[Features | None] = [
                (p.features if p and p.features is not None else _features(item, ctx))
                if new and ctx.merge else None
                for (item, p), new in zip(pairs, fresh, strict=True)]
            terms = [(list(p.terms) if p and p.features is not None else _terms(f, ctx))
                     if f is not None else [] for f, (_, p) in zip(feats, pairs, strict=True)]
            alone = {id(item): p.content for item, p in pairs if p}
            for item, f in zip(items, feats, strict=True):
                if f is not None:
                    batch.siblings.setdefault(item.source, []).append((item.key, f.words))
            self._prefetch_counts(conn, [t for ts in terms for t in ts], batch)
            batch.item_ids = _Ids(conn, t_items)
            batch.item_ids.reserve(len({i.key for i, new in zip(items, fresh, strict=True)
                                        if new}))
            batch.story_ids = _Ids(conn, t_stories)
            for n, (item, item_keys) in enumerate(zip(items, keys, strict=True)):
                self._ingest_one(conn, item, item_keys, now, stats, touched, ctx, stored,
                                 batch, feats[n], terms[n])
            batch.flush(conn)
            self._compose_created(conn, batch.created, ctx, now, stats,
                                  backlog | batch.overflow, alone)
            for story_id, created in touched.items():
                if not created:
                    self._recompose(conn, story_id, False, ctx, now, stats)
        return stats

    @staticmethod
    def _stored_rows(conn: Connection, items: list[Item]) -> dict[tuple[str, str], Row[Any]]:
        """The stored rows of these items' entries, by (source, entry id), in few queries."""
        wanted: dict[str, list[str]] = {}
        for item in items:
            wanted.setdefault(item.source, []).append(item.source_item_id)
        found: dict[tuple[str, str], Row[Any]] = {}
        for source, ids in wanted.items():
            unique = list(dict.fromkeys(ids))
            for n in range(0, len(unique), 500):
                for row in conn.execute(select(t_items).where(
                        t_items.c.source == source,
                        t_items.c.source_item_id.in_(unique[n:n + 500]))):
                    found[(row.source, row.source_item_id)] = row
        return found

    @staticmethod
    def _prefetch_counts(conn: Connection, terms: list[str], batch: _Batch) -> None:
        """How many stored items each of these terms files (absent: none)."""
        wanted = sorted({t for t in terms if not t.startswith("u:")})  # links: always used
        for n in range(0, len(wanted), 500):
            batch.counts.update(conn.execute(_COUNTS, {"terms": wanted[n:n + 500]}).all())

    @staticmethod
    def _prefetch(conn: Connection, keys: list[MatchKeys], batch: _Batch) -> None:
        """The stories that the new items' URLs and fingerprints already point to."""
        urls = sorted({u[:2000] for k in keys for u in k.urls})
        for n in range(0, len(urls), 500):
            for url, story_id in conn.execute(
                    select(t_item_urls.c.url, t_item_urls.c.story_id)
                    .where(t_item_urls.c.url.in_(urls[n:n + 500]))):
                batch.by_url.setdefault(url, story_id)
        fps = sorted({k.fingerprint for k in keys if k.fingerprint})
        for n in range(0, len(fps), 500):
            for fp, story_id in conn.execute(
                    select(t_items.c.fingerprint, t_items.c.story_id)
                    .where(t_items.c.fingerprint.in_(fps[n:n + 500]))):
                batch.by_fp.setdefault(fp, story_id)

    def _ingest_one(self, conn: Connection, item: Item, keys: MatchKeys, now: datetime,
                    stats: IngestStats, touched: dict[int, bool], ctx: RoutingContext,
                    stored: dict[tuple[str, str], Row[Any]], batch: _Batch,
                    feats: Features | None, terms: list[str]) -> None:
        row = stored.get(item.key)
        if row is None and item.key in batch.new_keys:
            # The same entry twice in one ingest: compare with what was just written.
            batch.flush(conn)
            row = conn.execute(select(t_items).where(
                t_items.c.source == item.source,
                t_items.c.source_item_id == item.source_item_id)).first()
        if row is not None:
            if not content_changed(row_to_item(row), item):
                stats.unchanged_items += 1
                return
            batch.flush(conn)
            story_id = row.story_id
            if ctx.merge and feats is None:  # (a second copy of a new entry has them)
                feats = _features(item, ctx)
                terms = _terms(feats, ctx)
            conn.execute(update(t_items).where(t_items.c.id == row.id)
                         .values(**_item_values(item, keys, now, self._encoded(feats, ctx))))
            batch.stored_features.pop(row.id, None)
            conn.execute(delete(t_item_urls).where(t_item_urls.c.item_id == row.id))
            self._insert_urls(conn, row.id, story_id, keys)
            if feats is not None:
                batch.file(conn.execute(delete(t_item_terms).where(
                    t_item_terms.c.item_id == row.id).returning(t_item_terms.c.term)).scalars(),
                    step=-1)
                batch.file(terms)
                batch.term_rows += [{"term": t, "item_id": row.id,
                                     "published_at": item.published_at} for t in terms]
                batch.flush(conn)
                # An item of this ingest edited by a later copy of its entry: later items
                # compare with what it says now.
                batch.placed = [
                    _Placed(p.item_id, p.story_id, item.published_at, frozenset(terms), feats)
                    if p.item_id == row.id else p for p in batch.placed]
            if story_id in batch.created:
                # A story made in this ingest: its item list is what compose will read.
                batch.created[story_id] = [item if i.key == item.key else i
                                           for i in batch.created[story_id]]
            touched.setdefault(story_id, False)
            stats.updated_items += 1
            return
        story_id, _why = find_story(keys, batch.by_url, batch.by_fp)
        if story_id is not None and ctx.merge is not None and batch.size(
                conn, story_id) >= ctx.merge.max_story_items:
            log.info("story %d is full (%d items): %s %s starts a story of its own, not "
                     "announced", story_id, ctx.merge.max_story_items, item.source,
                     item.source_item_id)
            batch.overflow.add(item.key)
            story_id = None
        if story_id is None and feats is not None and ctx.merge is not None:
            story_id = self._similar_story(conn, item, feats, terms, ctx, batch)
        joined = story_id is not None
        if story_id is None:
            story_id = batch.new_story(conn, {
                "title": item.title, "summary": "", "url": item.url, "kind": "news",
                "first_seen": now, "updated_at": now, "revision": 1, "hold": False,
            })
            touched[story_id] = True
            batch.created[story_id] = []
        else:
            touched.setdefault(story_id, False)
        assert batch.item_ids is not None
        item_id = batch.item_ids.take()
        batch.item_rows.append({
            "id": item_id, "source": item.source, "source_item_id": item.source_item_id,
            "story_id": story_id, "collected_at": item.collected_at,
            **_item_values(item, keys, now, self._encoded(feats, ctx))})
        batch.joined(story_id, item_id)
        if story_id in batch.created:
            batch.created[story_id].append(item)
        if joined and ctx.merge is not None and batch.size(
                conn, story_id) == ctx.merge.max_story_items:
            log.warning("story %d reached %d items, more than any announcement has copies: "
                        "it takes no more (check it for unrelated items: `herald stories "
                        "split`)", story_id, ctx.merge.max_story_items)
        batch.new_keys.add(item.key)
        for url in sorted(keys.urls):
            batch.url_rows.append({"item_id": item_id, "url": url[:2000], "story_id": story_id})
            batch.by_url.setdefault(url[:2000], story_id)
        if keys.fingerprint:
            batch.by_fp.setdefault(keys.fingerprint, story_id)
        if feats is not None:
            batch.term_rows += [{"term": t, "item_id": item_id,
                                 "published_at": item.published_at} for t in terms]
            batch.file(terms)
            batch.placed.append(_Placed(item_id, story_id, item.published_at,
                                        frozenset(terms), feats))
        stats.new_items += 1

    @staticmethod
    def _encoded(feats: Features | None, ctx: RoutingContext) -> str | None:
        if feats is None:
            return None
        return stored_features.encode(feats, stored_features.features_key(ctx.taxonomy))

    @staticmethod
    def _insert_urls(conn: Connection, item_id: int, story_id: int, keys: MatchKeys) -> None:
        rows = [{"item_id": item_id, "url": u[:2000], "story_id": story_id}
                for u in sorted(keys.urls)]
        insert_many_ignore(conn, t_item_urls, rows, ["item_id", "url"])

    @staticmethod
    def _similar_story(conn: Connection, item: Item, feats: Features, terms: list[str],
                       ctx: RoutingContext, batch: _Batch) -> int | None:
        """The story of the most alike stored item that announces the same thing, if any,
        where the item may join that story (``_may_join``: it matches one of the story's
        lead items, and the story is not full). Of the items found by a shared link, the
        first that matches (comms' announcement's story first); of those found by words,
        the one whose words are most alike, not merely the first that is alike enough.

        Candidates are items within the window sharing a link term, then items sharing at
        least two of the item's rarer terms (see ``LOOKUP_BUDGET``), each list best
        overlap first (ties: older item first) and cut at ``max_candidates``; the items of
        this ingest not yet written take part as if they were."""
        cfg = ctx.merge
        assert cfg is not None
        if not terms:
            return None
        low, high = item.published_at - cfg.strong_window, item.published_at + cfg.strong_window
        # A shared page (one links to the other's URL) is enough to look closer; words
        # need at least two in common.
        link_terms = [t for t in terms if t.startswith("u:")]
        word_terms = _lookup_terms([t for t in terms if not t.startswith("u:")], batch.counts)
        wanted = frozenset(word_terms)
        links = frozenset(link_terms)
        near = [p for p in batch.placed if low <= p.published_at <= high]
        # (item, story, features, published) of each candidate; stored ones' stories,
        # features and times are read after the lookups, in one query.
        ranked: list[tuple[int, int | None, Features | None, datetime | None]] = []
        by_link: list[tuple[int, int, int | None, Features | None, datetime | None]] = []
        by_word: list[tuple[int, int, int | None, Features | None, datetime | None]] = []
        if link_terms or len(word_terms) >= 2:
            placed = {p.item_id for p in batch.placed}
            cap = LOOKUP_BUDGET + 2 * cfg.max_candidates
            lookup = link_terms + word_terms
            rows = conn.execute(_CANDIDATES, {"terms": lookup, "low": low, "high": high,
                                              "cap": cap})
            for item_id, n_links, overlap in rows:
                if item_id in placed:
                    continue  # written by a flush of this ingest: it takes part from memory
                if n_links:
                    by_link.append((n_links, item_id, None, None, None))
                if overlap - n_links >= 2:
                    by_word.append((overlap - n_links, item_id, None, None, None))
        for p in near:
            if links & p.terms:
                by_link.append((len(links & p.terms), p.item_id, p.story_id, p.feats,
                                p.published_at))
            if len(wanted & p.terms) >= 2:
                by_word.append((len(wanted & p.terms), p.item_id, p.story_id, p.feats,
                                p.published_at))
        # Each list best overlap first (ties: the older item), cut at max_candidates.
        for listed in (by_link, by_word):
            listed.sort(key=lambda r: (-r[0], r[1]))
            ranked += [r[1:] for r in listed[:cfg.max_candidates]]
        if not ranked:
            return None
        linked = min(len(by_link), cfg.max_candidates)
        chance = batch.chance(conn, item, feats, ctx)
        stored = _stored_features(conn, {r[0] for r in ranked if r[2] is None}, ctx,
                                  batch.stored_features)
        joinable: dict[tuple[int, bool], bool] = {}  # (story, by its page) -> may it join
        alike: list[tuple[float, int, int]] = []  # word candidates that match: -score, rank
        seen: set[int] = set()
        by_page: list[int] = []  # stories of the items that link to the same page and match
        for n, (cand_id, cand_story, known, published_at) in enumerate(ranked):
            if n == linked and by_page:
                break
            if cand_id in seen:
                continue
            seen.add(cand_id)
            if known is None or published_at is None or cand_story is None:
                found = stored.get(cand_id)
                if found is None:
                    continue
                cand_story, published_at, known = found
            same, _why = same_announcement(feats, known, cfg,
                                           item.published_at - published_at, chance)
            if same:
                page = links_to_page(feats, known)
                if (cand_story, page) not in joinable:
                    joinable[cand_story, page] = _may_join(conn, cand_story, cand_id, item,
                                                           feats, ctx, batch, page)
                same = joinable[cand_story, page]
            if same and n >= linked:
                alike.append((-containment(feats.words, known.words)[0], n, cand_story))
            elif same:
                by_page.append(cand_story)
        if alike:  # the story of the most alike item (ties: the better-ranked candidate)
            return min(alike)[2]
        return _comms_first(conn, by_page)

    def _compose_created(self, conn: Connection, created: dict[int, list[Item]],
                         ctx: RoutingContext, now: datetime, stats: IngestStats,
                         backlog: set[tuple[str, str]],
                         alone: Mapping[int, StoryContent] | None = None) -> None:
        """Compose the stories this ingest created, from their items in memory, and write
        them, their tags, dates and deliveries in one statement each. A story made only of
        ``backlog`` items is not announced: no deliveries, and no target (``targets`` is
        the empty list) until comms release it."""
        stories, tags, dates, deliveries = [], [], [], []
        quiet = [sid for sid, its in created.items()
                 if backlog and its and all(i.key in backlog for i in its)]
        if quiet:
            conn.execute(update(t_stories).where(t_stories.c.id.in_(quiet))
                         .values(targets=NOT_ANNOUNCED))
        for story_id, story_items in created.items():
            # A story of one item: its content as prepared with the item, if it was.
            known = alone.get(id(story_items[0])) if alone and len(story_items) == 1 else None
            content = known or compose(story_items, ctx.taxonomy, ())
            stories.append({"sid": story_id, "title": content.title,
                            "summary": content.summary, "url": content.url,
                            "kind": content.kind, "updated_at": now, "revision": 1})
            tags += [{"story_id": story_id, "grp": t.group.value, "slug": t.slug,
                      "reason": t.reason[:2000], "manual": t.manual, "position": n}
                     for n, t in enumerate(content.tags)]
            dates += [date_row(story_id, d) for d in content.dates]
            stats.new_stories.append(story_id)
            if story_id in quiet:
                continue
            deliveries += [
                {"story_id": story_id, "target": name,
                 "status": DeliveryStatus.PENDING.value, "attempts": 0,
                 "next_attempt_at": now, "release_at": now, "created_at": now,
                 "updated_at": now}
                for name in _targets(content, story_items, ctx)]
        if stories:
            s = t_stories.c
            conn.execute(update(t_stories).where(s.id == bindparam("sid")).values(
                title=bindparam("title"), summary=bindparam("summary"), url=bindparam("url"),
                kind=bindparam("kind"), updated_at=bindparam("updated_at"),
                revision=bindparam("revision")), stories)
            wake_sent(conn, [{"sid": r["sid"], "revision": r["revision"], "now": now}
                             for r in stories])
        if tags:
            conn.execute(t_tags.insert(), tags)
        if dates:
            conn.execute(t_dates.insert(), dates)
        if deliveries:
            conn.execute(t_deliveries.insert(), deliveries)
            stats.deliveries += len(deliveries)

    @staticmethod
    def _items_of(conn: Connection, story_id: int) -> list[Item]:
        """A stored story's items, in the order they were stored."""
        return [row_to_item(r) for r in conn.execute(
            select(t_items).where(t_items.c.story_id == story_id).order_by(t_items.c.id))]

    @staticmethod
    def _compose_stored(conn: Connection, story_id: int,
                        ctx: RoutingContext) -> tuple[StoryContent, list[Item]]:
        """A stored story composed from its items and comms' tags, with those items."""
        items = IngestMixin._items_of(conn, story_id)
        manual = [Tag(TagGroup(r.grp), r.slug, r.reason, True) for r in conn.execute(
            select(t_tags).where(t_tags.c.story_id == story_id, t_tags.c.manual.is_(True)))]
        # Comms' own edits (title, summary, key dates, programmes) win over the items'.
        return apply_overrides(conn, story_id, compose(items, ctx.taxonomy, manual)), items

    def _recompose(self, conn: Connection, story_id: int, created: bool, ctx: RoutingContext,
                   now: datetime, stats: IngestStats, force_revision: bool = False,
                   reroute: bool = False) -> None:
        """Compose the story again from its items; write it if it changed and route it.
        ``reroute``: route it even if nothing changed (a story released from a hold)."""
        content, items = self._compose_stored(conn, story_id, ctx)
        story = conn.execute(select(t_stories).where(t_stories.c.id == story_id)).one()
        if created:
            self._write_story(conn, story_id, content, now, revision=1)
            stats.new_stories.append(story_id)
        else:
            old = self._stored_content(conn, story)
            if old != content or force_revision:
                visible = force_revision or (old.title, old.summary, old.url) != (
                    content.title, content.summary, content.url)
                self._write_story(conn, story_id, content, now,
                                  revision=story.revision + (1 if visible else 0))
                stats.updated_stories.append(story_id)
            elif not reroute:
                return
        if story.hold or story.targets is not None or any(
                i.source_kind == "queue" for i in items):
            # A held story goes nowhere; a story with its own target list goes only where
            # comms approved it (a tag fix or a feed's copy joining it adds none), and a
            # new source's old entry nowhere until comms release it.
            return
        targets = _targets(content, items, ctx)
        stats.deliveries += insert_ignore(conn, t_deliveries, [
            {"story_id": story_id, "target": name, "status": DeliveryStatus.PENDING.value,
             "attempts": 0, "next_attempt_at": now, "release_at": now, "created_at": now,
             "updated_at": now}
            for name in targets], ["story_id", "target"])

    @staticmethod
    def _stored_content(conn: Connection, story: Row[Any]) -> StoryContent:
        sid = story.id
        tags = tuple(Tag(TagGroup(r.grp), r.slug, r.reason, r.manual) for r in conn.execute(
            select(t_tags).where(t_tags.c.story_id == sid).order_by(t_tags.c.position)))
        dates = tuple(row_to_date(r) for r in conn.execute(
            select(t_dates).where(t_dates.c.story_id == sid)
            .order_by(t_dates.c.day, t_dates.c.what)))
        return StoryContent(title=story.title, summary=story.summary, url=story.url,
                            kind=story.kind, tags=tags, dates=dates)

    @staticmethod
    def _write_story(conn: Connection, story_id: int, content: StoryContent, now: datetime,
                     revision: int) -> None:
        conn.execute(update(t_stories).where(t_stories.c.id == story_id).values(
            title=content.title, summary=content.summary, url=content.url, kind=content.kind,
            updated_at=now, revision=revision))
        wake_sent(conn, [{"sid": story_id, "revision": revision, "now": now}])
        conn.execute(delete(t_tags).where(t_tags.c.story_id == story_id))
        if content.tags:
            conn.execute(t_tags.insert(), [
                {"story_id": story_id, "grp": t.group.value, "slug": t.slug,
                 "reason": t.reason[:2000], "manual": t.manual, "position": n}
                for n, t in enumerate(content.tags)])
        conn.execute(delete(t_dates).where(t_dates.c.story_id == story_id))
        if content.dates:
            conn.execute(t_dates.insert(), [date_row(story_id, d) for d in content.dates])
