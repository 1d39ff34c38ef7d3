"""A fast path for plain RSS 2.0 and Atom 1.0 feeds, on lxml, giving the Items feedparser's
path gives.

feedparser reads anything, at about a millisecond an entry; most feeds are plain,
well-formed UTF-8 RSS 2.0 or Atom 1.0 that lxml reads some fifty times faster. This
module reads only those, and only what it can read exactly as feedparser would: it
answers ``None`` (use feedparser) for anything else, namely

* XML that is not well formed, a DOCTYPE (entities), ``xml:base``, another encoding
  than UTF-8 in the declaration or the Content-Type, RSS 0.9x/1.0, unknown roots;
* an entry with an element it does not know (enclosures, RSS ``<author>``, Atom
  sources and contributors, ``media:`` …), a repeated field, XHTML content, a date it
  cannot read, an id or link that is not absolute, or HTML with a relative URL (which
  feedparser would resolve).

``tests/test_fastfeed.py`` checks that both paths give the same Items on every file of
the reference corpus that this path accepts.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lxml import etree

from bot.model import Item, Link, RawRef
from bot.pipeline.normalize import make_item

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MAX_ENTRIES = 5000
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=False,
                          remove_comments=True, remove_pis=True, strip_cdata=True,
                          huge_tree=False)
_ABSOLUTE = re.compile(r"https?://[^\s<>\"']+\Z", re.IGNORECASE)
_ID = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+\Z")
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([^"']+)["']""")
#: Attributes whose relative URLs feedparser resolves in HTML: any that is not absolute
#: (or a fragment, or mail) sends the feed to feedparser.
_URL_ATTRIBUTE = r"""\b(?:href|src|action|background|cite|longdesc|usemap|codebase|data|poster|
    profile|srcset|formaction|icon|manifest|archive|classid|dynsrc|lowsrc)\s*"""
_NOT_ABSOLUTE = r"""=\s*(?:["'](?!https?://|mailto:|\#)|(?!["']|https?://|mailto:|\#))"""
_RELATIVE = re.compile(_URL_ATTRIBUTE + _NOT_ABSOLUTE, re.IGNORECASE | re.VERBOSE)
#: _RELATIVE in two steps (see ``_has_relative_url``): its ``=`` and what follows, which the
#: regex engine finds quickly from the literal ``=``; then the attribute's name before it.
_RELATIVE_VALUE = re.compile(_NOT_ABSOLUTE, re.IGNORECASE | re.VERBOSE)
_RELATIVE_NAME = re.compile(_URL_ATTRIBUTE + r"\Z", re.IGNORECASE | re.VERBOSE)
_LONGEST_NAME = 10  # "background", "formaction"
RSS_FIELDS = {"title", "link", "guid", "pubDate", "description", f"{CONTENT}encoded",
              f"{DC}creator", f"{DC}date", "category", "comments"}
ATOM_FIELDS = {f"{ATOM}{n}" for n in ("title", "id", "published", "updated", "author",
                                       "content", "summary", "category")}

ATOM_FEED_FIELDS = {f"{ATOM}{n}" for n in (
    "title", "subtitle", "link", "id", "updated", "author", "category", "generator", "icon",
    "logo", "rights", "contributor", "entry")}


class _Unsure(Exception):
    """This feed is one for feedparser."""


def parse_fast(body: bytes, *, source: str, collected_at: datetime,
               content_type: str | None = None,
               notes: list[str] | None = None) -> list[Item] | None:
    """The Items of a plain RSS 2.0 or Atom 1.0 feed, or None when feedparser must read it."""
    head = body[:2048]
    if b"<!DOCTYPE" in head.upper() or b"xml:base" in body:
        return None
    declared = _DECLARED.match(head)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    charset = (content_type or "").lower().partition("charset=")[2].strip(" \"'")
    if charset and charset not in ("utf-8", "utf8"):
        return None
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    try:
        if root.tag == "rss" and root.get("version") == "2.0":
            entries = _rss_entries(root)
        elif root.tag == f"{ATOM}feed":
            if any(child.tag not in ATOM_FEED_FIELDS for child in root):
                raise _Unsure  # feedparser reads some strangers (an <item>) as entries
            entries = [_atom_entry(e) for e in root.iterchildren(f"{ATOM}entry")]
        else:
            return None
        said: list[str] = []
        items = [_item(e, source, collected_at, said) for e in entries[:MAX_ENTRIES]]
    except _Unsure:
        return None
    # Said only once the feed is ours: feedparser says it again for a feed it reads.
    if notes is None:
        for note in said:
            log.warning("%s: %s", source, note)
    else:
        notes.extend(said)
    return items


def _text(el: Any) -> str:
    if len(el):
        raise _Unsure  # markup inside a field: feedparser's business
    return (el.text or "").strip()


def _one(fields: dict[str, Any], key: str, value: Any) -> None:
    if key in fields:
        raise _Unsure  # which one feedparser keeps is its business
    fields[key] = value


