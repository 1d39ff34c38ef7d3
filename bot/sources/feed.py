"""Parse feed bytes into Items: RSS 0.9x/1.0/2.0 and Atom with feedparser, JSON Feed 1.0/1.1
with a small reader of our own (feedparser 6.0.x has no JSON Feed support). Plain RSS 2.0
and Atom 1.0 take a fast lxml path first (:mod:`bot.sources.fastfeed`) that gives the
same Items, and hands anything it is not sure of to feedparser.

A body that is not a feed (an HTML page, garbage, an empty file) raises
:class:`ParseError` naming what was found. A feed that feedparser had to repair
(``bozo``) is still read when it yields entries: real feeds are often slightly
broken, and losing them helps no one.

One bad entry does not cost the others: a JSON Feed item that is not an object, or any
entry with neither a title nor any text, is skipped; a field of the wrong type is
ignored; an item without an ``id`` is known by its URL or content, as an RSS entry
without a guid is. Each is said in ``notes`` (the caller records them on the source's
health), naming the item by its index.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.clock import as_utc
from bot.errors import ParseError
from bot.model import Item, Link, RawRef
from bot.pipeline.normalize import UNTITLED, make_item, utc_from_struct
from bot.sources.fastfeed import parse_fast

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

log = logging.getLogger(__name__)

JSONFEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")
MAX_ENTRIES = 5000


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """JSON Feed or XML? The body decides when it can (servers often send the wrong
    type: an RSS file served as application/json is still RSS); the type only when the
    body starts with neither ``{`` nor ``<``."""
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return True
    if head.startswith(b"<"):
        return False
    ct = (content_type or "").split(";")[0].strip().lower()
    return ct in ("application/feed+json", "application/json")


def read_once(location: str, *, source: str, client: httpx.Client | None, max_body: int,
              collected_at: datetime, base_dir: Path | None = None) -> tuple[str, list[Item]]:
    """Fetch a feed as it is now (no validators: nothing counts as unchanged) and parse it:
    its final address and its items. What ``feeds add`` and ``config check --online`` try
    before a feed is trusted; the collector fetches with validators instead."""
    from bot.sources.fetch import Validators, fetch

    got = fetch(location, client=client, validators=Validators(), max_body=max_body,
                base_dir=base_dir)
    items = parse_feed(got.body, source=source, url=got.final_url, collected_at=collected_at,
                       content_type=got.content_type, headers=got.headers)
    return got.final_url, items


def parse_feed(body: bytes, *, source: str, url: str, collected_at: datetime,
               content_type: str | None = None, headers: dict[str, str] | None = None,
               notes: list[str] | None = None) -> list[Item]:
    """Items of a feed body; ParseError if the body is not a feed Herald can read.

    What was skipped, ignored or cut is appended to ``notes`` (logged if None)."""
    if not body.strip():
        raise ParseError("the body is empty", url=url)
    said: list[str] = []
    if looks_like_json(body, content_type):
        items = parse_json_feed(body, source=source, url=url, collected_at=collected_at,
                                notes=said)
    else:
        items = _usable(enumerate(_parse_xml_feed(
            body, source=source, url=url, collected_at=collected_at, headers=headers or {},
            notes=said)), said, "entry")
    if notes is None:
        for note in said:
            log.warning("%s: %s", source, note)
    else:
        notes.extend(said)
    return items


def _usable(found: Iterable[tuple[int, Item]], notes: list[str], what: str) -> list[Item]:
    """The items with a title or some text; the others (which would be "(untitled)"
    stories with nothing to say) are skipped and named in ``notes`` by their index."""
    kept = []
    for index, item in found:
        if item.text or item.title != UNTITLED:
            kept.append(item)
        else:
            notes.append(f"{what} {index} ({item.source_item_id[:200]!r}) has neither a "
                         "title nor any text: skipped")
    return kept


def _parse_xml_feed(body: bytes, *, source: str, url: str, collected_at: datetime,
                    headers: dict[str, str], notes: list[str]) -> list[Item]:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    fast = parse_fast(body, source=source, collected_at=collected_at,
                      content_type=content_type, notes=notes)
    if fast is not None:
        return fast
    return parse_with_feedparser(body, source=source, url=url, collected_at=collected_at,
                                 headers=headers, notes=notes)


def parse_with_feedparser(body: bytes, *, source: str, url: str, collected_at: datetime,
                          headers: dict[str, str],
                          notes: list[str] | None = None) -> list[Item]:
    """Items of an RSS or Atom body read by feedparser (any version, broken ones too)."""
    # Imported here: most feeds take the lxml fast path and never need feedparser.
    import feedparser

    response_headers = {k: v for k, v in headers.items() if k.lower() == "content-type"}
    if url.lower().startswith(("http://", "https://")):
        response_headers["content-location"] = url
    parsed = feedparser.parse(body, response_headers=response_headers,
                              sanitize_html=False, resolve_relative_uris=True)
    if not parsed.get("version") and not parsed.entries:
        exc = parsed.get("bozo_exception")
        head = body[:512].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise ParseError("this is an HTML page, not a feed", url=url)
        reason = f": {exc}" if exc else ""
        raise ParseError(f"not an RSS, Atom or JSON feed{reason}", url=url)
    with warnings.catch_warnings():
        # feedparser warns when reading published_parsed falls back to updated_parsed;
        # we ask for both explicitly, so the fallback is what we want.
        warnings.simplefilter("ignore", DeprecationWarning)
        return [_entry_to_item(entry, source=source, collected_at=collected_at, notes=notes)
                for entry in parsed.entries[:MAX_ENTRIES]]


def _entry_to_item(entry: Any, *, source: str, collected_at: datetime,
                   notes: list[str] | None) -> Item:
    content = entry.get("content") or []
    html = content[0].get("value") if content else None
    summary = entry.get("summary")
    if not html or (summary and len(summary) > len(html)):
        html = html or summary
    published = (utc_from_struct(entry.get("published_parsed"))
                 or utc_from_struct(entry.get("updated_parsed"))
                 or utc_from_struct(entry.get("created_parsed")))
    link = entry.get("link")
    links = [Link(lk["href"]) for lk in entry.get("links", [])
             if lk.get("href") and lk.get("href") != link]
    raw = RawRef("application/x.feedparser+json", json.dumps(
        {k: entry.get(k) for k in ("id", "link", "title", "published", "updated", "author")},
        default=str))
    return make_item(source=source, source_item_id=entry.get("id") or link,
                     url=link, title=entry.get("title"), html=html,
                     author=entry.get("author"), published_at=published,
                     collected_at=collected_at, links=links, raw=raw, notes=notes)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        from dateutil import parser as dateparser

        try:
            return as_utc(dateparser.parse(text))
        except (ValueError, OverflowError):
            return None


def parse_json_feed(body: bytes, *, source: str, url: str, collected_at: datetime,
                    notes: list[str] | None = None) -> list[Item]:
    """Items of a JSON Feed 1.0 or 1.1 document. An item that is not an object is skipped,
    a field of the wrong type ignored, each said in ``notes`` with the item's index."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ParseError("JSON Feed is not valid UTF-8", url=url) from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})", url=url) from None
    if not isinstance(doc, dict):
        raise ParseError("JSON Feed must be an object", url=url)
    version = doc.get("version")
    if not isinstance(version, str) or version.rstrip("/") not in JSONFEED_VERSIONS:
        raise ParseError(f"not a JSON Feed: version is {version!r}, expected one of "
                         f"{', '.join(JSONFEED_VERSIONS)}", url=url)
    entries = doc.get("items")
    if not isinstance(entries, list):
        raise ParseError("JSON Feed has no 'items' list", url=url)
    said: list[str] = [] if notes is None else notes
    feed_authors = _authors(doc)
    found = []
    for index, entry in enumerate(entries[:MAX_ENTRIES]):
        if not isinstance(entry, dict):
            said.append(f"JSON Feed item {index} is {_kind(entry)}, not an object: skipped")
            continue
        found.append((index, _json_item(entry, index, source=source, collected_at=collected_at,
                                        feed_authors=feed_authors, notes=said)))
    items = _usable(found, said, "JSON Feed item")
    if notes is None:
        for note in said:
            log.warning("%s: %s", source, note)
    return items


#: The JSON Feed item fields that must be strings; a value of another type is ignored.
_STRING_FIELDS = ("url", "external_url", "title", "content_html", "content_text", "summary",
                  "date_published", "date_modified")


def _json_item(entry: dict[str, Any], index: int, *, source: str, collected_at: datetime,
               feed_authors: list[str], notes: list[str]) -> Item:
    fields: dict[str, str] = {}
    for key in _STRING_FIELDS:
        value = entry.get(key)
        if isinstance(value, str):
            fields[key] = value
        elif value is not None:
            notes.append(f"JSON Feed item {index}: {key!r} is {_kind(value)}, not a string: "
                         "ignored")
    entry_id = entry.get("id")
    if isinstance(entry_id, int | float) and not isinstance(entry_id, bool):
        entry_id = str(entry_id)
    if not isinstance(entry_id, str) or not entry_id.strip():
        # As an RSS entry without a guid: known by its URL, else by its content.
        notes.append(f"JSON Feed item {index} has no 'id': known by its "
                     f"{'url' if fields.get('url') else 'content'}")
        entry_id = None
    external = fields.get("external_url")
    links = [Link(external, rel="about")] if external else []
    html = fields.get("content_html")
    text = fields.get("content_text")
    if not html and not text:
        text = fields.get("summary")
    authors = _authors(entry) or feed_authors
    published = (_parse_time(fields.get("date_published"))
                 or _parse_time(fields.get("date_modified")))
    raw = RawRef("application/feed+json", json.dumps(entry, ensure_ascii=False)[:20000])
    return make_item(source=source, source_item_id=entry_id, url=fields.get("url"),
                     title=fields.get("title"), html=html, text=text,
                     author=authors[0] if authors else None, published_at=published,
                     collected_at=collected_at, links=links, raw=raw, notes=notes)


def _kind(value: Any) -> str:
    """What a JSON value is, for a note: "a number", "a list" …"""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _authors(obj: dict[str, Any]) -> list[str]:
    found = []
    candidates: list[Any] = obj["authors"] if isinstance(obj.get("authors"), list) else []
    if isinstance(obj.get("author"), dict):
        candidates = [obj["author"], *candidates]
    for author in candidates:
        if isinstance(author, dict) and isinstance(author.get("name"), str):
            found.append(author["name"])
    return found
