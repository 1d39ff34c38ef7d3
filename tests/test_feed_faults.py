"""Hostile and broken feeds that the other fetch and parse tests do not cover end to end:
XML entity expansion (billion laughs, and the quadratic kind), external entities, invalid
encodings and the wrong content type; then every hostile feed at once in one collect run,
where each gets a clear error and a backoff on its own source, the good feed is stored,
and memory stays bounded (measured with tracemalloc)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.collect import Collector
from bot.config import SourceConfig
from bot.errors import FetchError, ParseError
from bot.sources.feed import parse_feed
from bot.sources.fetch import Validators, fetch, make_client
from bot.store import Store
from tests.builders import routing
from tests.fakes.feed_server import big_body, gzip_bomb
from tests.workers import rss

NOW = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
MB = 1_000_000

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><link>https://x.example/</link>
<description>d</description><item><title>Laughs &lol9;</title><guid>laughs-1</guid>
<description>&lol9;</description></item></channel></rss>"""

# One entity of 50 kB used 2,000 times: no nesting, but 100 MB if expanded.
QUADRATIC = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"a" * 50_000 + b'">]>'
             b'<rss version="2.0"><channel><title>q</title><item><title>Quadratic</title>'
             b"<guid>q-1</guid><description>" + b"&a;" * 2_000 + b"</description></item>"
             b"</channel></rss>")


def parse(body: bytes, content_type: str | None = None) -> list:  # type: ignore[type-arg]
    return parse_feed(body, source="s", url="https://feeds.example/f", collected_at=NOW,
                      content_type=content_type,
                      headers={"content-type": content_type} if content_type else None)


