"""The comms team's own announcements: validation, Markdown, and the story they become.

An announcement is written in the web app (or through ``/api``), previewed, approved,
and then handed to the same outbox as collected stories: approval writes a story whose
tags are the ones comms chose, and one delivery per chosen target, due at the send
time. Everything here is pure; ``bot.store._queue`` keeps the rows.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.errors import HeraldError
from bot.model import Item, Link, RawRef, Story, Tag, TagGroup
from bot.pipeline.dates import extract_dates
from bot.pipeline.story import summarize
from bot.text import bound_html, html_to_text, one_line, sanitize_html
from bot.urls import canonical_url

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

#: The source name a queued announcement's item carries (shown as its source).
QUEUE_SOURCE = "comms"
TITLE_MAX = 200
BODY_MAX = 20_000
URL_MAX = 2000
SEND_YEARS = (2000, 2200)


@functools.cache
def _markdown() -> MarkdownIt:
    """CommonMark without raw HTML: comms write Markdown, and any HTML in it is shown as
    text."""
    # Imported here: only announcements need it, and the store imports this module.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def markdown_html(body: str) -> str:
    """Markdown to HTML safe to show anywhere (nh3 after rendering, belt and braces).
    Emphasis nested thousands deep (``*a *a *a …``) is flattened to text first, as a
    feed's HTML is (:func:`bot.text.bound_html`): nh3 takes the square of the depth."""
    return sanitize_html(bound_html(_markdown().render(body))[0])


def markdown_text(body: str) -> str:
    """Markdown to plain text for channels that show text (Slack, Teams, the digest): list
    items keep a bullet, so a list still reads as one."""
    return html_to_text(_LIST_ITEM.sub("<li>• ", markdown_html(body)))


def _web_url(value: str | None, what: str, *, https_only: bool = False) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    schemes = ("https://",) if https_only else ("https://", "http://")
    if not value.startswith(schemes) or any(c.isspace() or ord(c) < 32 or ord(c) == 127
                                            for c in value):
        allowed = "an https:// address" if https_only else "an http:// or https:// address"
        raise ValueError(f"{what} must be {allowed}")
    if len(value) > URL_MAX:
        raise ValueError(f"{what} is longer than {URL_MAX} characters")
    return value


