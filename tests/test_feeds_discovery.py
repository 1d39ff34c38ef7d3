"""Feeds like Miniflux (issue #15): a site's address finds the feeds its page links; a
display name instead of a slug; edit and poll now; feed errors in plain words.

Everything is fetched from the loopback feed server through Herald's real SSRF guard
(``[http] allow_networks`` lets 127.0.0.0/8 through, nothing else); the CLI runs as
``python -m bot`` in a child process, the web app in-process.
"""

from __future__ import annotations

import html
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.clock import FixedClock
from bot.config import SourceConfig
from bot.errors import FetchError, ParseError, StoreError
from bot.sources.guard import UrlGuard
from bot.sources.plain import Unreadable, in_one_line, plain_error, plain_words
from bot.store import Store
from bot.store.migrate import downgrade, upgrade
from bot.usecases.discover import MAX_HTML, feed_links, looks_like_html
from bot.usecases.feed_edit import edit_feed, poll_now
from bot.usecases.feeds import FeedRefused, add_feed, check_feed, new_feed
from tests.fakes.feed_server import FeedServer, running_feed_server
from tests.test_cli import FEED, flat, herald, json_out
from tests.test_feeds_usecase import cli_refusal, write_config
from tests.web_helpers import APPROVER, EDITOR, Web, make_web

NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
ALLOW_LOOPBACK = {"allow_networks": ["127.0.0.0/8"]}
JSON_FEED = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Blog",
                        "items": [{"id": "1", "title": "First post",
                                   "url": "https://academy.example.org/p/1",
                                   "content_text": "Hello"}]}).encode()


def page(*links: str, extra: str = "") -> bytes:
    head = "".join(links)
    return (f"<!doctype html><html><head><title>Academy</title>{head}</head>"
            f"<body>{extra}<p>Welcome</p></body></html>").encode()


def alt(href: str, kind: str = "application/rss+xml", title: str = "") -> str:
    titled = f' title="{title}"' if title else ""
    return f'<link rel="alternate" type="{kind}" href="{href}"{titled}>'


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with running_feed_server() as s:
        s.add("/news.xml", FEED.encode())
        s.add("/blog/feed.json", JSON_FEED, "application/feed+json")
        # One feed, linked relatively.
        s.add("/one/", page(alt("../news.xml", title="Academy news")), "text/html")
        # Two feeds of two kinds, one relative and one absolute, plus links to skip.
        s.add("/two/", page(alt("/news.xml", title="Academy news"),
                            alt(s.url("/blog/feed.json"), "application/feed+json",
                                title="Blog"),
                            '<link rel="stylesheet" href="/site.css">',
                            alt("/print.html", "text/html")), "text/html; charset=utf-8")
        s.add("/none/", page('<link rel="icon" href="/favicon.ico">'), "text/html")
        # A page whose only feed lives on a private network the guard refuses.
        s.add("/inside/", page(alt("http://10.0.0.5/feed.xml", title="Intranet")),
              "text/html")
        s.add("/garbage", b"%PDF-1.4 not a feed at all", "application/octet-stream")
        yield s


@pytest.fixture()
def web(tmp_path: Path, server: FeedServer, db_url: str) -> Iterator[Web]:
    w = make_web(tmp_path, FixedClock(NOW), db_url=db_url, http=ALLOW_LOOPBACK)
    yield w
    w.close()


@pytest.fixture()
def sqlite_web(tmp_path: Path, server: FeedServer) -> Iterator[Web]:
    w = make_web(tmp_path, FixedClock(NOW),
                 http={**ALLOW_LOOPBACK, "timeout": "1s", "deadline": "1s"},
                 sources=[{"name": "config-news", "url": server.url("/news.xml"),
                           "title": "News from the config"}])
    yield w
    w.close()


# -- reading a page's links --------------------------------------------------------------------

