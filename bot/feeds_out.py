"""The published stories as feeds others embed: Atom 1.0 (RFC 4287) and JSON Feed 1.1.

Each entry is a published story (:mod:`bot.published`): a stable ``tag:`` id, its title,
publication and update times, its link, a plain-text summary that leads with its key dates
("Applications close Fri 18 Dec 2026"), and its tags as categories (term: the slug,
label: the taxonomy's label). JSON Feed items carry the key dates as data too, in the
``_herald`` extension.

Atom is built with lxml, which escapes text; text is first cleaned of the characters XML
cannot carry (:func:`bot.published.clean`), so a hostile title cannot break the document.
The feed's ``updated`` is its newest entry's, so the same stories always give the same
bytes (and ETag).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from bot.published import Entry, Site, date_line, one_line

ATOM = "http://www.w3.org/2005/Atom"
JSONFEED = "https://jsonfeed.org/version/1.1"
#: ``updated`` of a feed with no entry: fixed, so an empty feed's ETag stays put.
EMPTY_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)


def feed_updated(entries: list[Entry]) -> datetime:
    return max((e.updated for e in entries), default=EMPTY_UPDATED)


def summary_text(entry: Entry) -> str:
    """The key dates, one a line, then the story's summary."""
    lines = [date_line(kd) for kd in entry.dates]
    if entry.summary:
        lines += ["", entry.summary] if lines else [entry.summary]
    return "\n".join(lines)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def atom(entries: list[Entry], site: Site, *, title: str, self_url: str,
         alternate: str) -> bytes:
    """The Atom document."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})  # type: ignore[dict-item]
    _sub(feed, "id", self_url)
    _sub(feed, "title", title)
    _sub(feed, "updated", _stamp(feed_updated(entries)))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=alternate)
    author = _sub(feed, "author")
    _sub(author, "name", site.name)
    _sub(feed, "generator", "Herald")
    for e in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", e.tag_uri(site))
        _sub(entry, "title", e.title, type="text")
        _sub(entry, "updated", _stamp(e.updated))
        _sub(entry, "published", _stamp(e.published))
        if e.link:
            _sub(entry, "link", rel="alternate", type="text/html", href=e.link)
        text = summary_text(e)
        _sub(entry, "summary", text, type="text")
        if not e.link:  # an entry without a link must carry its content (RFC 4287 4.1.2)
            _sub(entry, "content", text, type="text")
        for _group, slug in e.tags():
            _sub(entry, "category", term=slug, label=site.label(slug))
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8")


def json_feed(entries: list[Entry], site: Site, *, title: str, self_url: str,
              home: str) -> bytes:
    """The JSON Feed 1.1 document."""
    items = []
    for e in entries:
        item: dict[str, Any] = {"id": e.tag_uri(site), "title": e.title,
                                "content_text": summary_text(e),
                                "date_published": _stamp(e.published),
                                "date_modified": _stamp(e.updated),
                                "tags": [site.label(slug) for _g, slug in e.tags()]}
        if e.link:
            item["url"] = e.link
        if e.summary:
            item["summary"] = e.summary
        item["_herald"] = {
            "story": e.id, "kind": e.story.kind,
            "tags": [{"group": g, "slug": s, "label": site.label(s)} for g, s in e.tags()],
            "key_dates": [{"what": kd.what, "day": kd.date.isoformat(),
                           "time": one_line(kd.at_time) if kd.at_time else None,
                           "place": one_line(kd.place) if kd.place else None,
                           "text": date_line(kd)} for kd in e.dates]}
        items.append(item)
    body = {"version": JSONFEED, "title": title, "home_page_url": home, "feed_url": self_url,
            "language": "en-GB", "authors": [{"name": site.name}], "items": items}
    return json.dumps(body, ensure_ascii=False, indent=1).encode()
