"""Hostile feeds cost little and lose nothing else: deeply nested or huge HTML is bounded
before the HTML parsers (in the fast path, feedparser's path, JSON Feed and the pool's
child), the entry kept and named in the source's warnings; a bad JSON Feed item is
skipped, named on the source, and the feed's other items still come."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import pytest

import bot.pipeline.normalize as normalize
from bot.collect import Collector
from bot.config import SourceConfig
from bot.pipeline.prepare import TaxonomySpec, bundled_weights, parse_and_prepare
from bot.shapes import FeedOut
from bot.sources.fastfeed import parse_fast
from bot.sources.feed import parse_feed, parse_with_feedparser
from bot.sources.fetch import make_client
from bot.store import Store
from bot.text import MAX_DEPTH, MAX_HTML, MAX_TEXT, html_depth
from tests.builders import routing
from tests.conftest import CONFIG_DIR

NOW = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
#: The attack: one entry of 100,000 nested <div>s (over 30 s of nh3 before the fix).
DEEP = "<div>" * 100_000 + "x" + "</div>" * 100_000
#: Deep enough to be flattened, small enough for feedparser to read quickly.
SHALLOWER = "<div>" * 5_000 + "Cohort 9 opens" + "</div>" * 5_000


def rss(html: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
        "<link>https://academy.example.org/</link><description>d</description>"
        "<item><title>Hostile</title><link>https://academy.example.org/1</link>"
        f"<guid>https://academy.example.org/1</guid><content:encoded>{escape(html)}"
        "</content:encoded></item>"
        "<item><title>Good</title><link>https://academy.example.org/2</link>"
        "<guid>https://academy.example.org/2</guid><description>Fine text.</description>"
        "</item></channel></rss>").encode()


def atom(html: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>t</title><id>urn:feed</id><updated>2026-08-01T00:00:00Z</updated>"
        '<entry><title>Hostile</title><id>urn:1</id><link href="https://academy.example.org/1"/>'
        f'<updated>2026-08-01T00:00:00Z</updated><content type="html">{escape(html)}</content>'
        "</entry></feed>").encode()


def jsonfeed(html: str, *extra: Any) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
        {"id": "1", "url": "https://academy.example.org/1", "title": "Hostile",
         "content_html": html}, *extra]}).encode()


@pytest.fixture
def sanitized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The depth of every HTML that reaches nh3 (through make_item)."""
    depths: list[int] = []
    real = normalize.sanitize_html

    def spy(value: str | None) -> str:
        depths.append(html_depth(value or "", limit=10**9))
        return real(value)

    monkeypatch.setattr(normalize, "sanitize_html", spy)
    return depths


@pytest.mark.parametrize(("body", "n", "entry"), [
    (rss(DEEP), 2, "https://academy.example.org/1"), (atom(DEEP), 1, "urn:1"),
    (jsonfeed(DEEP), 1, "1")], ids=["rss", "atom", "json"])
def test_deep_html_is_flattened_before_nh3_and_the_entry_kept(
        body: bytes, n: int, entry: str, sanitized: list[int]) -> None:
    notes: list[str] = []
    items = parse_feed(body, source="academy", url="https://academy.example.org/feed",
                       collected_at=NOW, notes=notes)
    assert len(items) == n and items[0].title == "Hostile"
    assert max(sanitized, default=0) <= MAX_DEPTH
    assert notes == [f"entry {entry!r}: HTML nested over {MAX_DEPTH} deep, flattened to its "
                     "text (and cut at 500,000 characters)"]


def test_the_fast_path_takes_the_hostile_feed() -> None:
    # So the test above exercises lxml's path; the next one exercises feedparser's.
    assert parse_fast(rss(DEEP), source="academy", collected_at=NOW) is not None


@pytest.mark.parametrize("body", [rss(SHALLOWER), atom(SHALLOWER)], ids=["rss", "atom"])
def test_feedparser_path_bounds_the_same_way(body: bytes, sanitized: list[int]) -> None:
    notes: list[str] = []
    items = parse_with_feedparser(body, source="academy", url="https://academy.example.org/f",
                                  collected_at=NOW, headers={}, notes=notes)
    assert items[0].text == "Cohort 9 opens" and items[0].html == "<p>Cohort 9 opens</p>"
    assert max(sanitized, default=0) <= MAX_DEPTH
    entry = "https://academy.example.org/1" if b"<rss" in body else "urn:1"
    assert notes == [f"entry {entry!r}: HTML nested over {MAX_DEPTH} deep, flattened to its "
                     "text"]


def test_huge_text_and_title_are_cut_and_said(sanitized: list[int]) -> None:
    words = "word " * (MAX_HTML // 4)
    notes: list[str] = []
    (item,) = parse_feed(json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "big", "title": "<b>T</b>" * 10_000, "content_text": words}]}).encode(),
        source="academy", url="https://academy.example.org/f", collected_at=NOW, notes=notes)
    assert len(item.text) <= MAX_TEXT and item.text.endswith("…")
    assert item.title.startswith("TTT") and len(item.title) <= 500
    assert notes == ["entry 'big': text over 500,000 characters, cut; text cut to 100,000 "
                     "characters; title over 20,000 characters, cut"]


def test_the_pool_child_says_what_it_cut() -> None:
    spec = TaxonomySpec.of(CONFIG_DIR / "taxonomy.toml", bundled_weights())
    items, prepared, notes = parse_and_prepare(
        jsonfeed(DEEP, "not an item"), spec, merge=True, source="academy",
        url="https://academy.example.org/f", collected_at=NOW, content_type=None, headers={})
    assert len(items) == len(prepared) == 1
    assert [n.split(":")[0] for n in notes] == ["entry '1'", "JSON Feed item 1 is a string, not "
                                                "an object"]


def test_collect_keeps_the_good_items_and_shows_warnings_on_the_source(
        store: Store, clock: Any, feed_server: Any) -> None:
    body = jsonfeed(DEEP, 42, {"id": "good", "title": "Good post", "content_text": "Fine."},
                    {"id": "empty", "title": 7, "content_html": 1})
    url = feed_server.add("/feed.json", body, "application/feed+json")
    store.sync_config_sources([SourceConfig(name="news", url=url, every="15m")], clock.now())
    client = make_client(timeout=5.0, max_redirects=3, user_agent="herald-test")
    try:
        c = Collector(store, routing(), clock=clock, client=client, max_body=2_000_000,
                      base_dir=CONFIG_DIR, backoff_cap=timedelta(hours=6))
        stats = c.run_once()
        assert stats.errors == 0 and stats.ingest.new_items == 2  # hostile (kept) and good
        src = store.get_source("news")
        assert src.last_error is None
        assert [w.split(":")[0] for w in src.warnings] == [
            "entry '1'", "JSON Feed item 1 is a number, not an object",
            "JSON Feed item 3", "JSON Feed item 3", "JSON Feed item 3 ('empty') has neither a "
            "title nor any text"]
        assert FeedOut.of(src).warnings == src.warnings
        # A clean feed clears them.
        feed_server.add("/feed.json", jsonfeed("<p>Now fine</p>"), "application/feed+json")
        clock.advance(minutes=16)
        c.run_once()
        assert store.get_source("news").warnings == []
    finally:
        client.close()
