"""Possible duplicates of a story, as the merge engine itself sees them.

For a story page's "Possible duplicates": the stories whose items the merge engine would
look at if this story's items came in now, scored with the engine's own features and
rules (:mod:`bot.pipeline.similar`). Candidates are found as ingest finds them (the
item's index terms looked up in ``item_terms`` within ``strong_window``, rarest terms
first, see ``bot.store._ingest``); each pair of a lead item of this story and a
candidate item is then compared by ``same_announcement`` and word containment. The best
pair stands for its story. Stories the engine would merge come first, then those sharing
a link, then by word score; those with neither and few words in common are left out.

Nothing here merges: comms decide, through ``merge_stories``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.model import Story
from bot.pipeline.similar import (
    Features,
    MergeConfig,
    containment,
    links_to_page,
    same_announcement,
)
from bot.store import _features as stored_features
from bot.store._common import row_to_item
from bot.store._ingest import (
    _CANDIDATES,
    _COUNTS,
    LOOKUP_BUDGET,
    RoutingContext,
    _features,
    _lookup_terms,
    _terms,
)
from bot.store.schema import items as t_items

#: This story's items compared: its first ones (its lead items and a few more).
COMPARED_ITEMS = 5
#: Below this word score, a candidate the engine would not merge and that shares no link
#: is not offered: a few common words in common ("leaders", "system") are no lead.
MIN_SCORE = 0.2


@dataclass(frozen=True)
class Duplicate:
    """A story that may announce the same thing, with the engine's evidence."""

    story_id: int
    #: Share of the smaller item's words found in the other (the engine's measure).
    score: float
    shared: int
    #: The engine would merge the two items if they came in now.
    would_merge: bool
    #: The engine's own reason, for or against ("similar words (0.83, 12 shared)").
    verdict: str
    #: Short evidence: "same link", "same key date", "title 0.72", "words 0.83".
    reasons: tuple[str, ...]
    linked: bool = False
    story: Story | None = field(default=None, compare=False)

    @property
    def rank(self) -> tuple[bool, bool, float, int]:
        """Sort key, best first."""
        return (not self.would_merge, not self.linked, -self.score, self.story_id)


def _read_features(conn: Connection, ids: Collection[int], ctx: RoutingContext
                   ) -> dict[int, tuple[int, datetime, Features]]:
    """Items' stories, publication times and merge features, by item id; features stored
    under another taxonomy or code version are computed afresh (and not written: this is
    a page being read, ingest refreshes them)."""
    if not ids:
        return {}
    key = stored_features.features_key(ctx.taxonomy)
    found: dict[int, tuple[int, datetime, Features]] = {}
    stale: list[int] = []
    c = t_items.c
    for item_id, story_id, published_at, stored in conn.execute(select(
            c.id, c.story_id, c.published_at, c.features).where(c.id.in_(sorted(ids)))):
        feats = stored_features.decode(stored, key)
        if feats is None:
            stale.append(item_id)
        else:
            found[item_id] = (story_id, published_at, feats)
    if stale:
        for row in conn.execute(select(t_items).where(c.id.in_(stale))):
            found[row.id] = (row.story_id, row.published_at, _features(row_to_item(row), ctx))
    return found


def _evidence(a: Features, b: Features, score: float, shared: int) -> tuple[bool, list[str]]:
    reasons = []
    linked = bool(links_to_page(a, b) or a.links & b.links or a.own_urls & b.own_urls)
    if linked:
        reasons.append("same link")
    if a.dates & b.dates:
        reasons.append("same key date")
    if a.title and b.title:
        title, _ = containment(frozenset(a.title.split()), frozenset(b.title.split()))
        if title:
            reasons.append("same title" if a.title == b.title else f"title {title:.2f}")
    reasons.append(f"words {score:.2f} ({shared} shared)")
    return linked, reasons


def _candidate_ids(conn: Connection, feats: Features, published: datetime,
                   ctx: RoutingContext, cfg: MergeConfig) -> list[int]:
    """The items ingest would compare a new item with these features with."""
    terms = _terms(feats, ctx)
    links = [t for t in terms if t.startswith("u:")]
    words = [t for t in terms if not t.startswith("u:")]
    counts = dict(conn.execute(_COUNTS, {"terms": words}).all()) if words else {}
    chosen = _lookup_terms(words, counts)
    if not links and len(chosen) < 2:
        return []
    by_link: list[int] = []
    by_word: list[int] = []
    for item_id, n_links, overlap in conn.execute(_CANDIDATES, {
            "terms": links + chosen, "low": published - cfg.strong_window,
            "high": published + cfg.strong_window,
            "cap": LOOKUP_BUDGET + 2 * cfg.max_candidates}):
        if n_links:
            by_link.append(item_id)
        if overlap - n_links >= 2:
            by_word.append(item_id)
    return by_link[:cfg.max_candidates] + by_word[:cfg.max_candidates]


def find_duplicates(conn: Connection, story_id: int, ctx: RoutingContext,
                    limit: int = 5) -> list[Duplicate]:
    """Up to ``limit`` other live stories most like ``story_id``, best first (see the
    module docstring). Where merging is off in config, the default thresholds judge."""
    cfg = ctx.merge or MergeConfig()
    ctx = replace(ctx, merge=cfg)
    mine_ids = list(conn.execute(select(t_items.c.id).where(t_items.c.story_id == story_id)
                                 .order_by(t_items.c.id).limit(COMPARED_ITEMS)).scalars())
    mine = _read_features(conn, mine_ids, ctx)
    candidates: set[int] = set()
    for _sid, published, feats in mine.values():
        candidates.update(_candidate_ids(conn, feats, published, ctx, cfg))
    theirs = _read_features(conn, candidates - set(mine), ctx)
    best: dict[int, Duplicate] = {}
    for _sid, published, feats in mine.values():
        for their_story, their_published, their_feats in theirs.values():
            if their_story == story_id:
                continue
            same, why = same_announcement(feats, their_feats, cfg, published - their_published)
            score, shared = containment(feats.words, their_feats.words)
            linked, reasons = _evidence(feats, their_feats, score, shared)
            dup = Duplicate(their_story, score, shared, same, why, tuple(reasons), linked)
            if their_story not in best or dup.rank < best[their_story].rank:
                best[their_story] = dup
    offered = [d for d in best.values() if d.would_merge or d.linked or d.score >= MIN_SCORE]
    return sorted(offered, key=lambda d: d.rank)[:limit]
