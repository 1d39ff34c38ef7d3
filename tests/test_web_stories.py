"""Stories and feeds in the web app: the inbox, fixing tags (kept through a re-ingest),
hold and release, merge and split; checking, adding, pausing and removing feeds on the
loopback feed server; the SSRF guard refusing inside addresses (on resolved addresses from
an injected resolver: no packet leaves 127.0.0.0/8); hostile feed text shown escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from tests.web_helpers import APPROVER, EDITOR, Web, make_web

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Academy news</title>
<link>https://academy.example.org/</link><description>News</description>
{items}
</channel></rss>"""
ITEM = """<item><title>{title}</title><link>{link}</link><guid>news-{n}</guid>
<pubDate>Tue, 18 Aug 2026 09:00:00 GMT</pubDate><description>{text}</description></item>"""

COACHING = (1, "Coaching for new directors", "https://academy.example.org/news/coaching",
            "Our one-to-one executive coaching offer for directors new in post.")
MASTERCLASS = (2, "Improvement masterclass on 3 September",
               "https://academy.example.org/news/masterclass",
               "Join the quality improvement masterclass on 3 September 2026.")
EVIL = (3, "&lt;script&gt;alert('title')&lt;/script&gt; Webinar &lt;img src=x onerror=alert(1)&gt;",
        "javascript:alert(document.cookie)",
        "&lt;p&gt;Read &lt;a href=\"javascript:alert(2)\"&gt;this&lt;/a&gt; "
        "&lt;img src=x onerror=\"alert(3)\"&gt;&lt;script&gt;alert(4)&lt;/script&gt;"
        "&lt;svg onload=alert(5)&gt;&lt;/svg&gt;&lt;/p&gt;")


def rss(*items: tuple[int, str, str, str]) -> str:
    return RSS.format(items="".join(ITEM.format(n=n, title=t, link=link, text=x)
                                    for n, t, link, x in items))


def feed_web(tmp_path: Path, clock: FixedClock, *items: tuple[int, str, str, str],
             db_url: str | None = None) -> Web:
    (tmp_path / "news.xml").write_text(rss(*items))
    web = make_web(tmp_path, clock, db_url=db_url,
                   sources=[{"name": "news", "url": str(tmp_path / "news.xml")}])
    stats = web.herald.collect(all_enabled=True)
    assert stats.errors == 0
    return web


@pytest.fixture
def web(tmp_path: Path, clock: FixedClock) -> Iterator[Web]:
    w = feed_web(tmp_path, clock, COACHING, MASTERCLASS)
    yield w
    w.close()