def _rss_entries(root: Any) -> list[dict[str, Any]]:
    channels = root.findall("channel")
    if len(channels) != 1 or root.find("item") is not None:
        raise _Unsure
    entries = []
    for item in channels[0].iterchildren("item"):
        fields: dict[str, Any] = {}
        for el in item:
            tag = el.tag
            if tag not in RSS_FIELDS:
                raise _Unsure
            if tag in ("category", "comments"):
                continue
            value = _text(el)
            if tag == "title":
                _one(fields, "title", value)
            elif tag == "link":
                _one(fields, "link", _absolute(value))
            elif tag == "guid":
                # feedparser resolves a permalink guid against the feed's URL.
                if not value or (el.get("isPermaLink") != "false" and not _ID.match(value)):
                    raise _Unsure
                _one(fields, "id", value)
            elif tag == "pubDate":
                _one(fields, "published", value)
            elif tag == f"{DC}date":
                _one(fields, "updated", value)
            elif tag == "description":
                _one(fields, "summary", value)
            elif tag == f"{CONTENT}encoded":
                _one(fields, "content", value)
            elif tag == f"{DC}creator":
                _one(fields, "author", value)
        if "link" not in fields:
            raise _Unsure  # feedparser takes a permalink guid as the link
        fields["published_parsed"] = _rfc822(fields.get("published"))
        fields["updated_parsed"] = _iso(fields.get("updated"))
        fields["links"] = []
        entries.append(fields)
    return entries


def _atom_entry(entry: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"links": []}
    alternates = []
    for el in entry:
        tag = el.tag
        if tag == f"{ATOM}link":
            href = _absolute((el.get("href") or "").strip())
            rel = el.get("rel") or "alternate"
            if rel == "alternate":
                if (el.get("type") or "text/html") not in ("text/html",
                                                           "application/xhtml+xml"):
                    raise _Unsure
                alternates.append(href)
            fields["links"].append(href)
            continue
        if tag not in ATOM_FIELDS:
            raise _Unsure
        name = tag[len(ATOM):]
        if name == "category":
            continue
        if name == "author":
            children = [c.tag for c in el]
            if children != [f"{ATOM}name"]:
                raise _Unsure
            _one(fields, "author", _text(el[0]))
        elif name in ("title", "content", "summary"):
            kind = el.get("type") or "text"
            if kind not in ("text", "html") or el.get("src") is not None:
                raise _Unsure
            _one(fields, name, _text(el))
        elif name == "id":
            value = _text(el)
            if not _ID.match(value):
                raise _Unsure  # feedparser resolves a relative id against the feed's URL
            _one(fields, "id", value)
        else:
            _one(fields, name, _text(el))
    if len(alternates) != 1:
        raise _Unsure  # without one, feedparser takes another link or the id as the link
    fields["link"] = alternates[0]
    fields["published_parsed"] = _iso(fields.get("published"))
    fields["updated_parsed"] = _iso(fields.get("updated"))
    return fields


def _has_relative_url(html: str) -> bool:
    """``_RELATIVE.search(html)``, several times faster: at each ``=`` followed by a value
    that is not absolute, is the text just before it a URL attribute's name? The name must
    end where the spaces before the ``=`` start, so it starts at most ``_LONGEST_NAME``
    characters before them, and a search of that stretch alone finds it (its ``\\b`` sees
    the character before, two or more positions inside the stretch)."""
    for value in _RELATIVE_VALUE.finditer(html):
        equals = value.start()
        name_end = equals
        while name_end and html[name_end - 1].isspace():
            name_end -= 1
        if _RELATIVE_NAME.search(html, max(0, name_end - _LONGEST_NAME - 2), equals):
            return True
    return False


def _absolute(url: str) -> str:
    if not _ABSOLUTE.match(url):
        raise _Unsure
    return url


def _rfc822(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise _Unsure from None
    if when is None or not 1900 < when.year < 2200:
        raise _Unsure
    return _utc(when)


def _iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise _Unsure  # feedparser reads many more forms; leave them to it
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Unsure from None
    return _utc(when)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # feedparser keeps whole seconds, in UTC.
    return when.astimezone(UTC).replace(microsecond=0)


def _item(fields: dict[str, Any], source: str, collected_at: datetime,
          notes: list[str]) -> Item:
    content = fields.get("content")
    summary = fields.get("summary")
    html = content or None
    if not html or (summary and len(summary) > len(html)):
        html = html or summary
    if html and _has_relative_url(html):
        raise _Unsure
    link = fields.get("link")
    links = [Link(href) for href in fields["links"] if href and href != link]
    raw = RawRef("application/x.feedparser+json", json.dumps(
        {k: fields.get(k) for k in ("id", "link", "title", "published", "updated", "author")},
        default=str))
    return make_item(source=source, source_item_id=fields.get("id") or link, url=link,
                     title=fields.get("title"), html=html, author=fields.get("author"),
                     published_at=fields["published_parsed"] or fields["updated_parsed"],
                     collected_at=collected_at, links=links, raw=raw, notes=notes)
