"""The lxml fast path gives the Items the feedparser path gives, wherever it accepts a feed,
and hands everything else to feedparser."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ParseError
from bot.model import Item
from bot.sources.fastfeed import _RELATIVE, _has_relative_url, parse_fast
from bot.sources.feed import parse_feed, parse_with_feedparser
from tests.conftest import reference_dir

NOW = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


def _slow(body: bytes, url: str) -> list[Item] | ParseError:
    try:
        return parse_with_feedparser(body, source="s", url=url, collected_at=NOW, headers={})
    except ParseError as exc:
        return exc


@pytest.mark.slow
def test_both_paths_agree_on_every_reference_feed_the_fast_path_accepts() -> None:
    root = reference_dir("feeds")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    assert len(files) > 1000, "the reference corpus looks incomplete"
    accepted = 0
    differ: list[str] = []
    for path in files:
        body = path.read_bytes()
        fast = parse_fast(body, source="s", collected_at=NOW)
        if fast is None:
            continue
        accepted += 1
        # As a local file, and as if fetched over HTTP (feedparser then resolves against
        # the URL): the same Items either way.
        for url in (path.as_uri(), "https://example.org/feeds/feed.xml"):
            slow = _slow(body, url)
            if slow != fast:
                differ.append(f"{path.relative_to(root)} ({url.split(':')[0]})")
                break
    assert not differ, f"{len(differ)} of {accepted} accepted files differ:\n" + "\n".join(
        differ)
    assert accepted > 500  # the plain feeds of the corpus do take the fast path


FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>https://example.org/</link>
<item><title>Cohort 5 opens</title><link>https://example.org/news/c5</link>
<guid isPermaLink="false">c5</guid><pubDate>Tue, 18 Aug 2026 09:00:00 +0100</pubDate>
<description><![CDATA[<p>Applications <a href="https://example.org/apply">open</a>.</p>]]>
</description></item></channel></rss>"""


def test_a_plain_feed_takes_the_fast_path_with_the_same_items() -> None:
    fast = parse_fast(FEED, source="s", collected_at=NOW)
    assert fast is not None
    assert fast == parse_with_feedparser(FEED, source="s", url="https://example.org/feed",
                                         collected_at=NOW, headers={})
    assert fast[0].published_at == datetime(2026, 8, 18, 8, 0, tzinfo=UTC)
    assert parse_feed(FEED, source="s", url="https://example.org/feed",
                      collected_at=NOW) == fast


def test_what_the_fast_path_is_not_sure_of_goes_to_feedparser(tmp_path: Path) -> None:
    cases = {
        "not well formed": FEED.replace(b"</channel>", b""),
        "relative link in the HTML": FEED.replace(b"https://example.org/apply", b"/apply"),
        "an enclosure": FEED.replace(b"</item>", b'<enclosure url="https://e.org/a.mp3" '
                                                 b'type="audio/mpeg" length="1"/></item>'),
        "another encoding": FEED.replace(b"utf-8", b"iso-8859-1"),
        "a permalink guid that is not a URL": FEED.replace(b' isPermaLink="false"', b""),
        "a date in another form": FEED.replace(b"Tue, 18 Aug 2026 09:00:00 +0100",
                                               b"2026-08-18"),
        "RSS 0.91": FEED.replace(b'version="2.0"', b'version="0.91"'),
    }
    for why, body in cases.items():
        assert parse_fast(body, source="s", collected_at=NOW) is None, why
        # ... and the feed is still read, by feedparser.
        assert parse_feed(body, source="s", url="https://example.org/feed",
                          collected_at=NOW), why
    assert parse_fast(FEED, source="s", collected_at=NOW,
                      content_type="application/rss+xml; charset=windows-1252") is None


_ATTRIBUTE_PIECES = ["href", "HREF", "src", "srcset", "xsrc", "data", "data-x", "formaction",
                     "background", "class", "=", " = ", "\n=", "=\n", '"', "'", "https://e.org",
                     "HTTP://e.org", "mailto:a@b", "#top", "/rel", "rel", " ", "\u00a0", "<a ",
                     ">", "ſrc", "\u212aey", "é", "     \n   ="]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_ATTRIBUTE_PIECES), max_size=30).map("".join))
def test_relative_url_check_in_two_steps_agrees_with_the_one_regex(html: str) -> None:
    assert _has_relative_url(html) == bool(_RELATIVE.search(html))
