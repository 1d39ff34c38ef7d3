"""What the public outputs show: the published stories and their key dates, the same for
the calendar (:mod:`bot.calendar_ics`) and the feeds out (:mod:`bot.feeds_out`).

Published is the release gate's word, not ours, asked of the digest: a story whose digest
delivery the gate lets out now (``Store.published_stories``). The digest is the academy's
news to anyone who subscribes, so what it may carry is public; an announcement comms
approved only for a staff Slack or Teams channel is not. So nothing held, merged away,
embargoed, announced nowhere or kept to staff channels reaches a calendar or a feed, and a
story appears there when it may first reach the digest. With the digest off, a story the
routes sent anywhere (never comms' own, which go only where comms chose).

Bounds: the calendar carries the stories first seen in the last :data:`CALENDAR_DAYS` days
and every story with a key date still to come, at most :data:`CALENDAR_MAX`; a feed the
newest :data:`FEED_SIZE` by publication time.

Everything here is plain text, unescaped: each output escapes it for its format. Text is
cleaned of control characters that XML cannot carry (:func:`clean`), which would make a
feed ill-formed, and that no calendar needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.config import brand_name
from bot.model import KeyDate, Story, TagGroup
from bot.release import DIGEST

if TYPE_CHECKING:
    from bot.app import Herald

CALENDAR_DAYS = 90
CALENDAR_MAX = 500
FEED_SIZE = 50

#: How a key date reads in a title or a summary: "Applications close".
WHAT_WORDS: dict[str, str] = {"applications-open": "Applications open",
                              "applications-close": "Applications close",
                              "deadline": "Deadline", "event": "Event"}
# C0 controls but tab and newline, and the two non-characters XML 1.0 forbids.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Text any XML 1.0 document and any calendar can carry: control characters (but tab
    and newline) and lone surrogates removed, CR LF and CR made newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATE.sub("", _ILLEGAL.sub("", text))


def one_line(text: str) -> str:
    """:func:`clean` text on one line, its whitespace runs made single spaces."""
    return " ".join(clean(text).split())


def what_words(what: str) -> str:
    return WHAT_WORDS.get(what, what.replace("-", " ").capitalize())


def day_words(day: date) -> str:
    """'Fri 18 Dec 2026': always with the year (a feed is read long after)."""
    return f"{day:%a} {day.day} {day:%b} {day.year}"


def date_line(kd: KeyDate) -> str:
    """'Applications close Fri 18 Dec 2026', an event with its time and place."""
    parts = [f"{what_words(kd.what)} {day_words(kd.date)}"]
    parts += [one_line(p) for p in (kd.at_time, kd.place) if p and one_line(p)]
    return ", ".join(parts)


def web_link(url: str | None) -> str | None:
    """The story's link when it is an http(s) address, else None."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class Site:
    """Who publishes and where: the academy's name, Herald's public address (``[digest]
    base_url``), the labels of the tags and the worker's time zone."""

    name: str
    base_url: str
    timezone: str
    labels: dict[str, str]
    domains: tuple[str, ...]

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "herald.invalid"

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def label(self, slug: str) -> str:
        return self.labels.get(slug, slug)

    def title(self, domain: str | None) -> str:
        """'North West Leadership Academy', or '… — Learning capacity' for a domain."""
        return f"{self.name} — {self.label(domain)}" if domain else self.name


def site_of(herald: Herald) -> Site:
    cfg = herald.settings.config
    return Site(name=brand_name(cfg), base_url=cfg.digest.base_url,
                timezone=cfg.worker.timezone,
                labels={r.slug: r.label for r in herald.taxonomy.rules},
                domains=tuple(herald.taxonomy.slugs("domain")))


@dataclass(frozen=True)
class Entry:
    """A published story as the outputs show it."""

    story: Story
    published: datetime
    updated: datetime

    @property
    def id(self) -> int:
        assert self.story.id is not None
        return self.story.id

    @property
    def title(self) -> str:
        return one_line(self.story.title) or f"Story {self.id}"

    @property
    def summary(self) -> str:
        return clean(self.story.summary).strip()

    @property
    def link(self) -> str | None:
        return web_link(self.story.url)

    @property
    def dates(self) -> tuple[KeyDate, ...]:
        return tuple(sorted(self.story.dates, key=lambda kd: (kd.date, kd.what)))

    def tags(self) -> list[tuple[str, str]]:
        """(group, slug) of its kind, domains and programmes, in that order."""
        order = {TagGroup.KIND: 0, TagGroup.DOMAIN: 1, TagGroup.PROGRAMME: 2}
        return [(t.group.value, t.slug) for t in sorted(
            (t for t in self.story.tags if t.group in order), key=lambda t: order[t.group])]

    def tag_uri(self, site: Site) -> str:
        """A stable id (RFC 4151): the host and the day the story was first seen."""
        return f"tag:{site.host},{self.story.first_seen:%Y-%m-%d}:story-{self.id}"


def today(site: Site, now: datetime) -> date:
    return now.astimezone(ZoneInfo(site.timezone)).date()


def public_target(herald: Herald) -> str | None:
    """What makes a story public: released to the weekly digest (the academy's news to
    anyone who subscribes), so an announcement comms approved only for a staff Slack or
    Teams channel stays inside. Without the digest: None, released anywhere by the routes
    (never comms' own announcements, which go only where comms chose)."""
    return DIGEST if DIGEST in herald.targets else None


def entries(herald: Herald, now: datetime, *, domain: str | None,
            calendar: bool) -> list[Entry]:
    """The published stories a calendar (``calendar``) or a feed carries, newest first."""
    store = herald.store
    via = public_target(herald)
    if calendar:
        found = store.published_stories(now, domain=domain,
                                        since=now - timedelta(days=CALENDAR_DAYS),
                                        dates_from=today(site_of(herald), now),
                                        limit=CALENDAR_MAX, via=via)
    else:
        found = store.published_stories(now, domain=domain, limit=FEED_SIZE, via=via)
    stories = {s.id: s for s in store.list_stories(ids=[sid for sid, _ in found])}
    return [Entry(stories[sid], published, max(published, stories[sid].updated_at))
            for sid, published in found if sid in stories]
