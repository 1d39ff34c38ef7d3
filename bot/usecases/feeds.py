"""Adding and editing a feed: the operations behind ``herald feeds add``/``edit`` and the
web app's feed forms.

Both faces read their input into a ``NewFeed`` (``new_feed``: the address's scheme or the
local file, the display name, the name, the interval). The name, the slug Herald keys a
feed by, is made from the display name ("Academy news" -> ``academy-news``, with ``-2``
if that is taken) unless one is given; it never changes after. ``check_feed`` refuses a
feed that is already there (the name given, or the same canonical address), sends the
address through Herald's SSRF guard, fetches it once and parses it. An address that
answers with a web page is read for the feeds it links (``bot.usecases.discover``), each
fetched the same way: one that reads is the feed; several raise ``SeveralFeeds`` for the
face to offer the choice. ``add_checked`` stores it; ``add_feed`` does all of it.

Each refusal is one message, the same from either face: ``FeedRefused`` (bad input, with
the ``field`` it is about), ``StoreError`` (already there) or ``Unreadable`` (refused by
the guard, an HTTP error, not a feed), the last in plain words (``bot.sources.plain``) with
the technical text kept as its ``detail`` and logged.

Only the command line may add a local file (``allow_local``): the web app must not read
the server's files on a visitor's word. Editing is in ``bot.usecases.feed_edit``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.config import NAME_PATTERN
from bot.durations import format_duration, parse_duration
from bot.errors import HeraldError, ParseError, SourceError, StoreError
from bot.sources.fetch import Fetched, Validators, is_remote, local_path
from bot.sources.plain import unreadable
from bot.urls import canonical_url, redact_url

if TYPE_CHECKING:
    from bot.app import Herald
    from bot.model import Item
    from bot.store import SourceRow
    from bot.usecases.discover import FeedLink

log = logging.getLogger(__name__)

#: The shortest poll interval either face accepts.
MIN_EVERY = timedelta(minutes=1)
#: The longest display name kept.
MAX_DISPLAY_NAME = 120


class FeedRefused(HeraldError, ValueError):
    """Input that names no feed Herald can add; ``field`` is the input it is about
    (``url``, ``name``, ``display_name`` or ``every``), for a face to point at its own
    option or field."""

    default_message = "not a feed Herald can add"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewFeed:
    """A feed to add, its input checked: an http(s) URL or an absolute local path.
    ``name_given``: the name was asked for (refused if taken) rather than made."""

    name: str
    url: str
    every: timedelta
    display_name: str | None = None
    name_given: bool = True


@dataclass(frozen=True)
class FeedCheck:
    """What one fetch of a new feed found: its entries (the first ten kept to show), and
    the page it was found on when the address given was a web page (``site``)."""

    feed: NewFeed
    count: int
    final_url: str
    items: tuple[Item, ...]
    site: str | None = None
    format: str | None = None

    @property
    def warning(self) -> str | None:
        """What to say before adding a feed that gave no entries (it may still be added:
        a new feed can be empty)."""
        if self.count:
            return None
        return ("This feed has no entries: it may be new and still empty, or Herald could "
                "not read it fully. You can add it; check its first polls.")


class SeveralFeeds(HeraldError):
    """The page links several feeds that read: the face offers ``choices`` to pick from."""

    default_message = "this page links several feeds: choose one"

    def __init__(self, site: str, choices: tuple[FeedCheck, ...]) -> None:
        listed = "; ".join(f"{i}. {c.feed.display_name or c.format or 'feed'}: "
                           f"{redact_url(c.feed.url)}" for i, c in enumerate(choices, 1))
        super().__init__(f"{redact_url(site)} links {len(choices)} feeds: {listed}")
        self.site = site
        self.choices = choices


def slug(text: str) -> str:
    """A name from any text: ASCII lowercase letters, digits and ``-`` (may be empty)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")


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


