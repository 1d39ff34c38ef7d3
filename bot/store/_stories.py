"""Reading stories back, whole: their items, tags with reasons, and key dates."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine

from bot.errors import StoreError
from bot.model import Item, KeyDate, Story, Tag, TagGroup
from bot.release import story_targets
from bot.store._common import row_to_date, row_to_item
from bot.store._duplicates import Duplicate, find_duplicates
from bot.store._ingest import RoutingContext
from bot.store._search import StoryFilter, StoryPage, find_stories, source_names
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from bot.store.schema import story_tags as t_tags


class StoriesMixin:
    engine: Engine

    def list_stories(self, *, since: datetime | None = None, tag: str | None = None,
                     ids: list[int] | None = None, limit: int | None = None) -> list[Story]:
        """Stories, newest first; ``since`` filters on first seen, ``tag`` on any tag slug."""
        c = t_stories.c
        query = select(t_stories).order_by(c.first_seen.desc(), c.id.desc())
        if ids is None:
            query = query.where(c.merged_into.is_(None))
        if since is not None:
            query = query.where(c.first_seen >= since)
        if tag:
            query = query.where(exists().where(t_tags.c.story_id == c.id,
                                               t_tags.c.slug == tag))
        if ids is not None:
            query = query.where(c.id.in_(ids))
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            wanted = [r.id for r in rows]
            tags: dict[int, list[Tag]] = defaultdict(list)
            dates: dict[int, list[KeyDate]] = defaultdict(list)
            items: dict[int, list[Item]] = defaultdict(list)
            for chunk in _chunks(wanted, 500):
                for r in conn.execute(select(t_tags).where(t_tags.c.story_id.in_(chunk))
                                      .order_by(t_tags.c.story_id, t_tags.c.position)):
                    tags[r.story_id].append(Tag(TagGroup(r.grp), r.slug, r.reason, r.manual))
                for r in conn.execute(select(t_dates).where(t_dates.c.story_id.in_(chunk))
                                      .order_by(t_dates.c.day, t_dates.c.what)):
                    dates[r.story_id].append(row_to_date(r))
                for r in conn.execute(select(t_items).where(t_items.c.story_id.in_(chunk))
                                      .order_by(t_items.c.published_at, t_items.c.id)):
                    items[r.story_id].append(row_to_item(r))
        return [Story(id=r.id, title=r.title, summary=r.summary, url=r.url, kind=r.kind,
                      tags=tuple(tags[r.id]), dates=tuple(dates[r.id]),
                      items=tuple(items[r.id]), first_seen=r.first_seen,
                      updated_at=r.updated_at, revision=r.revision,
                      image_url=r.image_url, hold=r.hold,
                      targets=story_targets(r.targets), reminders=r.reminders) for r in rows]

    def search_stories(self, f: StoryFilter, *, offset: int = 0, limit: int = 50) -> StoryPage:
        """One page of the stories ``f`` finds, newest publication first (``_search``)."""
        offset, limit = max(0, offset), max(1, limit)
        rows, total = find_stories(self.engine, f, offset=offset, limit=limit)
        by_id = {s.id: s for s in self.list_stories(ids=[sid for sid, _ in rows])}
        return StoryPage(stories=[by_id[sid] for sid, _ in rows if sid in by_id], total=total,
                         offset=offset, limit=limit, published=dict(rows))

    def possible_duplicates(self, story_id: int, ctx: RoutingContext,
                            limit: int = 5) -> list[Duplicate]:
        """The other stories the merge engine scores closest to ``story_id`` (``_duplicates``),
        best first, each with its :class:`Story`."""
        with self.engine.connect() as conn:
            found = find_duplicates(conn, story_id, ctx, limit)
        stories = {s.id: s for s in self.list_stories(ids=[d.story_id for d in found])}
        return [replace(d, story=stories[d.story_id]) for d in found if d.story_id in stories]

    def source_names(self) -> list[str]:
        return source_names(self.engine)

    def get_story(self, story_id: int) -> Story:
        found = self.list_stories(ids=[story_id])
        if not found:
            raise StoreError(f"no story with id {story_id}")
        return found[0]


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i:i + size] for i in range(0, len(values), size)]
