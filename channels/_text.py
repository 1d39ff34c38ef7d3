"""Shared text helpers for channels: fitting declared limits and formatting tags and dates."""

from __future__ import annotations

from collections.abc import Callable

from bot.model import KeyDate, Story, TagGroup
from bot.text import truncate

__all__ = ["date_line", "fit", "fit_escaped", "tag_labels"]


def fit(text: str, limit: int) -> str:
    """Text cut to a channel's limit at a word boundary (see bot.text.truncate)."""
    return truncate(" ".join(text.split()) if "\n" not in text else text.strip(), limit)


def fit_escaped(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """Cut first, then escape, so a cut never splits an escape (``&am…``); cut harder while
    the escaped text is still over the limit."""
    budget = limit
    out = escape(fit(text, budget))
    while len(out) > limit and budget > 0:
        budget -= max(1, len(out) - limit)
        out = escape(fit(text, budget))
    return out


def tag_labels(story: Story, labels: dict[str, str], *groups: TagGroup) -> list[str]:
    """Display labels of a story's tags in the given groups, in stored order."""
    wanted = groups or (TagGroup.DOMAIN, TagGroup.PROGRAMME)
    return [labels.get(t.slug, t.slug) for t in story.tags if t.group in wanted]


def date_line(kd: KeyDate) -> str:
    """'Applications open: Thu 27 Aug 2026'."""
    what = kd.what.replace("-", " ")
    return f"{what[:1].upper()}{what[1:]}: {kd.date:%a %d %b %Y}"
