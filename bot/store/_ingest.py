"""Ingest: store new and edited items, attach them to stories, tag, route, and write the
deliveries, all in one transaction (the transactional outbox).

An entry seen again unchanged costs one lookup and no write. An edited entry
updates its item and recomposes its story (a new revision when the title, summary
or link changed); it is never delivered again to a target it already went to.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine, Row

from bot.config import RouteConfig
from bot.model import DeliveryStatus, Item, KeyDate, Tag, TagGroup
from bot.pipeline.dedupe import MatchKeys, content_changed, find_story, match_keys
from bot.pipeline.route import route
from bot.pipeline.story import StoryContent, compose
from bot.pipeline.tagging import Taxonomy
from bot.store._common import insert_ignore, links_to_json, row_to_item
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import item_urls as t_item_urls
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from bot.store.schema import story_tags as t_tags


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
    """What routing needs: the taxonomy, the routes and the enabled target names."""

    taxonomy: Taxonomy
    routes: Sequence[RouteConfig]
    targets: Collection[str]


def _item_values(item: Item, keys: MatchKeys, now: datetime) -> dict[str, object]:
    return {
        "source_kind": item.source_kind, "url": item.url, "canonical_url": item.canonical_url,
        "fingerprint": keys.fingerprint, "title": item.title, "text": item.text,
        "html": item.html, "author": item.author, "links": links_to_json(item.links),
        "published_at": item.published_at, "updated_at": now,
        "raw_type": item.raw.mime_type if item.raw else None,
        "raw": item.raw.content if item.raw else None,
    }


class IngestMixin:
    engine: Engine

    def ingest(self, items: Iterable[Item], ctx: RoutingContext, now: datetime) -> IngestStats:
        """Store items and everything that follows from them, in one transaction."""
        stats = IngestStats()
        touched: dict[int, bool] = {}  # story id -> created in this ingest
        with self.engine.begin() as conn:
            for item in items:
                self._ingest_one(conn, item, now, stats, touched)
            for story_id, created in touched.items():
                self._recompose(conn, story_id, created, ctx, now, stats)
        return stats

    def _ingest_one(self, conn: Connection, item: Item, now: datetime, stats: IngestStats,
                    touched: dict[int, bool]) -> None:
        keys = match_keys(item)
        row = conn.execute(select(t_items).where(
            t_items.c.source == item.source,
            t_items.c.source_item_id == item.source_item_id)).first()
        if row is not None:
            if not content_changed(row_to_item(row), item):
                stats.unchanged_items += 1
                return
            story_id = row.story_id
            conn.execute(update(t_items).where(t_items.c.id == row.id)
                         .values(**_item_values(item, keys, now)))
            conn.execute(delete(t_item_urls).where(t_item_urls.c.item_id == row.id))
            self._insert_urls(conn, row.id, story_id, keys)
            touched.setdefault(story_id, False)
            stats.updated_items += 1
            return
        story_id = self._lookup_story(conn, keys)
        if story_id is None:
            story_id = conn.execute(t_stories.insert().values(
                title=item.title, summary="", url=item.url, kind="news", first_seen=now,
                updated_at=now, revision=1, hold=False)).inserted_primary_key[0]
            touched[story_id] = True
        else:
            touched.setdefault(story_id, False)
        item_id = conn.execute(t_items.insert().values(
            source=item.source, source_item_id=item.source_item_id, story_id=story_id,
            collected_at=item.collected_at, **_item_values(item, keys, now),
        )).inserted_primary_key[0]
        self._insert_urls(conn, item_id, story_id, keys)
        stats.new_items += 1

    @staticmethod
    def _insert_urls(conn: Connection, item_id: int, story_id: int, keys: MatchKeys) -> None:
        rows = [{"item_id": item_id, "url": u[:2000], "story_id": story_id}
                for u in sorted(keys.urls)]
        if rows:
            insert_ignore(conn, t_item_urls, rows, ["item_id", "url"])

    @staticmethod
    def _lookup_story(conn: Connection, keys: MatchKeys) -> int | None:
        by_url: dict[str, int] = {}
        if keys.urls:
            for url, story_id in conn.execute(
                    select(t_item_urls.c.url, t_item_urls.c.story_id)
                    .where(t_item_urls.c.url.in_([u[:2000] for u in keys.urls]))):
                by_url.setdefault(url, story_id)
        by_fp: dict[str, int] = {}
        if keys.fingerprint:
            found = conn.execute(select(t_items.c.story_id).where(
                t_items.c.fingerprint == keys.fingerprint).limit(1)).scalar()
            if found is not None:
                by_fp[keys.fingerprint] = found
        story_id, _why = find_story(keys, by_url, by_fp)
        return story_id

    def _recompose(self, conn: Connection, story_id: int, created: bool, ctx: RoutingContext,
                   now: datetime, stats: IngestStats) -> None:
        items = [row_to_item(r) for r in conn.execute(
            select(t_items).where(t_items.c.story_id == story_id).order_by(t_items.c.id))]
        manual = [Tag(TagGroup(r.grp), r.slug, r.reason, True) for r in conn.execute(
            select(t_tags).where(t_tags.c.story_id == story_id, t_tags.c.manual.is_(True)))]
        content = compose(items, ctx.taxonomy, manual)
        story = conn.execute(select(t_stories).where(t_stories.c.id == story_id)).one()
        if created:
            self._write_story(conn, story_id, content, now, revision=1)
            stats.new_stories.append(story_id)
        else:
            old = self._stored_content(conn, story)
            if old == content:
                return
            visible = (old.title, old.summary, old.url) != (content.title, content.summary,
                                                            content.url)
            self._write_story(conn, story_id, content, now,
                              revision=story.revision + (1 if visible else 0))
            stats.updated_stories.append(story_id)
        if story.hold:
            return
        targets = route(
            domains=[t.slug for t in content.tags if t.group is TagGroup.DOMAIN],
            kind=content.kind,
            programmes=[t.slug for t in content.tags if t.group is TagGroup.PROGRAMME],
            sources={i.source for i in items}, routes=ctx.routes, enabled_targets=ctx.targets)
        stats.deliveries += insert_ignore(conn, t_deliveries, [
            {"story_id": story_id, "target": name, "status": DeliveryStatus.PENDING.value,
             "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
            for name in targets], ["story_id", "target"])

    @staticmethod
    def _stored_content(conn: Connection, story: Row[Any]) -> StoryContent:
        sid = story.id
        tags = tuple(Tag(TagGroup(r.grp), r.slug, r.reason, r.manual) for r in conn.execute(
            select(t_tags).where(t_tags.c.story_id == sid).order_by(t_tags.c.position)))
        dates = tuple(KeyDate(r.what, r.day, r.evidence) for r in conn.execute(
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
        conn.execute(delete(t_tags).where(t_tags.c.story_id == story_id))
        if content.tags:
            conn.execute(t_tags.insert(), [
                {"story_id": story_id, "grp": t.group.value, "slug": t.slug,
                 "reason": t.reason[:2000], "manual": t.manual, "position": n}
                for n, t in enumerate(content.tags)])
        conn.execute(delete(t_dates).where(t_dates.c.story_id == story_id))
        if content.dates:
            conn.execute(t_dates.insert(), [
                {"story_id": story_id, "what": d.what, "day": d.date, "evidence": d.evidence}
                for d in content.dates])