def peak_mb(fn) -> float:  # type: ignore[no-untyped-def]
    """The peak of Python memory traced while ``fn`` runs, in MB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("body", [LAUGHS, QUADRATIC], ids=["billion-laughs", "quadratic"])
def test_entity_expansion_is_never_carried_out(body: bytes) -> None:
    found: list = []  # type: ignore[type-arg]

    def run() -> None:
        try:
            found.extend(parse(body))
        except ParseError:
            pass

    assert peak_mb(run) < 20  # the expansion would be gigabytes (laughs) or 100 MB
    for entry in found:
        assert len(entry.title) < 1000 and len(entry.text) < 200_000


def test_external_entities_are_never_read_or_fetched(tmp_path: Path, feed_server) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    evil = feed_server.url("/evil-entity")
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY file SYSTEM "{secret.as_uri()}">'
            f'<!ENTITY web SYSTEM "{evil}">]><rss version="2.0"><channel><title>x</title>'
            f"<item><title>A &file; B &web;</title><guid>xxe-1</guid>"
            f"<description>&file;</description></item></channel></rss>").encode()
    try:
        items = parse(body)
    except ParseError:
        items = []
    for entry in items:
        assert "TOP-SECRET-MARKER" not in entry.title + entry.text + entry.html
    assert feed_server.hits("/evil-entity") == 0


BASE = ("<rss version='2.0'><channel><title>t</title><link>https://x.example/</link>"
        "<description>d</description><item><title>Caf\u00e9 opening</title><guid>g</guid>"
        "<description>Coaching in Preston</description></item></channel></rss>")
ENCODINGS = {
    "invalid-utf8-bytes": b"<?xml version='1.0' encoding='utf-8'?>"
                          + BASE.encode().replace(b"Caf\xc3\xa9", b"Caf\xff\xfe\xc3"),
    "unknown-encoding": b"<?xml version='1.0' encoding='x-klingon'?>" + BASE.encode(),
    "latin1-declared-utf8": b"<?xml version='1.0' encoding='utf-8'?>"
                            + BASE.encode("latin-1"),
    "utf16-without-bom": BASE.encode("utf-16-le"),
    "utf16-with-bom": ("<?xml version='1.0' encoding='utf-16'?>" + BASE).encode("utf-16"),
    "nul-bytes": BASE.encode().replace(b"Caf", b"C\x00af"),
    "json-bad-utf8": b'{"version": "https://jsonfeed.org/version/1.1", "title": "\xff\xfe",'
                     b' "items": []}',
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_invalid_encodings_are_read_or_refused_cleanly(name: str) -> None:
    try:
        items = parse(ENCODINGS[name])
    except ParseError as exc:
        assert str(exc)  # a reason, and nothing worse than a ParseError
        return
    for entry in items:
        assert "\x00" not in entry.title + entry.text
        assert entry.title.strip()


@pytest.mark.parametrize("content_type", ["image/png", "text/plain", "application/json",
                                          "text/html"])
def test_the_wrong_content_type_does_not_decide(content_type: str) -> None:
    # A real feed served with the wrong type is still read; a JSON type does not make
    # XML into JSON (the body is looked at, not only the header).
    try:
        items = parse(BASE.encode(), content_type)
    except ParseError as exc:
        pytest.fail(f"a valid RSS body served as {content_type} was refused: {exc}")
    assert [i.title for i in items] == ["Caf\u00e9 opening"]


def _raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


@pytest.mark.parametrize(("encoding", "encode"), [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate)],
    ids=["gzip", "deflate-zlib", "deflate-raw"])
def test_compressed_feeds_are_read(feed_server, encoding: str, encode) -> None:  # type: ignore[no-untyped-def]
    body = rss("zipped", range(1, 4))
    url = feed_server.add("/zipped.xml", encode(body), content_encoding=encoding)
    with make_client(timeout=2.0, max_redirects=3, user_agent="t") as client:
        got = fetch(url, client=client, validators=Validators(), max_body=MB)
    assert got.body == body
    sent = feed_server.requests[-1][2]
    assert sent.get("Accept-Encoding") == "gzip, deflate"


@pytest.mark.parametrize(("encoding", "body", "words"), [
    ("br", b"\x0b\x02\x80hello\x03", "unsupported Content-Encoding 'br'"),
    ("gzip", b"\x1f\x8b\x08\x00 this is not gzip at all", "could not decode the gzip body"),
], ids=["brotli", "corrupt-gzip"])
def test_bad_compression_is_a_clear_fetch_error(feed_server, encoding: str, body: bytes,  # type: ignore[no-untyped-def]
                                                 words: str) -> None:
    url = feed_server.add("/bad.xml", body, content_encoding=encoding)
    with make_client(timeout=2.0, max_redirects=3, user_agent="t") as client, \
            pytest.raises(FetchError, match=words):
        fetch(url, client=client, validators=Validators(), max_body=MB)


def test_a_gzip_bomb_never_inflates_past_the_limit_in_memory(feed_server) -> None:  # type: ignore[no-untyped-def]
    gzip_bomb()  # the server's copy, made before measuring
    with make_client(timeout=2.0, max_redirects=3, user_agent="t") as client:
        def run() -> None:
            with pytest.raises(FetchError, match="limit"):
                fetch(feed_server.url("/gzip-bomb"), client=client, validators=Validators(),
                      max_body=MB)

        peak = peak_mb(run)
    assert peak < 4, f"peak {peak:.1f} MB for a 1 MB limit"  # was 130 MB before the fix


def test_every_hostile_feed_at_once_fails_alone_with_bounded_memory(
        store: Store, clock, feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.state.big_bytes = 12 * MB
    good = feed_server.add("/good.xml", rss("good", range(1, 4)))
    hostile = {
        "drip": feed_server.url("/drip"),
        "big": feed_server.url("/big"),
        "gzip-bomb": feed_server.url("/gzip-bomb"),
        "laughs": feed_server.add("/laughs.xml", LAUGHS),
        "quadratic": feed_server.add("/quadratic.xml", QUADRATIC),
        "utf16": feed_server.add("/utf16.xml", ENCODINGS["utf16-without-bom"]),
        "html": feed_server.add("/page.html", b"<!doctype html><html><body>Hi</body></html>",
                                "text/html; charset=utf-8"),
        "png": feed_server.add("/feed.png", BASE.encode(), "image/png"),
        "503": feed_server.url("/status/503"),
    }
    store.sync_config_sources([SourceConfig(name=n, url=u, every="15m")
                               for n, u in {**hostile, "good": good}.items()], clock.now())
    # The server's own bodies are made before measuring: only Herald's memory counts.
    big_body(feed_server.state.big_bytes)
    gzip_bomb()
    with make_client(timeout=1.0, max_redirects=3, user_agent="t") as client:
        collector = Collector(store, routing(), clock=clock, client=client, max_body=MB,
                              base_dir=Path("."), backoff_cap=timedelta(hours=6))
        stats = []
        peak = peak_mb(lambda: stats.append(collector.run_once()))
    # The bomb inflates to 50 MB and the big body is 12 MB: neither is ever held whole.
    assert peak < 25, f"peak {peak:.1f} MB"
    (run,) = stats
    assert run.polled == len(hostile) + 1
    sources = {s.name: s for s in store.list_sources()}
    expected_errors = {"drip": "timed out", "big": "limit", "gzip-bomb": "limit",
                       "utf16": "not an RSS, Atom or JSON feed", "html": "HTML page",
                       "503": "HTTP 503"}
    for name, words in expected_errors.items():
        src = sources[name]
        assert words in (src.last_error or ""), (name, src.last_error)
        assert src.error_count == 1 and src.next_poll_at > clock.now(), name
    # Read leniently, never expanded: the laughs and quadratic feeds and the feed with a
    # wrong type are ingested or refused, each on its own.
    for name in ("laughs", "quadratic", "png"):
        src = sources[name]
        assert src.last_error is None or src.error_count == 1, (name, src.last_error)
    assert sources["png"].last_error is None
    assert sources["good"].last_error is None
    assert sources["good"].next_poll_at == clock.now() + timedelta(minutes=15)
    assert run.ingest.new_items >= 3