def test_feed_links_reads_alternate_links_of_feed_types_only() -> None:
    body = page(alt("feed.xml", title="  Main   feed "), alt("/atom", "application/atom+xml"),
                alt("https://other.example.org/f.json", "application/json"),
                alt("feed.xml"),  # the same address again
                alt("/page.html", "text/html"), '<link rel="stylesheet" href="x.css">',
                alt("mailto:news@example.org"), alt("javascript:alert(1)"))
    links = feed_links(body, "https://academy.example.org/news/index.html")
    assert [(f.url, f.format, f.title) for f in links] == [
        ("https://academy.example.org/news/feed.xml", "RSS", "Main feed"),
        ("https://academy.example.org/atom", "Atom", ""),
        ("https://other.example.org/f.json", "JSON Feed", "")]


def test_feed_links_follows_base_href_and_reads_only_the_start_of_a_page() -> None:
    body = page('<base href="https://cdn.example.org/site/">', alt("rss"))
    assert [f.url for f in feed_links(body, "https://academy.example.org/")] == [
        "https://cdn.example.org/site/rss"]
    late = b"<html><head>" + b" " * MAX_HTML + alt("/late.xml").encode() + b"</head></html>"
    assert feed_links(late, "https://academy.example.org/") == []
    assert looks_like_html(b"<!DOCTYPE html><html>", None)
    assert not looks_like_html(FEED.encode(), "application/xml")


# -- adding by a site's address -----------------------------------------------------------------

def test_a_site_address_with_one_feed_link_adds_that_feed(web: Web, server: FeedServer
                                                          ) -> None:
    row, check = add_feed(web.herald, new_feed(server.url("/one/")))
    assert row.url == server.url("/news.xml") and check.site == server.url("/one/")
    assert row.display_name == "Academy news" and row.name == "academy-news"
    assert check.count == 3
    # The same site again: its feed is there already.
    with pytest.raises(StoreError, match="already reads"):
        check_feed(web.herald, new_feed(server.url("/one/")))


def test_a_site_with_several_feeds_offers_the_choice_in_the_web_app(
        web: Web, server: FeedServer) -> None:
    ap = web.staff(APPROVER)
    checked = ap.post("/feeds/check", {"url": server.url("/two/"), "display_name": "",
                                       "every": "30m"})
    assert checked.status_code == 200, checked.text
    text = html.unescape(checked.text)
    assert "links 2 feeds: choose one" in text
    assert server.url("/news.xml") in text and server.url("/blog/feed.json") in text
    assert "print.html" not in text and "site.css" not in text
    # Choosing the blog: the check page shows its entries, the add form stores it.
    chosen = ap.post("/feeds/check", {"url": server.url("/blog/feed.json"),
                                      "display_name": "Blog", "every": "30m"})
    assert chosen.status_code == 200 and "Found 1 entry" in chosen.text
    added = ap.post("/feeds", {"url": server.url("/blog/feed.json"), "display_name": "Blog",
                               "every": "30m"})
    assert added.status_code == 303
    (row,) = web.store.list_sources()
    assert (row.name, row.display_name, row.every) == ("blog", "Blog", timedelta(minutes=30))
    listed = ap.get("/feeds").text
    assert "Blog" in listed and "Poll Blog now" in listed and "Edit Blog" in listed


def test_a_page_without_feed_links_and_a_private_feed_are_refused_in_plain_words(
        web: Web, server: FeedServer) -> None:
    ap = web.staff(APPROVER)
    none = ap.post("/feeds/check", {"url": server.url("/none/")})
    assert none.status_code == 422
    assert "this is a web page with no feed link" in html.unescape(none.text)
    before = len(server.state.requests)
    inside = ap.post("/feeds/check", {"url": server.url("/inside/")})
    assert inside.status_code == 422
    text = html.unescape(inside.text)
    assert "the page links a feed, but the address is on a private network" in text
    assert "10.0.0.5, a private address" in text  # the technical detail, folded
    assert len(server.state.requests) == before + 1  # the page; never the feed
    assert web.store.list_sources() == []