def display_name_of(text: str | None) -> str | None:
    """A checked display name (None when blank); FeedRefused when it cannot be one."""
    text = " ".join((text or "").split())
    if not text:
        return None
    if len(text) > MAX_DISPLAY_NAME:
        raise FeedRefused(f"the display name is {len(text)} characters long: at most "
                          f"{MAX_DISPLAY_NAME}", field="display_name")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise FeedRefused("the display name contains a control character",
                          field="display_name")
    return text


def interval_of(every: str | None, default: str = "15m") -> timedelta:
    """A checked poll interval; FeedRefused when it is not one, or under a minute."""
    try:
        interval = parse_duration((every or "").strip() or default)
    except ValueError as exc:
        raise FeedRefused(f"poll interval: {exc}", field="every") from None
    if interval < MIN_EVERY:
        raise FeedRefused(f"poll interval {format_duration(interval)} is too short: poll a "
                          "feed at most once a minute", field="every")
    return interval


def address_of(location: str, *, allow_local: bool = False) -> str:
    """A checked feed address (a local path made absolute); FeedRefused names what is
    wrong. No network."""
    location = location.strip()
    if not location:
        raise FeedRefused("a feed address is needed", field="url")
    if allow_local and "://" not in location:
        path = Path(location).expanduser()
        if not path.is_file():
            what = "is a folder, not a feed file" if path.is_dir() else "no such file"
            raise FeedRefused(f"{location}: {what}", field="url")
        return str(path.resolve())
    if not is_remote(location):
        raise FeedRefused(f"{redact_url(location)}: a feed address must start with http:// "
                          "or https://", field="url")
    return location


def new_feed(location: str, name: str | None = None, every: str | None = None, *,
             display_name: str | None = None, allow_local: bool = False) -> NewFeed:
    """The checked input of a new feed; FeedRefused names what is wrong. No network."""
    location = address_of(location, allow_local=allow_local)
    shown = display_name_of(display_name)
    given = (name or "").strip().lower()
    made = given or slug(shown or "") or name_from(location)
    if not re.match(NAME_PATTERN, made):
        raise FeedRefused(f"{made!r} is not a valid name: lowercase letters, digits, -, _ "
                          "and ., starting with a letter or digit", field="name")
    return NewFeed(made, location, interval_of(every), shown, name_given=bool(given))


def check_feed(herald: Herald, feed: NewFeed, *, discover: bool = True) -> FeedCheck:
    """Refuse a feed that is already there, or that the SSRF guard, its server or the
    parser refuses; otherwise what one fetch found, following a web page's feed links
    (``discover``; not those of a page a link led to). Blocking: the network."""
    from bot.sources.feed import parse_feed
    from bot.usecases.discover import feed_links, looks_like_html

    _not_there(herald, feed.name if feed.name_given else None, feed.url)
    display_name_free(herald, feed.display_name)
    got = _fetched(herald, feed.url)
    try:
        items = parse_feed(got.body, source=feed.name, url=got.final_url,
                           collected_at=herald.clock.now(), content_type=got.content_type,
                           headers=got.headers)
    except ParseError as exc:
        if not discover or not looks_like_html(got.body, got.content_type):
            raise _said(exc) from None
        return _discovered(herald, feed, got.final_url,
                           feed_links(got.body, got.final_url, got.content_type))
    if got.final_url != feed.url:
        _not_there(herald, None, got.final_url)
    return FeedCheck(feed, len(items), got.final_url, tuple(items[:10]))


def _discovered(herald: Herald, feed: NewFeed, site: str, links: list[FeedLink]
                ) -> FeedCheck:
    """The one feed among a page's links that reads; SeveralFeeds when more do."""
    if not links:
        raise _said(ParseError("this is a web page with no feed link", url=site))
    found: list[FeedCheck] = []
    refused: list[HeraldError] = []
    for link in links:
        # A title another feed already shows is not taken as this one's display name.
        title = link.title if _shown_by(herald, link.title) is None else ""
        candidate = replace(feed, url=link.url,
                            display_name=feed.display_name or title or None)
        if not candidate.name_given and not feed.display_name and title:
            candidate = replace(candidate, name=slug(link.title) or feed.name)
        try:
            check = check_feed(herald, candidate, discover=False)
        except HeraldError as exc:
            log.info("the feed %s linked from %s was refused: %s", redact_url(link.url),
                     redact_url(site), exc)
            refused.append(exc)
            continue
        found.append(replace(check, site=site, format=link.format))
    if len(found) == 1:
        return found[0]
    if found:
        raise SeveralFeeds(site, tuple(found))
    first = refused[0] if refused else ParseError("this is a web page with no feed link",
                                                  url=site)
    if isinstance(first, SourceError):
        first = unreadable(first)
        first.message = f"the page links a feed, but {first.message}"
    raise first


