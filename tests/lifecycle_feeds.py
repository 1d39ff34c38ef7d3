"""What the academy publishes during a lifecycle walk: feed entries, X echoes, and the bodies
the loopback feed server serves for them.

Every entry carries a *marker*: a made-up word (``zq`` and four letters) in its title and
nowhere else, so that whatever reaches Slack, Teams or a digest email can be traced back
to the entry (or announcement) it shows. URLs carry numbers only, never markers.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

MARKER = re.compile(r"\bzq[a-z]{4}\b")
NEWS, EVENTS, X = "news", "events", "academy-x"


_CONSONANTS = "bcdfghklmnprstvw"
_VOWELS = "aeiou"


def words(seed: int, count: int) -> str:
    """``count`` made-up words, the same for the same ``seed``: no two entries share words
    by chance (a small real vocabulary made unrelated entries look alike), no word is a
    taxonomy term, and none looks like a marker."""
    rng = random.Random(seed)
    return " ".join("".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS)
                            for _ in range(rng.randint(3, 4))) for _ in range(count))


def marker(n: int) -> str:
    """The ``n``-th marker: ``zq`` and four letters."""
    letters = []
    for _ in range(4):
        n, r = divmod(n, 26)
        letters.append(chr(ord("a") + r))
    return "zq" + "".join(reversed(letters))


@dataclass
class Entry:
    """One feed entry as the academy publishes it (and may edit later)."""

    source: str
    guid: str
    n: int
    marker: str
    link: str
    published: datetime
    words: str  # the title's words after the marker
    text: str
    backlog: bool = False  # older than the announce window when its source was first read
    edits: int = 0

    @property
    def title(self) -> str:
        return f"{self.marker.capitalize()} {self.words}"


@dataclass
class Echo:
    """The academy's X post about an approved announcement: its own words and a link to the
    announcement's page, as a real post carries it (a link in the text, not "about")."""

    guid: str
    n: int
    marker: str
    ann_id: int
    ann_url: str
    words: str
    published: datetime

    @property
    def html(self) -> str:
        url = escape(self.ann_url, {'"': "&quot;"})
        return f'<p>{self.marker.capitalize()} {self.words} <a href="{url}">{url}</a></p>'


@dataclass
class Publisher:
    """The academy's feeds, as bodies for the feed server."""

    counter: int = 0
    entries: dict[str, list[Entry]] = field(default_factory=lambda: {NEWS: [], EVENTS: []})
    echoes: list[Echo] = field(default_factory=list)

    def next_n(self) -> int:
        self.counter += 1
        return self.counter

    def entry(self, source: str, published: datetime, *, link: str | None = None,
              backlog: bool = False) -> Entry:
        n = self.next_n()
        host = "academy.example.org/news" if source == NEWS else "events.example.org/e"
        e = Entry(source=source, guid=f"{source}-{n}", n=n, marker=marker(n),
                  link=link or f"https://{host}/{n}", published=published,
                  words=words(n, 4), text=words(n + 10_000, 14),
                  backlog=backlog)
        self.entries[source].append(e)
        return e

    def edit(self, e: Entry) -> None:
        """A new wording of the same entry (same guid, same link, same marker)."""
        e.edits += 1
        e.words = words(e.n + 50_000 * e.edits, 4)
        e.text = words(e.n + 10_000 + 50_000 * e.edits, 14)

    def echo(self, ann_id: int, ann_url: str, ann_words: str, published: datetime) -> Echo:
        n = self.next_n()
        words = " ".join(ann_words.split()[:8])
        e = Echo(guid=f"https://x.com/academy/status/{9_000_000 + n}", n=n, marker=marker(n),
                 ann_id=ann_id, ann_url=ann_url, words=words, published=published)
        self.echoes.append(e)
        return e

    def rss(self, source: str) -> bytes:
        items = "".join(
            f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
            f"<guid isPermaLink=\"false\">{e.guid}</guid>"
            f"<pubDate>{format_datetime(e.published, usegmt=True)}</pubDate>"
            f"<description>{escape(e.text)}</description></item>"
            for e in self.entries[source])
        return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                f"<title>{source}</title><link>https://academy.example.org/</link>"
                f"<description>the academy's {source}</description>{items}</channel></rss>"
                ).encode()

    def json_feed(self) -> bytes:
        return json.dumps({
            "version": "https://jsonfeed.org/version/1.1", "title": "The academy on X",
            "home_page_url": "https://x.com/academy",
            "items": [{"id": e.guid, "url": e.guid, "content_html": e.html,
                       "date_published": e.published.isoformat()} for e in self.echoes],
        }).encode()
