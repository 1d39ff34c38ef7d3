"""Collecting over loopback HTTP and from files: conditional GET, broken sources, backoff."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.collect import Collector, source_backoff
from bot.config import SourceConfig
from bot.sources.fetch import make_client
from bot.store import Store
from bot.store.schema import items, stories
from tests.builders import routing
from tests.conftest import reference_dir

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Academy news</title><link>https://academy.example.org/</link>
<description>News</description>
{items}
</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://academy.example.org/news/{n}</link>
<guid>news-{n}</guid><pubDate>Tue, 18 Aug 2026 09:00:00 GMT</pubDate>
<description>&lt;p&gt;{text}&lt;/p&gt;</description></item>"""


def rss(*entries: tuple[int, str, str]) -> bytes:
    return RSS.format(items="".join(ITEM.format(n=n, title=t, text=x) for n, t, x in entries)
                      ).encode()


FEED = rss((1, "Coaching for new directors", "Our coaching offer for directors new in post."),
           (2, "Improvement masterclass on 3 September", "Join the masterclass on 3 September."))


def collector(store: Store, clock, client: httpx.Client | None = None,  # type: ignore[no-untyped-def]
              base_dir: Path = Path(".")) -> Collector:
    return Collector(store, routing(), clock=clock, client=client, max_body=2_000_000,
                     base_dir=base_dir, backoff_cap=timedelta(hours=6))


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    c = make_client(timeout=2.0, max_redirects=3, user_agent="herald-test")
    yield c
    c.close()