@pytest.mark.slow
def test_the_cli_adds_from_a_site_and_asks_which_of_several(tmp_path: Path,
                                                             server: FeedServer) -> None:
    config = write_config(tmp_path, server, sources="")
    several = herald(tmp_path, "feeds", "add", server.url("/two/"), "--config", config,
                     code=3)
    said = flat(several.stdout)
    assert "links 2 feeds" in said and "--pick" in said
    assert f"1. Academy news (RSS, 3 entries): {server.url('/news.xml')}" in said
    assert f"2. Blog (JSON Feed, 1 entries): {server.url('/blog/feed.json')}" in said
    added = herald(tmp_path, "feeds", "add", server.url("/two/"), "--pick", "2",
                   "--title", "Academy blog", "--config", config)
    assert "added feed academy-blog “Academy blog”" in flat(added.stdout)
    one = herald(tmp_path, "feeds", "add", server.url("/one/"), "--config", config)
    assert f"linked from {server.url('/one/')}" in flat(one.stdout)
    feeds = {f["name"]: f for f in json_out(herald(tmp_path, "feeds", "list", "--json",
                                                   "--config", config))}
    assert feeds["academy-blog"]["url"] == server.url("/blog/feed.json")
    assert feeds["academy-blog"]["display_name"] == "Academy blog"
    assert feeds["academy-news"]["url"] == server.url("/news.xml")
    error = cli_refusal(tmp_path, config, server.url("/none/"))
    assert "this is a web page with no feed link" in error


def test_a_display_name_makes_a_unique_stable_name(web: Web, server: FeedServer) -> None:
    first, _ = add_feed(web.herald, new_feed(server.url("/news.xml"),
                                             display_name="Académie News!"))
    second, _ = add_feed(web.herald, new_feed(server.url("/blog/feed.json"),
                                              display_name="Académie news"))
    assert (first.name, second.name) == ("academie-news", "academie-news-2")
    edited, _ = edit_feed(web.herald, "academie-news-2", display_name="The blog")
    assert edited.name == "academie-news-2" and edited.display_name == "The blog"
    assert web.store.source_display_names() == {"academie-news": "Académie News!",
                                                "academie-news-2": "The blog"}


def test_a_display_name_another_feed_shows_is_refused(web: Web, server: FeedServer
                                                     ) -> None:
    """Two feeds both read "Academy news" to people: refused on add (whatever the case
    and spacing) and on edit; a feed keeps its own name when edited; a site's title that
    another feed already shows is not taken as a display name."""
    add_feed(web.herald, new_feed(server.url("/news.xml"), display_name="Academy news"))
    with pytest.raises(FeedRefused, match="another feed is already called “academy NEWS”"):
        add_feed(web.herald, new_feed(server.url("/blog/feed.json"),
                                      display_name="academy  NEWS"))
    assert [r.name for r in web.store.list_sources()] == ["academy-news"]
    ap = web.staff(APPROVER)
    refused = ap.post("/feeds", {"url": server.url("/blog/feed.json"),
                                 "display_name": "ACADEMY NEWS", "every": "1h"})
    assert refused.status_code == 422
    assert "another feed is already called" in html.unescape(refused.text)
    blog, _ = add_feed(web.herald, new_feed(server.url("/blog/feed.json"),
                                            display_name="Blog"))
    with pytest.raises(FeedRefused, match="another feed is already called"):
        edit_feed(web.herald, blog.name, display_name="Academy News")
    refused = ap.post(f"/feeds/{blog.name}/edit", {"url": blog.url,
                                                   "display_name": "academy news",
                                                   "every": "1h"})
    assert refused.status_code == 422 and web.store.get_source(blog.name).display_name \
        == "Blog"
    kept, _ = edit_feed(web.herald, "academy-news", display_name="Academy News")
    assert kept.display_name == "Academy News"
    # A feed without a display name is shown as its name: that is taken too.
    web.store.add_source("plain", "https://elsewhere.example.org/feed.xml",
                         timedelta(hours=1), web.clock.now())
    with pytest.raises(FeedRefused, match="already called “Plain”"):
        edit_feed(web.herald, blog.name, display_name="Plain")


