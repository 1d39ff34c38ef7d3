"""Feed autodiscovery: the feeds a web page names in its ``<link rel="alternate">`` tags.

A comms officer pastes a site's address, not its feed's. When that address answers with
an HTML page, ``feed_links`` reads the page's first ``MAX_HTML`` bytes with the standard
library's HTML parser and returns each ``<link rel="alternate">`` whose type is a feed
(RSS, Atom, JSON Feed), its ``href`` resolved against the page's address (or its
``<base href>``), in the page's order, each address once, at most ``MAX_LINKS``. Fetching
them (through the SSRF guard, like any feed) is ``bot.usecases.feeds``'s work.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

#: Only the start of a page is read for its links (they belong in its <head>).
MAX_HTML = 512 * 1024
#: At most this many linked feeds are tried.
MAX_LINKS = 6

#: Link types that name a feed, and how to call each.
FEED_TYPES = {"application/rss+xml": "RSS", "application/atom+xml": "Atom",
              "application/feed+json": "JSON Feed", "application/json": "JSON Feed",
              "application/rdf+xml": "RSS"}


@dataclass(frozen=True)
class FeedLink:
    """A feed a page links to: its absolute address, its format and the page's title."""

    url: str
    format: str
    title: str


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """Is this answer a web page (rather than a feed or something else)?"""
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("text/html", "application/xhtml+xml"):
        return True
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _decode(body: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"\'')
    try:
        return body[:MAX_HTML].decode(charset, errors="replace")
    except LookupError:
        return body[:MAX_HTML].decode("utf-8", errors="replace")


class _LinkParser(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[FeedLink] = []
        self._seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(self.links) >= MAX_LINKS:
            return
        found = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and found.get("href"):
            self.base = urljoin(self.base, found["href"].strip())
            return
        if tag != "link":
            return
        rels = found.get("rel", "").lower().split()
        kind = found.get("type", "").split(";")[0].strip().lower()
        href = found.get("href", "").strip()
        if "alternate" not in rels or kind not in FEED_TYPES or not href:
            return
        url = urljoin(self.base, href)
        if urlsplit(url).scheme.lower() not in ("http", "https") or url in self._seen:
            return
        self._seen.add(url)
        title = " ".join(found.get("title", "").split())[:200]
        self.links.append(FeedLink(url, FEED_TYPES[kind], title))


def feed_links(body: bytes, page_url: str, content_type: str | None = None
               ) -> list[FeedLink]:
    """The feeds the page ``body`` (fetched from ``page_url``) links to, in its order."""
    parser = _LinkParser(page_url)
    try:
        parser.feed(_decode(body, content_type))
        parser.close()
    except (AssertionError, ValueError):  # the parser gives up on some broken markup
        pass
    return parser.links