def _fetched(herald: Herald, url: str) -> Fetched:
    """The address fetched once through the guard; Unreadable in plain words."""
    from bot.sources.fetch import fetch

    try:
        if is_remote(url):
            herald.guard.check(url)
        return fetch(url, client=herald.client, validators=Validators(),
                     max_body=herald.settings.config.http.max_body,
                     base_dir=herald.settings.base_dir)
    except SourceError as exc:
        raise _said(exc) from None


def _said(exc: SourceError) -> SourceError:
    plain = unreadable(exc)
    log.info("feed check of %s: %s (%s)", redact_url(exc.url or ""), plain.message,
             plain.detail)
    return plain


def add_checked(herald: Herald, check: FeedCheck, *, announce_backlog: bool = False
                ) -> SourceRow:
    """Store a feed ``check_feed`` passed (looking again for a copy added meanwhile); a
    made name gets ``-2``, ``-3``... when another feed has it."""
    feed = check.feed
    _not_there(herald, feed.name if feed.name_given else None, feed.url)
    display_name_free(herald, feed.display_name)
    name = feed.name if feed.name_given else free_name(herald, feed.name)
    return herald.store.add_source(name, feed.url, feed.every, herald.clock.now(),
                                   announce_backlog=announce_backlog,
                                   display_name=feed.display_name)


def add_feed(herald: Herald, feed: NewFeed, *, announce_backlog: bool = False
             ) -> tuple[SourceRow, FeedCheck]:
    """Check a new feed and store it: the whole of ``herald feeds add``."""
    check = check_feed(herald, feed)
    return add_checked(herald, check, announce_backlog=announce_backlog), check


def free_name(herald: Herald, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... the first no feed has."""
    taken = {row.name for row in herald.store.list_sources()}
    if base not in taken:
        return base
    number = 2
    while f"{base[:58]}-{number}" in taken:
        number += 1
    return f"{base[:58]}-{number}"


def _same_address(herald: Herald, stored: str, url: str) -> bool:
    if is_remote(stored) or is_remote(url):
        return canonical_url(stored) is not None and canonical_url(stored) == canonical_url(url)
    base = herald.settings.base_dir
    return local_path(stored, base).resolve() == local_path(url, base).resolve()


def _not_there(herald: Herald, name: str | None, url: str, *, but: str | None = None
               ) -> None:
    """StoreError when a feed (other than ``but``) has this name, or reads this address
    already."""
    for row in herald.store.list_sources():
        if row.name == but:
            continue
        if row.name == name:
            raise StoreError(f"a feed named {name!r} already exists")
        if row.kind == "rss" and row.url and _same_address(herald, row.url, url):
            raise StoreError(f"the feed “{row.shown_name}” already reads {redact_url(url)}")


def _shown_by(herald: Herald, shown: str | None, *, but: str | None = None) -> str | None:
    """The feed (other than ``but``) that people already see as ``shown``, compared
    without case or extra spaces; None when no feed does."""
    if not shown:
        return None
    wanted = " ".join(shown.split()).casefold()
    for row in herald.store.list_sources():
        if row.name != but and " ".join(row.shown_name.split()).casefold() == wanted:
            return row.name
    return None


def display_name_free(herald: Herald, shown: str | None, *, but: str | None = None
                      ) -> None:
    """FeedRefused when another feed already shows ``shown``: two feeds read the same
    to people and nobody could tell them apart."""
    if _shown_by(herald, shown, but=but) is not None:
        raise FeedRefused(f"another feed is already called “{shown}”: choose a display "
                          "name no other feed has", field="display_name")
