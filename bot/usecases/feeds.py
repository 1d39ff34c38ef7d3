"""Adding a feed: the one operation behind ``herald feeds add`` and the web app's feed form.

Both faces read their input into a ``NewFeed`` (``new_feed``: the address's scheme or the
local file, the name, the interval), then ``check_feed`` refuses a feed that is already
there (same name, or the same canonical address), sends the address through Herald's SSRF
guard, fetches it once and parses it; ``add_checked`` stores it. ``add_feed`` does all of
it. Each refusal is one message, the same from either face: ``FeedRefused`` (bad input,
with the ``field`` it is about), ``StoreError`` (already there) or the fetch's own
``SourceError`` (refused by the guard, an HTTP error, not a feed).

Only the command line may add a local file (``allow_local``): the web app must not read
the server's files on a visitor's word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.config import NAME_PATTERN
from bot.durations import format_duration, parse_duration
from bot.errors import HeraldError, StoreError
from bot.sources.fetch import is_remote, local_path
from bot.urls import canonical_url, redact_url

if TYPE_CHECKING:
    from bot.app import Herald
    from bot.model import Item
    from bot.store import SourceRow

#: The shortest poll interval either face accepts.
MIN_EVERY = timedelta(minutes=1)


class FeedRefused(HeraldError, ValueError):
    """Input that names no feed Herald can add; ``field`` is the input it is about
    (``url``, ``name`` or ``every``), for a face to point at its own option or field."""

    default_message = "not a feed Herald can add"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewFeed:
    """A feed to add, its input checked: an http(s) URL or an absolute local path."""

    name: str
    url: str
    every: timedelta


@dataclass(frozen=True)
class FeedCheck:
    """What one fetch of a new feed found: its entries (the first ten kept to show)."""

    feed: NewFeed
    count: int
    final_url: str
    items: tuple[Item, ...]


def name_from(location: str) -> str:
    """A feed name from its address: the host without ``www.``, or a file's stem."""
    if "://" in location:
        try:
            base = (urlsplit(location).hostname or "").removeprefix("www.")
        except ValueError:
            base = ""
    else:
        base = Path(location).stem
    return re.sub(r"[^a-z0-9_-]+", "-", base.lower()).strip("-_")[:60] or "feed"


def new_feed(location: str, name: str | None = None, every: str | None = None, *,
             allow_local: bool = False) -> NewFeed:
    """The checked input of a new feed; FeedRefused names what is wrong. No network: a
    local path (``allow_local``) must exist and is made absolute."""
    location = location.strip()
    if not location:
        raise FeedRefused("a feed address is needed", field="url")
    if allow_local and "://" not in location:
        path = Path(location).expanduser()
        if not path.is_file():
            what = "is a folder, not a feed file" if path.is_dir() else "no such file"
            raise FeedRefused(f"{location}: {what}", field="url")
        location = str(path.resolve())
    elif not is_remote(location):
        raise FeedRefused(f"{redact_url(location)}: a feed address must start with http:// "
                          "or https://", field="url")
    name = (name or "").strip().lower() or name_from(location)
    if not re.match(NAME_PATTERN, name):
        raise FeedRefused(f"{name!r} is not a valid name: lowercase letters, digits, -, _ "
                          "and ., starting with a letter or digit", field="name")
    try:
        interval = parse_duration((every or "").strip() or "15m")
    except ValueError as exc:
        raise FeedRefused(f"poll interval: {exc}", field="every") from None
    if interval < MIN_EVERY:
        raise FeedRefused(f"poll interval {format_duration(interval)} is too short: poll a "
                          "feed at most once a minute", field="every")
    return NewFeed(name, location, interval)


def check_feed(herald: Herald, feed: NewFeed) -> FeedCheck:
    """Refuse a feed that is already there, or that the SSRF guard, its server or the
    parser refuses; otherwise what one fetch found. Blocking: the network."""
    from bot.sources.feed import read_once

    _not_there(herald, feed.name, feed.url)
    if is_remote(feed.url):
        herald.guard.check(feed.url)
    final_url, items = read_once(feed.url, source=feed.name, client=herald.client,
                                 max_body=herald.settings.config.http.max_body,
                                 collected_at=herald.clock.now())
    if final_url != feed.url:
        _not_there(herald, feed.name, final_url)
    return FeedCheck(feed, len(items), final_url, tuple(items[:10]))


def add_checked(herald: Herald, check: FeedCheck, *, announce_backlog: bool = False
                ) -> SourceRow:
    """Store a feed ``check_feed`` passed (looking again for a copy added meanwhile)."""
    feed = check.feed
    _not_there(herald, feed.name, feed.url)
    return herald.store.add_source(feed.name, feed.url, feed.every, herald.clock.now(),
                                   announce_backlog=announce_backlog)


def add_feed(herald: Herald, feed: NewFeed, *, announce_backlog: bool = False
             ) -> tuple[SourceRow, FeedCheck]:
    """Check a new feed and store it: the whole of ``herald feeds add``."""
    check = check_feed(herald, feed)
    return add_checked(herald, check, announce_backlog=announce_backlog), check


def _same_address(herald: Herald, stored: str, url: str) -> bool:
    if is_remote(stored) or is_remote(url):
        return canonical_url(stored) is not None and canonical_url(stored) == canonical_url(url)
    base = herald.settings.base_dir
    return local_path(stored, base).resolve() == local_path(url, base).resolve()


def _not_there(herald: Herald, name: str, url: str) -> None:
    """StoreError when a feed has this name, or reads this address already."""
    for row in herald.store.list_sources():
        if row.name == name:
            raise StoreError(f"a feed named {name!r} already exists")
        if row.kind == "rss" and row.url and _same_address(herald, row.url, url):
            raise StoreError(f"feed {row.name!r} already reads {redact_url(url)}")