def test_a_sites_title_another_feed_shows_is_not_taken(web: Web, server: FeedServer
                                                       ) -> None:
    web.store.add_source("old", "https://elsewhere.example.org/feed.xml",
                         timedelta(hours=1), web.clock.now(), display_name="Academy news")
    row, _ = add_feed(web.herald, new_feed(server.url("/one/")))
    assert row.url == server.url("/news.xml") and row.display_name is None


# -- edit and poll now ---------------------------------------------------------------------------

def test_edit_checks_a_new_address_as_adding_does(web: Web, server: FeedServer) -> None:
    add_feed(web.herald, new_feed(server.url("/news.xml"), display_name="News"))
    add_feed(web.herald, new_feed(server.url("/blog/feed.json"), display_name="Blog"))
    web.clock.advance(hours=1)
    web.store.record_poll_ok("blog", validators=None, now=web.clock.now(),
                             next_poll_at=web.clock.now() + timedelta(hours=5))
    ap = web.staff(APPROVER)
    page_ = ap.get("/feeds/blog/edit")
    assert page_.status_code == 200 and 'value="Blog"' in page_.text
    for url, words in ((server.url("/news.xml?utm_source=x"),
                        "the feed “News” already reads"),
                       ("http://10.0.0.5/feed.xml", "the address is on a private network"),
                       (server.url("/missing.xml"), "the site answered 404 Not Found"),
                       (server.url("/garbage"), "this address is not a feed")):
        refused = ap.post("/feeds/blog/edit", {"url": url, "display_name": "Blog",
                                               "every": "15m"})
        assert refused.status_code == 422 and words in html.unescape(refused.text), url
    assert web.store.get_source("blog").url == server.url("/blog/feed.json")
    # A good change: the site's page, whose one feed is found; interval and name too.
    server.add("/blog2/", page(alt("/blog/feed.json?v=2", "application/feed+json")),
               "text/html")
    server.add("/blog/feed.json?v=2", JSON_FEED, "application/feed+json")
    saved = ap.post("/feeds/blog/edit", {"url": server.url("/blog2/"),
                                         "display_name": "Academy blog", "every": "1h"})
    assert saved.status_code == 303, saved.text
    row = web.store.get_source("blog")
    assert row.url == server.url("/blog/feed.json?v=2")
    assert (row.display_name, row.every) == ("Academy blog", timedelta(hours=1))
    assert row.next_poll_at == web.clock.now()  # a new address is read at once
    assert not row.validators.body_hash and row.error_count == 0
    # An editor may not edit.
    assert web.staff(EDITOR).post("/feeds/blog/edit", {"url": row.url}).status_code == 403


def test_poll_now_makes_the_feed_due_for_the_worker(web: Web, server: FeedServer) -> None:
    add_feed(web.herald, new_feed(server.url("/news.xml"), display_name="News"))
    web.herald.collect()
    row = web.store.get_source("news")
    assert row.last_ok_at == NOW and row.next_poll_at == NOW + timedelta(minutes=15)
    web.clock.advance(minutes=2)
    ap = web.staff(APPROVER)
    before = server.hits("/news.xml")
    posted = ap.post("/feeds/news/poll")
    assert posted.status_code == 303 and posted.headers["location"].endswith("poll-soon")
    assert server.hits("/news.xml") == before  # the page fetched nothing
    assert web.store.get_source("news").next_poll_at == web.clock.now()
    shown = html.unescape(ap.get("/feeds?done=poll-soon").text)
    assert "the worker reads it on its next round" in shown
    assert "due now: on the worker's next round" in shown
    web.herald.collect()  # the worker's next round
    assert server.hits("/news.xml") == before + 1
    assert web.store.get_source("news").last_polled_at == web.clock.now()
    web.store.set_source_paused("news", True, web.clock.now())
    with pytest.raises(StoreError, match="paused"):
        poll_now(web.herald, "news")