class Draft(BaseModel):
    """What comms write: checked here, whoever sends it (form or API)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    body: str = Field(default="", max_length=BODY_MAX)
    url: str | None = Field(default=None, description="link to read more (http or https)")
    image_url: str | None = Field(default=None, description="an https image URL")
    kind: str = Field(min_length=1, max_length=32)
    domains: list[str] = Field(default_factory=list)
    targets: list[str] = Field(min_length=1)
    send_at: datetime | None = Field(
        default=None, description="when to send (aware, or naive meaning Europe/London); "
                                  "none means as soon as it is approved")

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, value: str) -> str:
        value = one_line(value)
        if not value:
            raise ValueError("the title is empty")
        return value

    @field_validator("body")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("the text contains a NUL character")
        return value

    @field_validator("send_at", mode="before")
    @classmethod
    def _a_time(cls, value: object) -> object:
        """Typed text that is not a date and time is refused in plain words (not
        pydantic's "input is too short")."""
        if isinstance(value, str) and value.strip():
            try:
                datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"the send time ({one_line(value)[:40]}) is not a date and "
                                 f"time such as 2026-12-18 09:00") from None
        return value

    @field_validator("send_at")
    @classmethod
    def _sane_time(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if not SEND_YEARS[0] <= value.year <= SEND_YEARS[1]:
            raise ValueError(f"the send time must be between the years {SEND_YEARS[0]} and "
                             f"{SEND_YEARS[1]}")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _web_url(value, "the link")

    @field_validator("image_url")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        return _web_url(value, "the image URL", https_only=True)

    @field_validator("domains", "targets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip() for v in value if v.strip()))

    def check_against(self, *, kinds: list[str], domains: list[str],
                      targets: list[str]) -> None:
        """Raise ValueError naming the first value this instance does not know."""
        if self.kind not in kinds:
            raise ValueError(f"kind {self.kind!r} is not one of: {', '.join(kinds)}")
        for d in self.domains:
            if d not in domains:
                raise ValueError(f"domain {d!r} is not one of: {', '.join(domains)}")
        for t in self.targets:
            if t not in targets:
                raise ValueError(f"target {t!r} is not an enabled target: "
                                 f"{', '.join(targets) or '(none)'}")

    def send_at_utc(self, timezone: str = "Europe/London") -> datetime | None:
        if self.send_at is None:
            return None
        when = self.send_at
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(timezone))
        return when.astimezone(UTC)


_LIST_ITEM = re.compile(r"<li>(?:\s*<p>)?")


class PastSendTime(HeraldError, ValueError):
    """A send time that has already passed: refused, with "send now instead?" offered."""

    default_message = "the send time has passed"


class NoSuchTime(HeraldError, ValueError):
    """A local send time the clocks skip (the spring-forward gap)."""

    default_message = "that time does not exist"


def check_local_time(value: datetime, timezone: str) -> None:
    """Refuse (NoSuchTime) a local time that does not exist in ``timezone`` (the hour the
    clocks skip in spring) instead of moving it. A time that exists twice (the autumn hour)
    is taken as the first, in summer time: every time shown names its zone, so it says
    which one it is."""
    if value.tzinfo is not None:
        return
    zone = ZoneInfo(timezone)
    back = value.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != value:
        raise NoSuchTime(f"{value:%H:%M} on {value.day} {value:%b %Y} does not exist in "
                         f"{timezone}: the clocks go forward then; choose another time")


def check_send_time(draft: Draft, now: datetime, timezone: str = "Europe/London") -> None:
    """Refuse (PastSendTime) a send time before ``now``: a scheduled post must never go out
    early by surprise; the author chooses "as soon as approved" instead. A local time the
    clocks skip is refused too (NoSuchTime)."""
    if draft.send_at is not None:
        check_local_time(draft.send_at, timezone)
    due = draft.send_at_utc(timezone)
    if due is not None and due < now:
        raise PastSendTime(f"the send time ({when_text(due, now, timezone)}) is in the past: "
                           "choose a later time, or send it as soon as it is approved")


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def relative(value: datetime, now: datetime) -> str:
    """"in 2 days", "3 hours ago", "just now": how far ``value`` is from ``now``."""
    seconds = (value - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        return "just now"
    if span < 3600:
        words = _count(round(span / 60) or 1, "minute")
    elif span < 86400:
        words = _count(round(span / 3600), "hour")
    elif span < 14 * 86400:
        words = _count(round(span / 86400), "day")
    elif span < 60 * 86400:
        words = _count(round(span / (7 * 86400)), "week")
    elif span < 730 * 86400:
        words = _count(round(span / (30 * 86400)), "month")
    else:
        words = _count(round(span / (365 * 86400)), "year")
    return f"in {words}" if seconds > 0 else f"{words} ago"


def absolute(value: datetime, now: datetime, timezone: str = "Europe/London") -> str:
    """"Fri 4 Dec 09:00 GMT": the local time with its zone (and the year when it is not
    this year's)."""
    zone = ZoneInfo(timezone)
    local = value.astimezone(zone)
    year = "" if local.year == now.astimezone(zone).year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M} {local.tzname() or ''}".rstrip()


def when_text(value: datetime, now: datetime, timezone: str = "Europe/London") -> str:
    """"in 2 days, Fri 4 Dec 09:00 GMT": every time the staff see names its zone and says
    how far off it is."""
    return f"{relative(value, now)}, {absolute(value, now, timezone)}"



def announcement_item(announcement_id: int | None, draft: Draft, author: str | None,
                      published_at: datetime, now: datetime) -> Item:
    """The item an announcement contributes to its story."""
    html = markdown_html(draft.body)
    links = (Link(draft.url, None, "about"),) if draft.url else ()
    return Item(source=QUEUE_SOURCE, source_item_id=f"announcement-{announcement_id or 0}",
                url=draft.url, canonical_url=canonical_url(draft.url), title=draft.title,
                text=markdown_text(draft.body), html=html, author=author,
                published_at=published_at, collected_at=now, links=links,
                source_kind="queue",
                # The Markdown as written: channels draw it for each place (channels._markdown).
                raw=RawRef("text/markdown", draft.body) if draft.body.strip() else None)


def announcement_story(draft: Draft, item: Item, *, labels: dict[str, str],
                       chosen_by: str, story_id: int | None = None,
                       now: datetime | None = None) -> Story:
    """The story an announcement becomes: comms' own kind and domains (manual tags), the
    key dates found in its text, and its image."""
    reason = f"chosen by {chosen_by}"
    tags = (Tag(TagGroup.KIND, draft.kind, reason, manual=True),
            *(Tag(TagGroup.DOMAIN, d, reason, manual=True) for d in draft.domains))
    dates = tuple(sorted(extract_dates(f"{item.title}\n{item.text}", item.published_at),
                         key=lambda d: (d.date, d.what)))
    when = now or item.collected_at
    return Story(id=story_id, title=draft.title, summary=summarize(item),
                 url=item.canonical_url or item.url,
                 kind=draft.kind, tags=tags, dates=dates, items=(item,), first_seen=when,
                 updated_at=when, image_url=draft.image_url)
