"""Turn what a source found into an :class:`~bot.model.Item`: canonical URL, clean text,
sanitized HTML, aware UTC times, links with their expansions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bot.clock import as_utc
from bot.model import Item, Link, RawRef
from bot.text import MAX_HTML, MAX_TEXT, bound_html, html_to_text, one_line, sanitize_html, truncate
from bot.urls import canonical_url, urls_in_text

log = logging.getLogger(__name__)

#: A date this far ahead of collection is a clock or feed bug; we use the collection time.
FUTURE_SLACK = timedelta(days=1)
#: The title of an entry with neither a title nor text (such an entry is skipped by the
#: feed reader; an X post or a stored row may still have it).
UNTITLED = "(untitled)"
#: A title is read from at most this many characters (it is kept to 500).
MAX_TITLE_INPUT = 20_000


def make_item(*, source: str, source_item_id: str | None, url: str | None, title: str | None,
              html: str | None, text: str | None = None, author: str | None = None,
              published_at: datetime | None, collected_at: datetime,
              links: Iterable[Link] = (), source_kind: str = "feed",
              raw: RawRef | None = None, notes: list[str] | None = None) -> Item:
    """Build a normalised Item; any field may be missing except the source and times.

    Hostile sizes are bounded (:func:`bot.text.bound_html`, ``MAX_TEXT``, a title read
    from at most ``MAX_TITLE_INPUT`` characters) and the entry kept; what was cut is
    said in ``notes`` (one line per entry, naming it), or logged if ``notes`` is None."""
    collected = as_utc(collected_at)
    published = as_utc(published_at) if published_at else collected
    if published > collected + FUTURE_SLACK:
        published = collected
    cuts = []
    html, cut = bound_html(html or "")
    if cut:
        cuts.append(cut)
    if text and len(text) > MAX_HTML:
        text = text[:MAX_HTML]
        cuts.append(f"text over {MAX_HTML:,} characters, cut")
    body_text = html_to_text(html) if html else html_to_text(text or "")
    if len(body_text) > MAX_TEXT:
        body_text = truncate(body_text, MAX_TEXT)
        cuts.append(f"text cut to {MAX_TEXT:,} characters")
    if title and len(title) > MAX_TITLE_INPUT:
        title = title[:MAX_TITLE_INPUT]
        cuts.append(f"title over {MAX_TITLE_INPUT:,} characters, cut")
    clean_title = one_line(html_to_text(title or ""))
    if not clean_title:
        clean_title = _title_from_text(body_text)
    all_links = _merge_links([*links, *(Link(u) for u in _hrefs(html)),
                              *(Link(u) for u in urls_in_text(body_text))])
    # The fallback id must not depend on when we collected (a missing date defaults to
    # collected_at), or an undated entry without guid or link gets a new id every poll.
    item_id = (source_item_id or "").strip() or url or _content_id(
        clean_title, body_text, published if published_at else None)
    # Only an http(s) address is kept as the item's link: a feed's javascript: or data:
    # "link" must never become an href in the web app, the digest, Slack or Teams.
    canonical = canonical_url(url)
    if cuts:
        note = f"entry {item_id[:200]!r}: {'; '.join(cuts)}"
        if notes is None:
            log.warning("%s: %s", source, note)
        else:
            notes.append(note)
    return Item(
        source=source,
        source_item_id=item_id[:1000],
        url=url.strip() if url and canonical else None,
        canonical_url=canonical,
        title=clean_title[:500],
        text=body_text,
        html=sanitize_html(html) if html else "",
        author=one_line(author)[:200] if author else None,
        published_at=published,
        collected_at=collected,
        links=all_links,
        source_kind=source_kind,
        raw=raw,
        dated=published_at is not None,
    )


def _title_from_text(text: str, limit: int = 120) -> str:
    first = one_line(text.split("\n", 1)[0]) if text else ""
    if len(first) <= limit:
        return first or UNTITLED
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def _content_id(title: str, text: str, published: datetime | None) -> str:
    when = published.isoformat() if published else ""
    digest = hashlib.sha256(f"{title}\n{text}\n{when}".encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def _hrefs(html: str) -> list[str]:
    if "href" not in html:
        return []
    return [m for m in re.findall(r"""href\s*=\s*["']([^"']+)["']""", html, re.IGNORECASE)
            if m.lower().startswith(("http://", "https://"))]


#: When one URL comes twice with different relations, the stronger one is kept.
_REL_RANK = {"mention": 0, "about": 1, "repost": 2}


def _merge_links(links: Iterable[Link]) -> tuple[Link, ...]:
    """One Link per written URL; an expansion or an 'about' (or 'repost') relation wins
    over a bare one."""
    merged: dict[str, Link] = {}
    for link in links:
        key = link.url
        old = merged.get(key)
        if old is None:
            merged[key] = link
        else:
            merged[key] = Link(key, old.expanded_url or link.expanded_url,
                               max(old.rel, link.rel, key=lambda r: _REL_RANK.get(r, 0)))
    return tuple(merged.values())


def url_keys(item: Item) -> frozenset[str]:
    """The canonical URLs that identify what an item is about (its own, its 'about' links,
    and the post it reposts)."""
    keys = {item.canonical_url} if item.canonical_url else set()
    for link in item.links:
        if link.rel in ("about", "repost"):
            c = canonical_url(link.target)
            if c:
                keys.add(c)
    return frozenset(keys)


def utc_from_struct(value: object) -> datetime | None:
    """A feedparser ``*_parsed`` time tuple (UTC) as an aware datetime."""
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)  # type: ignore[index, misc]
    except (TypeError, ValueError):
        return None


def is_repost(item: Item) -> bool:
    """True for a repost or quote of the same account's own post: it belongs to that post's
    story and is never announced on its own."""
    return any(link.rel == "repost" for link in item.links)
