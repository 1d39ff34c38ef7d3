"""Exact duplicate detection: which stored story, if any, a new item belongs to.

An item joins an existing story when, in this order:

1. the same source already has the same entry id (that is the same entry, maybe edited);
2. any source has an item about the same canonical URL;
3. any source has an item with the same normalised title-and-text fingerprint.

Fuzzy, cross-source merging (similar wording, shared short links) is a separate,
conservative step built on top of this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.model import Item
from bot.pipeline.normalize import url_keys
from bot.text import fingerprint


@dataclass(frozen=True)
class MatchKeys:
    """The lookup keys of one item."""

    urls: frozenset[str]
    fingerprint: str | None


def match_keys(item: Item) -> MatchKeys:
    return MatchKeys(url_keys(item), fingerprint(item.title, item.text))


def find_story(keys: MatchKeys, by_url: Mapping[str, int],
               by_fingerprint: Mapping[str, int]) -> tuple[int | None, str]:
    """The story an item with these keys belongs to, and why ("" when it is new)."""
    for url in sorted(keys.urls):
        if url in by_url:
            return by_url[url], f"same URL {url}"
    if keys.fingerprint and keys.fingerprint in by_fingerprint:
        return by_fingerprint[keys.fingerprint], "same title and text"
    return None, ""


def content_changed(old: Item, new: Item) -> bool:
    """True when an entry seen again was edited in a way readers would notice."""
    return (old.title, old.text, old.canonical_url) != (new.title, new.text, new.canonical_url)