def test_config_feeds_keep_their_display_name_and_are_edited_in_the_file(
        sqlite_web: Web) -> None:
    web = sqlite_web
    row = web.store.get_source("config-news")
    assert row.display_name == "News from the config"
    with pytest.raises(StoreError, match="config file"):
        edit_feed(web.herald, "config-news", every="1h")
    assert SourceConfig.model_validate({"name": "a", "url": "/x.xml",
                                        "display_name": "A"}).display_name == "A"
    listed = web.staff(APPROVER).get("/feeds").text
    assert "News from the config" in listed and "/feeds/config-news/edit" not in listed


# -- errors in plain words -----------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetch_errors_read_in_plain_words(sqlite_web: Web, server: FeedServer) -> None:
    web = sqlite_web
    cases = [(f"http://127.0.0.1:{_closed_port()}/feed.xml", "the site refused the connection"),
             (server.url("/slow"), "the site did not answer within 1 s"),
             (server.url("/missing.xml"), "the site answered 404 Not Found"),
             (server.url("/garbage"), "this address is not a feed (RSS, Atom or JSON Feed)")]
    for url, words in cases:
        with pytest.raises(Unreadable) as info:
            check_feed(web.herald, new_feed(url, "x"))
        assert info.value.message.startswith(words), (url, info.value.message)
        assert "Errno" not in info.value.message
    # The refused one keeps its technical detail.
    with pytest.raises(Unreadable) as info:
        check_feed(web.herald, new_feed(cases[0][0], "x"))
    assert "ConnectError" in info.value.detail


def test_a_polls_stored_error_shows_in_plain_words_with_its_detail(
        sqlite_web: Web, server: FeedServer) -> None:
    web = sqlite_web
    port = _closed_port()
    web.store.add_source("gone", f"http://127.0.0.1:{port}/feed.xml", timedelta(minutes=5),
                         NOW, display_name="Gone")
    web.herald.collect()
    stored = web.store.get_source("gone").last_error or ""
    assert "Errno 111" in stored or "refused" in stored.lower()
    listed = html.unescape(web.staff(APPROVER).get("/feeds").text)
    assert "the site refused the connection</span> (1 in a row)" in listed
    assert "<summary>Detail</summary>" in listed


def test_the_mapping_names_each_failure() -> None:
    assert plain_words("HTTP 503 Service Unavailable").startswith(
        "the site answered 503 Service Unavailable (a fault on the site's side")
    assert plain_words("cannot resolve nowhere.invalid: [Errno -2] Name or service not "
                       "known") == "no such address (DNS): the site's name was not found"
    assert plain_words("timed out: no whole response within the 10 s deadline") == \
        "the site did not answer within 10 s"
    assert plain_words("body is over the 10000000-byte limit") == \
        "the feed is too large: over 10 MB"
    assert plain_error(ParseError("this is an HTML page, not a feed")).words == \
        "this is a web page with no feed link"
    assert plain_error("HTTP 404 Not Found (https://academy.example.org/x)").words.startswith(
        "the site answered 404 Not Found")
    assert plain_words("something new") == "something new"

    def no_dns(host: str, port: int) -> list[str]:
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(FetchError) as info:
        UrlGuard(resolver=no_dns).check("https://nowhere.invalid/feed")
    assert plain_error(info.value).words.startswith("no such address (DNS)")


# -- the migration ----------------------------------------------------------------------------