def count(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_poll_304_and_same_bytes_cost_no_parse(store: Store, clock, feed_server, client) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.add("/news.xml", FEED)
    store.sync_config_sources([SourceConfig(name="news", url=url, every="15m")], clock.now())
    c = collector(store, clock, client)
    first = c.run_once()
    assert (first.changed, first.ingest.new_items, len(first.ingest.new_stories)) == (1, 2, 2)
    # 304: the server saw our validators and answered not modified.
    clock.advance(minutes=16)
    second = c.run_once()
    assert second.unchanged == 1 and second.ingest.new_items == 0
    assert feed_server.requests[-1][2].get("If-None-Match")
    # A server that ignores conditional GET: same bytes, so still no parse.
    feed_server.state.ignore_conditional = True
    clock.advance(minutes=16)
    third = c.run_once()
    assert third.unchanged == 1
    assert count(store, items) == 2
    src = store.get_source("news")
    assert src.next_poll_at == clock.now() + timedelta(minutes=15)
    # Not due yet: nothing polled.
    assert c.run_once().polled == 0


def test_changed_feed_adds_only_the_new_entry(store: Store, clock, feed_server, client) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.add("/news.xml", FEED)
    store.sync_config_sources([SourceConfig(name="news", url=url, every="15m")], clock.now())
    c = collector(store, clock, client)
    c.run_once()
    feed_server.add("/news.xml", rss(
        (1, "Coaching for new directors", "Our coaching offer for directors new in post."),
        (2, "Improvement masterclass on 3 September", "Join the masterclass on 3 September."),
        (3, "Stepping Up programme: applications open", "Apply now for the next cohort.")))
    clock.advance(minutes=16)
    stats = c.run_once()
    assert stats.ingest.new_items == 1 and stats.ingest.unchanged_items == 2
    assert count(store, stories) == 3


def test_broken_sources_are_recorded_and_others_go_on(store: Store, clock, feed_server,  # type: ignore[no-untyped-def]
                                                      client) -> None:
    feed_server.state.slow_seconds = 4
    good = feed_server.add("/good.xml", FEED)
    feed_server.add("/page.html", b"<!doctype html><html><body>Hello</body></html>",
                    "text/html")
    sources = {
        "a-500": feed_server.url("/status/500"),
        "b-503": feed_server.url("/status/503"),
        "c-slow": feed_server.url("/slow"),
        "d-garbage": feed_server.add("/garbage", b"\x00\x01 not a feed at all \xff",
                                     "application/octet-stream"),
        "e-html": feed_server.url("/page.html"),
        "f-loop": feed_server.url("/loop"),
        "g-missing": feed_server.url("/nothing-here"),
        "h-redirect": feed_server.url("/redirect/good.xml"),
        "z-good": good,
    }
    store.sync_config_sources([SourceConfig(name=n, url=u, every="15m")
                               for n, u in sources.items()], clock.now())
    stats = collector(store, clock, client).run_once()
    assert stats.polled == 9 and stats.errors == 7 and stats.changed == 2
    by_name = {s.name: s for s in store.list_sources()}
    expected = {"a-500": "HTTP 500", "b-503": "HTTP 503", "c-slow": "timed out",
                "d-garbage": "not an RSS, Atom or JSON feed", "e-html": "HTML page",
                "f-loop": "too many redirects", "g-missing": "HTTP 404"}
    for name, words in expected.items():
        src = by_name[name]
        assert words in (src.last_error or ""), (name, src.last_error)
        assert src.error_count == 1 and src.next_poll_at > clock.now()
    # The 503's Retry-After (120 s) is honoured as a floor on the backoff.
    assert by_name["b-503"].next_poll_at >= clock.now() + timedelta(seconds=120)
    assert by_name["z-good"].last_error is None
    assert by_name["h-redirect"].last_error is None
    assert count(store, stories) == 2  # redirect and good carry the same two entries


def test_backoff_grows_with_errors_and_is_capped() -> None:
    every, cap = timedelta(minutes=15), timedelta(hours=1)
    delays = [source_backoff(every, n, cap).total_seconds() for n in range(1, 12)]
    assert delays[3] > delays[0]
    assert max(delays) <= cap.total_seconds()
    assert source_backoff(every, 1, cap, retry_after=7200) >= timedelta(seconds=7200)


def test_local_files_and_missing_files(store: Store, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "news.xml").write_bytes(FEED)
    store.sync_config_sources([SourceConfig(name="local", url="news.xml"),
                               SourceConfig(name="gone", url="no-such-file.xml")], clock.now())
    c = collector(store, clock, None, base_dir=tmp_path)
    stats = c.run_once()
    assert stats.changed == 1 and stats.errors == 1
    assert "no such file" in (store.get_source("gone").last_error or "")
    clock.advance(hours=1)
    assert c.run_once(all_enabled=True).unchanged == 1


@pytest.mark.slow
def test_reference_corpus_never_crashes_a_run(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """Every real-world feed file is ingested or rejected with a per-source error, twice."""
    root = reference_dir("feeds")
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and p.suffix in (".xml", ".rss", ".atom", ".rdf", ".json"))
    assert len(files) > 100
    store = Store.open(f"sqlite:///{tmp_path / 'corpus.db'}")
    store.upgrade()
    try:
        store.sync_config_sources(
            [SourceConfig(name=f"f{n:05d}", url=str(p)) for n, p in enumerate(files)],
            clock.now())
        c = collector(store, clock)
        first = c.run_once(all_enabled=True)
        assert first.polled == len(files)
        assert first.changed + first.errors == len(files)
        errors = {s.name: s.last_error for s in store.list_sources() if s.last_error}
        assert all(errors.values())
        assert first.changed > len(files) * 0.9
        counts = (count(store, items), count(store, stories))
        clock.advance(hours=1)
        second = c.run_once(all_enabled=True)
        # Files that parsed are unchanged bytes now; failures fail again the same way.
        assert second.unchanged == first.changed and second.errors == first.errors
        assert (count(store, items), count(store, stories)) == counts
        assert {s.name: s.last_error for s in store.list_sources() if s.last_error} == errors
    finally:
        store.close()


def test_sources_are_read_concurrently_but_gently_per_host(store: Store, clock, feed_server,  # type: ignore[no-untyped-def]
                                                          client) -> None:
    feed_server.state.slow_seconds = 0.3
    store.sync_config_sources([SourceConfig(name=f"slow-{n}", url=feed_server.url(
        f"/slow?n={n}")) for n in range(6)], clock.now())
    c = Collector(store, routing(), clock=clock, client=client, max_body=1_000_000,
                  base_dir=Path("."), backoff_cap=timedelta(hours=1), concurrency=6,
                  per_host=2)
    stats = c.run_once()
    assert stats.polled == 6
    assert feed_server.state.max_active == 2  # six threads, but two at a time on one host


def test_a_claimed_source_is_not_polled_by_another_worker(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.sync_config_sources([SourceConfig(name="news", url="n.xml"),
                               SourceConfig(name="more", url="m.xml")], clock.now())
    lease = timedelta(minutes=5)
    first = store.claim_sources("w1", clock.now(), lease)
    assert {s.name for s in first} == {"news", "more"}
    assert store.claim_sources("w2", clock.now(), lease) == []
    store.release_sources("w1", ["more"])
    assert [s.name for s in store.claim_sources("w2", clock.now(), lease)] == ["more"]
    # w2 polls "more" and records it; w1 dies holding "news": its lease runs out, and
    # another worker takes over.
    store.record_poll_ok("more", validators=None, now=clock.now(),
                         next_poll_at=clock.now() + timedelta(hours=1))
    clock.advance(minutes=6)
    assert [s.name for s in store.claim_sources("w3", clock.now(), lease)] == ["news"]
    # Recording the poll gives the claim back at once.
    store.record_poll_ok("news", validators=None, now=clock.now(),
                         next_poll_at=clock.now())
    assert [s.name for s in store.claim_sources("w4", clock.now(), lease)] == ["news"]
