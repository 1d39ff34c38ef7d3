"""Compose a story from its items: title, summary, link, kind, tags, key dates.

Pure: the same items and taxonomy give the same story. The best item leads: a
website post beats a social post, a post beats a repost of it, and the first the
story got wins a tie. Tags are computed on all items' text; a tag set by a
person replaces the rules' verdict for its group and slug.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.model import Item, KeyDate, Tag, TagGroup
from bot.pipeline.dates import extract_dates
from bot.pipeline.normalize import is_repost
from bot.pipeline.tagging import Taxonomy
from bot.text import truncate

SUMMARY_LIMIT = 600
# Comms' own approved announcement leads its story: a feed's copy that joins it later
# never replaces the words that were approved.
SOURCE_KIND_RANK = {"queue": -1, "feed": 0, "x": 1}


@dataclass(frozen=True)
class StoryContent:
    """What a story says, derived from its items."""

    title: str
    summary: str
    url: str | None
    kind: str
    tags: tuple[Tag, ...]
    dates: tuple[KeyDate, ...]


def best_item(items: Sequence[Item]) -> Item:
    """The item whose title and link lead the story: comms' own announcement, else a
    website post, else a social post; a repost never while its post is there; then the
    first of them the story got (``items`` in the order they were stored). A later copy,
    however long, never takes the headline and link of a story already out: a partner's
    page rewritten to say something else would otherwise edit the academy's post."""
    order = {id(i): n for n, i in enumerate(items)}
    return min(items, key=lambda i: (SOURCE_KIND_RANK.get(i.source_kind, 0), is_repost(i),
                                     0 if i.url else 1, order[id(i)]))


def summarize(item: Item, limit: int = SUMMARY_LIMIT) -> str:
    text = item.text
    if text.startswith(item.title):
        text = text[len(item.title):].lstrip(" .:-\n")
    return truncate(" ".join(text.split()), limit)


def tagged_text(items: Sequence[Item]) -> tuple[Item, list[Item], str]:
    """The lead, the other items, and the text the tagger reads: every item's text, the
    lead's first (its title is the title the tagger reads)."""
    lead = best_item(items)
    others = [i for i in items if i is not lead]
    return lead, others, "\n\n".join(i.text for i in (lead, *others))


def compose(items: Sequence[Item], taxonomy: Taxonomy,
            manual_tags: Iterable[Tag] = ()) -> StoryContent:
    """The content of a story made of ``items`` (at least one)."""
    if not items:
        raise ValueError("a story needs at least one item")
    lead, others, text = tagged_text(items)
    result = taxonomy.tag(lead.title, text)
    tags = _apply_manual(result.tags, tuple(manual_tags))
    kind = next(t.slug for t in tags if t.group is TagGroup.KIND)
    dates: dict[tuple[str, object], KeyDate] = {}
    for item in (lead, *others):
        for kd in extract_dates(f"{item.title}\n{item.text}", item.published_at):
            first = dates.setdefault((kd.what, kd.date), kd)
            if first is not kd and (first.at_time is None or first.place is None):
                # One copy may give the time and another the place.
                dates[kd.what, kd.date] = replace(
                    first, at_time=first.at_time or kd.at_time, place=first.place or kd.place)
    return StoryContent(title=lead.title, summary=summarize(lead),
                        url=lead.canonical_url or lead.url, kind=kind,
                        tags=tags, dates=tuple(sorted(dates.values(),
                                                      key=lambda d: (d.date, d.what))))


def _apply_manual(auto: tuple[Tag, ...], manual: tuple[Tag, ...]) -> tuple[Tag, ...]:
    """Manual tags win: in a group where comms set tags by hand, the rules' tags of that
    group are dropped (comms chose that group's tags whole); other groups keep the rules'."""
    if not manual:
        return auto
    manual_groups = {t.group for t in manual}
    kept = [t for t in auto if t.group not in manual_groups]
    return (*manual, *kept)