def test_0012_adds_display_name_and_goes_back(db_url: str, clock: FixedClock) -> None:
    s = Store.open(db_url)
    try:
        upgrade(s.engine, "0008")
        upgrade(s.engine)
        upgrade(s.engine)  # runs again safely
        columns = {c["name"] for c in inspect(s.engine).get_columns("sources")}
        assert "display_name" in columns
        s.add_source("news", "https://academy.example.org/feed.xml", timedelta(hours=1),
                     clock.now(), display_name="News")
        assert s.source_display_names() == {"news": "News"}
        downgrade(s.engine, "0008")
        columns = {c["name"] for c in inspect(s.engine).get_columns("sources")}
        assert "display_name" not in columns
        upgrade(s.engine)
        assert s.source_display_names() == {"news": "news"}
    finally:
        s.close()



@pytest.mark.slow
def test_the_cli_edits_and_polls_a_feed(tmp_path: Path, server: FeedServer) -> None:
    config = write_config(tmp_path, server)  # the config file's feed `news`
    herald(tmp_path, "feeds", "add", server.url("/blog/feed.json"), "--title", "Blog",
           "--config", config)
    edited = herald(tmp_path, "feeds", "edit", "blog", "--title", "Academy blog", "--every",
                    "2h", "--config", config)
    assert "feed blog: Academy blog" in flat(edited.stdout) and "every 2h" in flat(
        edited.stdout)
    refused = herald(tmp_path, "feeds", "edit", "blog", "--url", server.url("/missing.xml"),
                     "--config", config, code=1)
    said = flat(refused.stderr)
    assert "the site answered 404 Not Found" in said and "detail: HTTP 404" in said
    assert "Traceback" not in refused.stderr
    config_feed = herald(tmp_path, "feeds", "edit", "news", "--every", "1h", "--config",
                         config, code=1)
    assert "comes from the config file; change it there" in flat(config_feed.stderr)
    polled = herald(tmp_path, "feeds", "poll", "blog", "--config", config)
    assert "is due now: the worker polls it on its next round" in flat(polled.stdout)
    feeds = {f["name"]: f for f in json_out(herald(tmp_path, "feeds", "list", "--json",
                                                   "--config", config))}
    assert feeds["blog"]["display_name"] == "Academy blog" and feeds["blog"]["every"] == "2h"
    assert feeds["blog"]["url"] == server.url("/blog/feed.json")


@pytest.mark.slow
def test_the_cli_reports_poll_and_check_failures_in_plain_words(tmp_path: Path,
                                                                 server: FeedServer) -> None:
    assert in_one_line("HTTP 404 Not Found") == \
        "the site answered 404 Not Found (no page at this address) [HTTP 404 Not Found]"
    missing = server.url("/missing.xml")
    config = write_config(tmp_path, server,
                          sources=f'[[sources]]\nname = "gone"\nurl = "{missing}"\n')
    ran = herald(tmp_path, "run", "--once", "--config", config, code=None)
    assert "source gone failed: the site answered 404 Not Found" in flat(ran.stdout)
    checked = herald(tmp_path, "config", "check", "--online", "--config", config, code=None)
    assert "the site answered 404 Not Found" in flat(checked.stdout + checked.stderr)


def test_a_pages_link_titles_reach_the_page_escaped(sqlite_web: Web, server: FeedServer
                                                    ) -> None:
    server.add("/hostile/feed.xml", FEED.replace("test-academy", "hostile").encode())
    server.add("/hostile/", page(alt("feed.xml", title="&lt;img src=x onerror=alert(1)&gt;"),
                                 alt("/blog/feed.json", "application/feed+json",
                                     title="Blog")), "text/html")
    shown = sqlite_web.staff(APPROVER).post("/feeds/check", {"url": server.url("/hostile/")})
    assert shown.status_code == 200
    assert "<img src=x" not in shown.text and "&lt;img src=x onerror=alert(1)&gt;" in shown.text
