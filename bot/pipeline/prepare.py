"""Prepare: what ingest computes from one entry alone, computed before (and away from) the store.

For each entry of a feed, ingest needs its match keys (:mod:`bot.pipeline.dedupe`), its
merge features and index terms (:mod:`bot.pipeline.similar`, the programmes read by the
taxonomy), and, when the entry makes a story on its own, that story's content
(:func:`bot.pipeline.story.compose` of the one item: tags, kind, key dates). None of it
reads the store, so it can run in a pool of processes (:mod:`bot.pipeline.pool`) on
every core while the parent writes; ingest takes the result as it is
(``Store.ingest(prepared=...)``) and computes only what needs the store.

This module is what a pool child imports: the feed parser and the pure pipeline, never
SQLAlchemy, httpx or pydantic (``tests/test_lazy_imports.py`` holds it to that). A child
reads the taxonomy and the tagger's weights from their files (:class:`TaxonomySpec`), and
refuses to work with files that changed since the parent read them (the parent then
prepares that feed itself, with the taxonomy it routes with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from bot.model import Item, TagGroup
from bot.pipeline.dedupe import MatchKeys, match_keys
from bot.pipeline.similar import Features, features, index_terms
from bot.pipeline.story import StoryContent, compose
from bot.pipeline.tagging import Taxonomy


def bundled_weights() -> Path:
    """The tagger weights shipped with Herald (what ``load_tagger(None)`` reads)."""
    from importlib import resources

    from bot.pipeline.learned import BUNDLED

    return Path(str(resources.files("bot.pipeline").joinpath(BUNDLED)))


class StaleTaxonomy(RuntimeError):
    """The taxonomy or weights file changed since the parent read it."""


@dataclass(frozen=True)
class Prepared:
    """What ingest needs of one entry, besides the store: its lookup keys, its merge
    features and index terms (``None`` and empty where merging is off), and the content of
    a story made of this entry alone."""

    keys: MatchKeys
    features: Features | None
    terms: tuple[str, ...]
    content: StoryContent


def item_features(item: Item, taxonomy: Taxonomy) -> Features:
    """An item's merge features: its words, dates and links, and the programmes it names."""
    return features(item, taxonomy.matching(TagGroup.PROGRAMME, item.title, item.text))


def item_terms(feats: Features, taxonomy: Taxonomy) -> list[str]:
    """The distinct terms an item is filed under (see ``index_terms``)."""
    return list(dict.fromkeys(index_terms(feats, common=taxonomy.is_common)))


def prepare_items(items: Sequence[Item], taxonomy: Taxonomy, *, merge: bool) -> list[Prepared]:
    """Each item prepared, in order (``merge``: whether ingest merges across sources)."""
    out = []
    for item in items:
        feats = item_features(item, taxonomy) if merge else None
        out.append(Prepared(
            keys=match_keys(item), features=feats,
            terms=tuple(item_terms(feats, taxonomy)) if feats is not None else (),
            content=compose([item], taxonomy, ())))
    return out


@dataclass(frozen=True)
class TaxonomySpec:
    """Where a child reads the taxonomy the parent routes with: the rules file and the
    tagger's weights (``None``: rules only), each with the digest of its content when the
    parent read it (a file merely touched, or saved unchanged, is the same file)."""

    taxonomy: str
    taxonomy_digest: str
    tagger: str | None = None
    tagger_digest: str | None = None

    @classmethod
    def of(cls, taxonomy: Path, tagger: Path | None) -> TaxonomySpec:
        """The spec of these files as they are now."""
        return cls(str(taxonomy), _digest(taxonomy),
                   str(tagger) if tagger is not None else None,
                   _digest(tagger) if tagger is not None else None)

    def load(self) -> Taxonomy:
        """The taxonomy the parent read (raises :class:`StaleTaxonomy` if a file changed)."""
        return _load(self)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=2)
def _load(spec: TaxonomySpec) -> Taxonomy:
    from bot.pipeline.learned import load_tagger
    from bot.pipeline.tagging import load_taxonomy

    rules_path = Path(spec.taxonomy)
    if _digest(rules_path) != spec.taxonomy_digest:  # read once a child, as the parent did
        raise StaleTaxonomy(f"{spec.taxonomy} changed since Herald read it")
    rules = load_taxonomy(rules_path)
    if spec.tagger is None:
        return rules
    weights = Path(spec.tagger)
    if _digest(weights) != spec.tagger_digest:
        raise StaleTaxonomy(f"{spec.tagger} changed since Herald read it")
    return rules.with_model(load_tagger(weights))


def parse_and_prepare(body: bytes, spec: TaxonomySpec, *, merge: bool, source: str,
                      url: str, collected_at: datetime, content_type: str | None,
                      headers: Mapping[str, str]
                      ) -> tuple[list[Item], list[Prepared], list[str]]:
    """A feed's entries (as :func:`bot.sources.feed.parse_feed` reads them), each one
    prepared, and the parse's notes: what a pool child runs for one changed feed."""
    from bot.sources.feed import parse_feed

    try:
        taxonomy = spec.load()
    except StaleTaxonomy:
        raise
    except Exception as exc:  # the parent read these files: not the feed's fault
        raise StaleTaxonomy(f"cannot read the taxonomy: {exc}") from None
    notes: list[str] = []
    items = parse_feed(body, source=source, url=url, collected_at=collected_at,
                       content_type=content_type, headers=dict(headers), notes=notes)
    return items, prepare_items(items, taxonomy, merge=merge), notes
