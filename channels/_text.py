"""Shared text helpers for channels: fitting declared limits and formatting tags and dates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from bot.model import KeyDate, Story, TagGroup
from bot.text import truncate

__all__ = ["date_line", "date_lines", "fit", "fit_escaped", "tag_labels"]

#: How a key date reads once it is gone: "Applications closed Mon 07 Sep 2026".
PASSED = {"applications-open": "Applications opened", "applications-close": "Applications closed",
          "deadline": "Deadline passed", "event": "Event was on"}


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


def date_line(kd: KeyDate, today: date | None = None) -> str:
    """'Applications open: Thu 27 Aug 2026'; an event with its time and place when known,
    'Event: Thu 24 Sep 2026, 09:30–13:00, the Brew House, Preston'; a date before ``today``
    as gone, 'Applications closed Mon 07 Sep 2026', never as one to come. Not escaped."""
    what = kd.what.replace("-", " ")
    what = f"{what[:1].upper()}{what[1:]}"
    if today is not None and kd.date < today:
        return f"{PASSED.get(kd.what, what + ' (passed)')} {kd.date:%a %d %b %Y}"
    return ", ".join([f"{what}: {kd.date:%a %d %b %Y}",
                      *(part for part in (kd.at_time, kd.place) if part)])


def date_lines(dates: Sequence[KeyDate], today: date, limit: int) -> list[str]:
    """Up to ``limit`` date lines, the dates to come first: a passed date takes room only
    when there is some left."""
    coming = [kd for kd in dates if kd.date >= today]
    gone = [kd for kd in dates if kd.date < today]
    return [date_line(kd, today) for kd in (*coming, *gone)[:limit]]
