"""What a post says besides its text, the same in every place: the key date, the button,
who it is from, and its tags in one line. All returned unescaped: each place escapes.

The choices are data, not branches: :data:`KEY_DATE_ORDER` says which date matters most
for a kind, ``[brand] buttons`` (bot.config.BrandConfig) the button's label for a kind,
and a source's display name comes from :func:`source_name` (the name known for it, else
its slug made readable).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

from bot.model import KeyDate, Story, TagGroup
from channels._text import PASSED

#: For each kind, the dates that matter most to a reader, best first. The key date is the
#: next one to come of the first of these the story has; else the next date to come.
KEY_DATE_ORDER: dict[str, tuple[str, ...]] = {
    "cohort-opening": ("applications-close", "deadline", "applications-open", "event"),
    "coaching-offer": ("applications-close", "deadline", "event", "applications-open"),
    "event": ("event", "applications-close", "deadline"),
    "vacancy": ("deadline", "applications-close"),
}
#: How a date to come reads: "Applications close Fri 18 Dec".
COMING: dict[str, str] = {"applications-open": "Applications open",
                          "applications-close": "Applications close",
                          "deadline": "Deadline", "event": "Event"}
CALENDAR = "\U0001f4c5"


def key_date(story: Story, today: date) -> KeyDate | None:
    """The date a reader most needs, by the story's kind: the next to come of the kind's
    preferred dates, else the next date to come, else the latest one gone."""
    coming = sorted((kd for kd in story.dates if kd.date >= today), key=lambda kd: kd.date)
    for what in KEY_DATE_ORDER.get(story.kind, ()):
        found = next((kd for kd in coming if kd.what == what), None)
        if found is not None:
            return found
    if coming:
        return coming[0]
    gone = sorted(story.dates, key=lambda kd: kd.date)
    return gone[-1] if gone else None


def when(day: date, today: date) -> str:
    """'Fri 18 Dec', with the year when it is not this year's."""
    return f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if day.year != today.year else "")


def date_text(kd: KeyDate, today: date) -> str:
    """'Applications close Fri 18 Dec'; an event with its time and place; a date gone as
    gone ('Applications closed Mon 7 Sep')."""
    what = kd.what.replace("-", " ").capitalize()
    if kd.date < today:
        return f"{PASSED.get(kd.what, what + ' (passed)')} {when(kd.date, today)}"
    return ", ".join([f"{COMING.get(kd.what, what)} {when(kd.date, today)}",
                      *(part for part in (kd.at_time, kd.place) if part)])


def key_date_line(story: Story, today: date) -> str:
    """'📅 Applications close Fri 18 Dec', or '' when the story has no date."""
    kd = key_date(story, today)
    return f"{CALENDAR} {date_text(kd, today)}" if kd else ""


def other_dates(story: Story, today: date, limit: int = 2) -> list[str]:
    """The story's other dates (after the key date), those to come first."""
    kd = key_date(story, today)
    rest = [d for d in story.dates if d is not kd]
    # Those to come, soonest first; then those gone, latest first.
    ordered = sorted(rest, key=lambda d: (d.date < today, abs((d.date - today).days)))
    return [date_text(d, today) for d in ordered[:limit]]


def readable(slug: str) -> str:
    """A slug made readable: 'academy-news' reads 'Academy news' (anything that is not a
    slug is left as it is)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", slug):
        return slug
    words = " ".join(slug.replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else slug


def source_name(slug: str, names: Mapping[str, str], brand: str = "") -> str:
    """A source's display name: the one known for it (``names``: from the feeds' display
    names, when Herald has them), comms' own as the academy's name, else the slug made
    readable."""
    known = names.get(slug)
    if known and known.strip():
        return " ".join(known.split())
    if slug == "comms" and brand:
        return brand
    return readable(slug)


def byline(story: Story, names: Mapping[str, str], brand: str) -> str:
    """'North West Leadership Academy · Academy news, Academy posts': the academy, then
    where the story came from (the academy's own announcement: its name once)."""
    sources = [source_name(s, names, brand) for s in story.sources]
    shown = [s for s in dict.fromkeys(sources) if s != brand]
    return " · ".join(part for part in (brand, ", ".join(shown)) if part)


def tag_line(story: Story, labels: Mapping[str, str]) -> str:
    """Kind, domains and programmes in one line: 'Event · Learning capacity · Ready Now'."""
    parts: Sequence[str] = [labels.get(story.kind, readable(story.kind)),
                            *(labels.get(t.slug, t.slug) for t in story.tags
                              if t.group in (TagGroup.DOMAIN, TagGroup.PROGRAMME))]
    return " · ".join(dict.fromkeys(p for p in parts if p))