@pytest.fixture
def dbweb(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[Web]:
    w = feed_web(tmp_path, clock, COACHING, MASTERCLASS, db_url=db_url)
    yield w
    w.close()


def story_id(web: Web, title: str) -> int:
    return next(s.id for s in web.store.list_stories() if s.title.startswith(title))


def test_the_inbox_shows_stories_items_tags_and_deliveries(web: Web) -> None:
    ed = web.staff(EDITOR)
    page = ed.get("/stories").text
    assert "Coaching for new directors" in page and "Improvement masterclass" in page
    sid = story_id(web, "Coaching")
    assert f'href="/stories/{sid}"' in page
    assert "files: pending" in page
    detail = ed.get(f"/stories/{sid}").text
    assert "Source items (1)" in detail and "news" in detail
    assert "coaching" in detail.lower()
    story = web.store.get_story(sid)
    for tag in story.tags:
        assert tag.reason.replace("'", "&#39;").replace('"', "&#34;") in detail
    assert 'class="deliveries"' in detail
    # Filter by tag.
    kind = story.kind
    filtered = ed.get(f"/stories?tag={kind}").text
    assert "Coaching for new directors" in filtered
    # The API says the same.
    listed = ed.api("GET", "/api/stories").json()
    assert {s["title"] for s in listed} == {"Coaching for new directors",
                                            "Improvement masterclass on 3 September"}
    one = ed.api("GET", f"/api/stories/{sid}").json()
    assert one["items"][0]["source"] == "news"
    assert {d["target"] for d in one["deliveries"]} == {"files", "digest"}
    assert ed.get("/stories/999").status_code == 404
    assert ed.api("GET", "/api/stories/999").status_code == 404


def test_a_storys_source_items_name_the_feed_as_people_know_it(tmp_path: Path,
                                                              clock: FixedClock) -> None:
    (tmp_path / "news.xml").write_text(rss(COACHING))
    web = make_web(tmp_path, clock, sources=[{"name": "news", "url": str(tmp_path / "news.xml"),
                                              "display_name": "Academy news"}])
    try:
        assert web.herald.collect(all_enabled=True).errors == 0
        detail = web.staff(EDITOR).get(f"/stories/{story_id(web, 'Coaching')}").text
        assert "<strong>Academy news</strong>:" in detail
        assert "<strong>news</strong>" not in detail
    finally:
        web.close()


def test_fixed_tags_survive_a_re_ingest_of_the_same_feed(dbweb: Web) -> None:
    web = dbweb
    sid = story_id(web, "Coaching")
    ed = web.staff(EDITOR)
    r = ed.post(f"/stories/{sid}/tags", {"kind": "vacancy",
                                         "domains": ["innovation-improvement"]})
    assert r.status_code == 303 and r.headers["location"] == f"/stories/{sid}?done=tags"
    story = web.store.get_story(sid)
    assert story.kind == "vacancy"
    manual = {(t.group.value, t.slug) for t in story.tags if t.manual}
    assert manual == {("kind", "vacancy"), ("domain", "innovation-improvement")}
    page = ed.get(f"/stories/{sid}").text
    assert f"set by {EDITOR} (manual)" in page
    # The feed changes the item's text; the worker polls again.
    changed = (1, COACHING[1], COACHING[2],
               "Our one-to-one executive coaching offer for directors new in post, "
               "now with a masterclass on resilience and wellbeing for leaders.")
    (web.tmp_path / "news.xml").write_text(rss(changed, MASTERCLASS))
    web.clock.advance(hours=1)
    stats = web.herald.collect(all_enabled=True)
    assert stats.errors == 0
    story = web.store.get_story(sid)
    assert "resilience and wellbeing" in story.items[0].text  # it was re-ingested
    assert story.kind == "vacancy"
    domains = {t.slug for t in story.tags if t.group.value == "domain"}
    assert domains == {"innovation-improvement"}
    # Unknown tags are refused.
    assert ed.post(f"/stories/{sid}/tags", {"kind": "no-such"}).status_code == 409
    r = ed.api("PUT", f"/api/stories/{sid}/tags", json={"kind": "news", "domains": []})
    assert r.status_code == 200 and r.json()["kind"] == "news"


def test_a_tag_fix_in_the_web_app_or_the_api_is_kept_as_a_labelled_example(
        dbweb: Web) -> None:
    """``herald tags train`` learns from comms' fixes: a story's fixes are kept as one
    example (the latest state, with the text the tagger read and who fixed it). A later fix
    of one group keeps the earlier fix of the other; saving it again adds nothing; a
    refused fix keeps nothing; a reset to the tagger leaves no example."""
    web = dbweb
    sid = story_id(web, "Coaching")
    ed = web.staff(EDITOR)
    ed.post(f"/stories/{sid}/tags", {"kind": "coaching-offer",
                                     "domains": ["individual-effectiveness"]})
    for _ in range(3):
        ed.api("PUT", f"/api/stories/{sid}/tags", json={"kind": "news"})
    assert ed.post(f"/stories/{sid}/tags", {"kind": "no-such"}).status_code == 409
    story = web.store.get_story(sid)
    assert story.kind == "news"
    assert {(t.group.value, t.slug) for t in story.tags if t.manual} == {
        ("kind", "news"), ("domain", "individual-effectiveness")}
    examples = web.store.tag_examples()
    assert [(e["story_id"], e["kind"], e["domains"], e["fixed_by"]) for e in examples] == [
        (sid, "news", ["individual-effectiveness"], EDITOR)]
    assert examples[0]["title"] == story.title
    assert story.items[0].text in examples[0]["text"]
    ed.api("PUT", f"/api/stories/{sid}/tags", json={})
    assert not any(t.manual for t in web.store.get_story(sid).tags)
    assert web.store.tag_examples() == []


def test_hold_stops_a_story_and_release_lets_it_go(dbweb: Web) -> None:
    web = dbweb
    sid = story_id(web, "Coaching")
    other = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    r = ed.post(f"/stories/{sid}/hold", {"hold": "1"})
    assert r.status_code == 303 and r.headers["location"] == f"/stories/{sid}?done=held"
    assert web.store.get_story(sid).hold
    assert "Let it be posted" in ed.get(f"/stories/{sid}").text
    assert web.herald.dispatch().sent == 1  # only the other story
    # (Each also waits for the weekly digest, a target of its own.)
    sent = {k: [d for d in v if d.target != "digest"]
            for k, v in web.store.deliveries_for([sid, other]).items()}
    assert [d.status.value for d in sent[other]] == ["sent"]
    assert [d.status.value for d in sent[sid]] == ["pending"]
    r = ed.post(f"/stories/{sid}/hold", {"hold": "0"})
    assert r.headers["location"] == f"/stories/{sid}?done=released"
    assert not web.store.get_story(sid).hold
    assert web.herald.dispatch().sent == 1
    assert web.herald.dispatch().sent == 0
    r = ed.api("POST", f"/api/stories/{sid}/hold", json={"hold": True})
    assert r.status_code == 200 and r.json()["held"] is True


def test_merge_and_split(dbweb: Web) -> None:
    web = dbweb
    keep = story_id(web, "Coaching")
    other = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    assert ed.post(f"/stories/{keep}/merge", {"other": "not a number"}).status_code == 409
    assert ed.post(f"/stories/{keep}/merge", {"other": str(keep)}).status_code == 409
    r = ed.post(f"/stories/{keep}/merge", {"other": f"#{other}"})
    assert r.status_code == 303 and r.headers["location"] == f"/stories/{keep}?done=merged"
    merged = web.store.get_story(keep)
    assert len(merged.items) == 2
    assert [s.id for s in web.store.list_stories()] == [keep]
    page = ed.get(f"/stories/{keep}").text
    assert "Source items (2)" in page and "Split into its own story" in page
    assert ed.post(f"/stories/{other}/tags", {"kind": "news"}).status_code == 409  # merged
    r = ed.post(f"/stories/{keep}/split", {"item_url": MASTERCLASS[2]})
    assert r.status_code == 303
    new_id = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert new_id != keep
    assert [i.url for i in web.store.get_story(new_id).items] == [MASTERCLASS[2]]
    assert len(web.store.get_story(keep).items) == 1
    assert ed.post(f"/stories/{keep}/split", {"item_url": "https://x.example/"}
                   ).status_code in (404, 409)


# -- hostile feed text ------------------------------------------------------------------------

#: Herald's own scripts (files under /static, allowed by the CSP): not feed text.
OWN_SCRIPTS = {"/static/schedule.js", "/static/tables.js"}


class _Live(HTMLParser):
    """Everything in a page that a browser would run."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        own_script = tag == "script" and dict(attrs).get("src", "") in OWN_SCRIPTS
        if tag in ("script", "svg", "object", "embed") and not own_script:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}={value}")
            if name in ("href", "src", "action", "formaction") and value and \
                    value.strip().lower().startswith(("javascript:", "data:text", "vbscript:")):
                self.found.append(f"{tag} {name}={value}")


def live_code(html: str) -> list[str]:
    parser = _Live()
    parser.feed(html)
    return parser.found


def test_hostile_feed_text_is_shown_escaped(tmp_path: Path, clock: FixedClock) -> None:
    web = feed_web(tmp_path, clock, COACHING, EVIL)
    try:
        ed = web.staff(EDITOR)
        listing = ed.get("/stories").text
        assert live_code(listing) == []
        assert "Webinar" in listing
        evil = next(s for s in web.store.list_stories() if "Webinar" in s.title)
        detail = ed.get(f"/stories/{evil.id}").text
        assert live_code(detail) == [], live_code(detail)
        assert "Webinar" in detail
        # The API hands out the same text as data.
        data = ed.api("GET", f"/api/stories/{evil.id}").json()
        assert data["url"] is None and data["items"][0]["url"] is None
    finally:
        web.close()


def test_hostile_announcement_text_is_shown_escaped(web: Web) -> None:
    ed = web.staff(EDITOR)
    ann_id = web.compose(ed, title='<img src=x onerror="alert(1)">Hello',
                         body='[click](javascript:alert(1)) <script>alert(2)</script>\n\n'
                              '<a href="javascript:alert(3)" onclick="x()">a</a>')
    for path in ("/queue", f"/queue/{ann_id}", f"/queue/{ann_id}/edit"):
        page = ed.get(path).text
        assert live_code(page) == [], (path, live_code(page))
    digest = ed.get(f"/queue/{ann_id}/digest").text
    assert live_code(digest) == []



WORKSHOP = (4, "Coaching workshop in Preston", "https://academy.example.org/news/workshop",
            "Applications for the summer cohort closed on 14 August. Our next coaching "
            "workshop is on Thursday 24 September, 9.30am to 1pm, at the Brew House, Preston.")
HOSTILE_VENUE = (5, "Network meeting", "https://academy.example.org/news/network",
                 "Join our network meeting on 1 October. "
                 "Venue: &amp;lt;img src=x onerror=alert&amp;gt;")


def test_story_page_shows_key_dates_with_time_place_and_passed(
        tmp_path: Path, clock: FixedClock) -> None:
    web = feed_web(tmp_path, clock, WORKSHOP, HOSTILE_VENUE)  # the clock says 20 August
    try:
        ed = web.staff(EDITOR)
        detail = ed.get(f"/stories/{story_id(web, 'Coaching workshop')}").text
        rows = re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>(.*?)</td>"
                          r"<td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td></tr>",
                          detail[detail.index("Key dates"):detail.index("Tags")])
        assert rows == [
            ("Applications close", 'Fri 14 Aug 2026 <span class="badge badge-passed">passed'
             "</span>", "", ""),
            ("Event", "Thu 24 Sep 2026", "09:30–13:00", "the Brew House, Preston")]
        hostile = ed.get(f"/stories/{story_id(web, 'Network meeting')}").text
        assert live_code(hostile) == []
        assert "&lt;img src=x onerror=alert&gt;" in hostile
    finally:
        web.close()

# -- feeds ------------------------------------------------------------------------------------

NAMES = {"intranet.test": ["10.1.2.3"], "metadata.test": ["169.254.169.254"],
         "mixed.test": ["93.184.215.14", "192.168.1.1"], "loop.test": ["127.0.0.1"]}


def resolver(host: str, port: int) -> list[str]:
    """Test names resolve to inside addresses; nothing else resolves (no DNS is asked)."""
    if host not in NAMES:
        raise OSError("no such host (test resolver)")
    return NAMES[host]


@pytest.fixture
def loopback_web(tmp_path: Path, clock: FixedClock) -> Iterator[Web]:
    """Loopback allowed explicitly, as the operator would allow an intranet network."""
    w = make_web(tmp_path, clock, http={"allow_networks": ["127.0.0.0/8"]})
    w.herald.guard.resolver = resolver
    yield w
    w.close()


def test_check_add_pause_resume_and_remove_a_feed(loopback_web: Web, feed_server: Any) -> None:
    web = loopback_web
    url = feed_server.add("/news.xml", rss(COACHING, MASTERCLASS).encode())
    ap = web.staff(APPROVER)
    page = ap.get("/feeds").text
    assert "No feeds yet." in page and 'action="/feeds/check"' in page
    r = ap.post("/feeds/check", {"url": url, "name": "", "every": "30m"})
    assert r.status_code == 200, r.text
    assert "Found 2 entries" in r.text and "Coaching for new directors" in r.text
    assert "has no entries" not in r.text
    assert 'value="127-0-0-1"' in r.text or "Add " in r.text
    assert feed_server.hits("/news.xml") == 1
    assert web.store.list_sources() == []  # checking adds nothing
    r = ap.post("/feeds", {"url": url, "name": "academy-news", "every": "30m"})
    assert r.status_code == 303 and r.headers["location"] == "/feeds?done=feed-added"
    assert feed_server.hits("/news.xml") == 2  # adding fetches it again (as the CLI does)
    (source,) = web.store.list_sources()
    assert source.name == "academy-news" and source.url == url
    assert source.every.total_seconds() == 1800
    page = ap.get("/feeds").text
    assert "academy-news" in page and "Pause academy-news" in page
    assert ap.post("/feeds", {"url": url, "name": "academy-news"}).status_code == 409
    r = ap.post("/feeds/academy-news/pause", {"paused": "1"})
    assert r.headers["location"] == "/feeds?done=paused"
    assert web.store.get_source("academy-news").paused
    assert "Resume academy-news" in ap.get("/feeds").text
    r = ap.post("/feeds/academy-news/pause", {"paused": "0"})
    assert r.headers["location"] == "/feeds?done=resumed"
    assert not web.store.get_source("academy-news").paused
    # The worker polls it: its last poll shows.
    web.herald.collect(all_enabled=True)
    assert feed_server.hits("/news.xml") == 3
    assert web.store.get_source("academy-news").last_polled_at is not None
    r = ap.post("/feeds/academy-news/remove")
    assert r.status_code == 303 and web.store.list_sources() == []
    assert ap.post("/feeds/academy-news/remove").status_code == 404


def test_an_empty_feed_is_checked_with_a_warning_and_can_still_be_added(
        loopback_web: Web, feed_server: Any) -> None:
    web = loopback_web
    url = feed_server.add("/empty.xml", rss().encode())
    ap = web.staff(APPROVER)
    r = ap.post("/feeds/check", {"url": url, "display_name": "Empty news", "every": "1h"})
    assert r.status_code == 200 and "Found 0 entries" in r.text
    assert '<p class="warning" role="status">This feed has no entries: it may be new and ' \
        "still empty, or Herald could not read it fully" in r.text
    assert ap.post("/feeds", {"url": url, "display_name": "Empty news",
                              "every": "1h"}).status_code == 303
    assert [s.display_name for s in web.store.list_sources()] == ["Empty news"]


def test_feed_check_shows_what_is_wrong(loopback_web: Web, feed_server: Any) -> None:
    ap = loopback_web.staff(APPROVER)
    for url, words in [(feed_server.url("/status/500"), "500"),
                       (feed_server.url("/missing.xml"), "404"),
                       ("ftp://example.org/feed", "http:// or https://"),
                       ("not a url", "http:// or https://")]:
        r = ap.post("/feeds/check", {"url": url})
        assert r.status_code == 422, url
        assert words in r.text, (url, words)
    r = ap.post("/feeds/check", {"url": feed_server.url("/x.xml"), "name": "Bad Name!"})
    assert r.status_code == 422 and "not a valid name" in r.text
    r = ap.post("/feeds/check", {"url": feed_server.url("/x.xml"), "every": "10s"})
    assert r.status_code == 422 and "once a minute" in r.text


@pytest.mark.parametrize(("url", "words"), [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://metadata.test/latest/", "cloud metadata"),
    ("https://intranet.test/feed.xml", "private address"),
    ("http://mixed.test/feed.xml", "private address"),
    ("http://10.0.0.5/feed.xml", "private address"),
    ("http://[fe80::1]/feed.xml", "link-local"),
])
def test_a_feed_on_an_inside_address_is_refused(loopback_web: Web, url: str,
                                                words: str) -> None:
    ap = loopback_web.staff(APPROVER)
    r = ap.post("/feeds/check", {"url": url, "name": "inside"})
    assert r.status_code == 422 and words in r.text and "refused" in r.text
    r = ap.post("/feeds", {"url": url, "name": "inside"})
    assert r.status_code == 409 and words in r.text
    assert loopback_web.store.list_sources() == []


def test_loopback_is_refused_unless_the_operator_allows_it(tmp_path: Path, clock: FixedClock,
                                                           feed_server: Any) -> None:
    web = make_web(tmp_path, clock)  # no allow_networks
    try:
        url = feed_server.add("/news.xml", rss(COACHING).encode())
        ap = web.staff(APPROVER)
        r = ap.post("/feeds/check", {"url": url})
        assert r.status_code == 422 and "loopback" in r.text
        assert ap.post("/feeds", {"url": url, "name": "n"}).status_code == 409
        assert feed_server.hits("/news.xml") == 0  # refused before any connection
    finally:
        web.close()


def test_a_config_feed_can_be_paused_but_not_removed(web: Web) -> None:
    ap = web.staff(APPROVER)
    page = ap.get("/feeds").text
    assert "(config file)" in page and "Remove news" not in page
    assert ap.post("/feeds/news/pause", {"paused": "1"}).status_code == 303
    r = ap.post("/feeds/news/remove")
    assert r.status_code == 409 and "config file" in r.text
    ed = web.staff(EDITOR)
    page = ed.get("/feeds").text
    assert "Pause news" not in page and "Resume news" not in page  # editors only look
