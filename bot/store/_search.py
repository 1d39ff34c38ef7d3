"""Finding stories at volume: free text, tags, source, publication date, held or not.

One query serves the Stories page, ``GET /api/stories`` and their tests. A story's
publication date is its earliest item's ``published_at`` (the first time any source said
it), not when Herald first saw it. Free text matches the title and summary, each word
anywhere (case-insensitive ``LIKE`` on SQLite, ``ILIKE`` on PostgreSQL): at 10,000 and
50,000 stories a scan of the stories table stays well under what a page may take (see
bench/RESULTS.md, "Searching stories"), so no full-text index has to be kept in step with
every edit and merge. Words are ANDed; ``%`` and ``_`` in them are literal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from bot.model import Story, TagGroup
from bot.store.schema import items as t_items
from bot.store.schema import sources as t_sources
from bot.store.schema import stories as t_stories
from bot.store.schema import story_tags as t_tags

#: At most this many words of a search are used (a pasted paragraph is not a query).
MAX_WORDS = 8
#: "held": comms stopped them; "released": not stopped.
STATES = ("held", "released")


@dataclass(frozen=True)
class StoryFilter:
    """What to find; every field left empty matches every story. Fields combine (AND)."""

    text: str = ""
    kind: str = ""
    domain: str = ""
    programme: str = ""
    source: str = ""
    #: Any tag slug of any group (the older ``?tag=`` filter).
    tag: str = ""
    #: Publication date at or after ``published_from`` and before ``published_before``.
    published_from: datetime | None = None
    published_before: datetime | None = None
    state: str = ""

    def __post_init__(self) -> None:
        if self.state and self.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {self.state!r}")

    @property
    def words(self) -> list[str]:
        return self.text.split()[:MAX_WORDS]

    @property
    def empty(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class StoryPage:
    """One page of the stories a filter finds, newest publication first."""

    stories: list[Story]
    #: How many stories the filter finds in all.
    total: int
    offset: int
    limit: int
    #: Each story's publication date (its earliest item's), by story id.
    published: dict[int, datetime]

    @property
    def first(self) -> int:
        """The 1-based position of the first story shown (0 when none)."""
        return self.offset + 1 if self.stories else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.stories)

    @property
    def has_next(self) -> bool:
        return self.last < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


_i = t_items.c
_s = t_stories.c
#: Each story's publication date: its earliest item's.
_PUBLISHED = (select(_i.story_id.label("sid"), func.min(_i.published_at).label("published"))
              .group_by(_i.story_id).subquery("pub"))


def _has_tag(group: TagGroup | None, slug: str) -> Any:
    cond = [t_tags.c.story_id == _s.id, t_tags.c.slug == slug]
    if group is not None:
        cond.append(t_tags.c.grp == group.value)
    return exists().where(*cond)


def _filtered(f: StoryFilter) -> Select[Any]:
    query = (select(_s.id, _PUBLISHED.c.published)
             .join(_PUBLISHED, _PUBLISHED.c.sid == _s.id)
             .where(_s.merged_into.is_(None)))
    for word in f.words:
        query = query.where(or_(_s.title.icontains(word, autoescape=True),
                                _s.summary.icontains(word, autoescape=True)))
    if f.kind:
        query = query.where(_s.kind == f.kind)
    if f.domain:
        query = query.where(_has_tag(TagGroup.DOMAIN, f.domain))
    if f.programme:
        query = query.where(_has_tag(TagGroup.PROGRAMME, f.programme))
    if f.tag:
        query = query.where(_has_tag(None, f.tag))
    if f.source:
        query = query.where(exists().where(and_(_i.story_id == _s.id, _i.source == f.source)))
    if f.published_from is not None:
        query = query.where(_PUBLISHED.c.published >= f.published_from)
    if f.published_before is not None:
        query = query.where(_PUBLISHED.c.published < f.published_before)
    if f.state:
        query = query.where(_s.hold == (f.state == "held"))
    return query


def find_stories(engine: Engine, f: StoryFilter, *, offset: int = 0,
                 limit: int = 50) -> tuple[list[tuple[int, datetime]], int]:
    """The ids and publication dates of one page of the stories ``f`` finds (newest
    publication first, then highest id), and how many it finds in all."""
    query = _filtered(f)
    page = query.order_by(_PUBLISHED.c.published.desc(), _s.id.desc()).offset(offset).limit(limit)
    counted = select(func.count()).select_from(query.subquery())
    with engine.connect() as conn:
        rows = [(r.id, r.published) for r in conn.execute(page)]
        total = int(conn.execute(counted).scalar_one())
    return rows, total


def source_names(engine: Engine) -> list[str]:
    """The names of the sources (feeds) there are, for the source filter."""
    with engine.connect() as conn:
        return list(conn.execute(select(t_sources.c.name).order_by(t_sources.c.name)).scalars())
