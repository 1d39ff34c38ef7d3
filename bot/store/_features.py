"""Merge features kept with each stored item, so a candidate costs a decode, not a re-read.

Finding the story a new item belongs to compares its :class:`Features` with those of up
to ``max_candidates`` stored items. Computing a stored item's features again from its
text (words, key dates, links, programmes) costs about a millisecond each; decoding them
from ``items.features`` costs microseconds, and does not grow with the store.

The stored form is compact JSON tagged with a key: the version of the feature code and a
digest of the taxonomy's programme rules (programmes are a feature). A stored value with
another key (written by an older Herald, or before the programmes were edited) is not
used: the features are computed from the row again, as for items stored before there
was a column.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import lru_cache

from bot.model import TagGroup
from bot.pipeline.similar import Features
from bot.pipeline.tagging import Taxonomy

#: Bump when :func:`bot.pipeline.similar.features` would give other features for the
#: same item: every stored value is then recomputed when next compared.
#: 2: key dates read weekdays anew (#13): "this month" is no Monday, "on Thursday" is a
#: date, "this Thursday 24 September" one date.
#: 3: features know whether their item is dated, and reposts link the post they repeat
#: (#13, merging that holds on any text).
#: 4: a year-less date takes the year of a later date in its sentence.
#: 5: a year-less date with its weekday takes the year where it falls on that weekday.
#: 6: features name the cohorts, intakes and rounds a text gives.
#: 7: a date with its hours is an event without a cue word.
#: 8: a range's first day is a key date too ("1 to 3 June": 1 June as well as 3 June).
VERSION = 8


@lru_cache(maxsize=8)
def features_key(taxonomy: Taxonomy) -> str:
    """The key stored features are valid under: code version and programme rules."""
    rules = [(r.slug, r.min_score, [(t.source, t.weight) for t in r.terms])
             for r in taxonomy.rules if r.group is TagGroup.PROGRAMME]
    digest = hashlib.sha256(repr(rules).encode()).hexdigest()[:12]
    return f"{VERSION}:{digest}"


def encode(feats: Features, key: str) -> str:
    """The stored form of an item's features."""
    return json.dumps([
        key, sorted(feats.words), sorted(feats.years),
        sorted([what, day.isoformat()] for what, day in feats.dates),
        sorted(feats.own_urls), sorted(feats.links), sorted(feats.programmes),
        feats.dated, feats.title, sorted(feats.cohorts),
    ], ensure_ascii=False, separators=(",", ":"))


# Decoded features are large (frozensets of words, ~9 KB with the stored text as key) and
# rarely asked for twice: on the benchmark's first collection (200 × 50 entries) 256 entries
# answered 10% of calls and held ~4 MB; 32 answer 6%, and a miss is one json.loads.
@lru_cache(maxsize=32)
def decode(stored: str | None, key: str) -> Features | None:
    """Features from their stored form, or None when there are none valid under ``key``
    (then they are computed from the item). A value that is not what :func:`encode`
    writes counts as none: it is never trusted over the item itself."""
    if not stored:
        return None
    try:
        k, words, years, dates, own, links, programmes, dated, title, cohorts = json.loads(
            stored)
        if k != key:
            return None
        return Features(
            words=frozenset(words), years=frozenset(years),
            dates=frozenset((what, date.fromisoformat(day)) for what, day in dates),
            own_urls=frozenset(own), links=frozenset(links),
            programmes=frozenset(programmes), dated=bool(dated), title=str(title),
            cohorts=frozenset(cohorts))
    except (ValueError, TypeError):
        return None
