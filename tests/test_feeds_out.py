"""The feeds out (/feed/all.xml, /feed/{domain}.xml as Atom; .json as JSON Feed 1.1), on
SQLite and PostgreSQL with the bundled samples collected once: feedparser reads the Atom
without complaint (bozo 0; feedparser 6.0.x has no JSON Feed support, so Herald's own
JSON Feed reader reads that back), the JSON Feed validates against the schema in
../shared/reference/feeds (skipped without it), conditional GET answers 304, a domain's
feed carries that domain only, and a hostile title stays text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from sqlalchemy import update

from bot.sources.feed import parse_feed
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import stories as t_stories
from tests.conftest import reference_dir
from tests.test_calendar import sample_web
from tests.web_helpers import Web

LC = "learning-capacity"


@pytest.fixture
def samples(tmp_path: Path, db_url: str) -> Iterator[Web]:
    web = sample_web(tmp_path, db_url)
    yield web
    web.close()


def fetch(web: Web, path: str, **headers: str) -> Any:
    return web.client().get(path, headers=headers)


def parsed(web: Web, path: str) -> Any:
    r = fetch(web, path)
    assert r.status_code == 200, r.text
    feed = feedparser.parse(r.content, response_headers={
        "content-type": r.headers["content-type"]})
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def test_atom_parses_with_tags_and_key_dates(samples: Web) -> None:
    r = fetch(samples, "/feed/all.xml")
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = parsed(samples, "/feed/all.xml")
    assert feed.version == "atom10"
    assert feed.feed.title == "Academy news"
    assert feed.feed.author == "Academy news"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == "http://localhost:8000/feed/all.xml"
    assert "alternate" in links
    assert len(feed.entries) >= 5
    ids = [e.id for e in feed.entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:localhost,") for i in ids)
    (seacole,) = [e for e in feed.entries if "Applications open Thu 27 Aug 2026" in e.summary]
    assert seacole.link.startswith("https://")
    terms = {t.term: t.label for t in seacole.tags}
    assert terms[LC] == "Learning and capacity building"
    assert seacole.published_parsed and seacole.updated_parsed
    # The same data, the same bytes: ids and ETag are stable.
    again = fetch(samples, "/feed/all.xml")
    assert again.content == r.content and again.headers["etag"] == r.headers["etag"]


def test_json_feed_parses_and_validates(samples: Web) -> None:
    r = fetch(samples, "/feed/all.json")
    assert r.headers["content-type"] == "application/feed+json; charset=utf-8"
    # feedparser 6.0.x reads no JSON Feed: Herald's own reader (bot.sources.feed) reads it
    # back, as another Herald would collect it.
    read = parse_feed(r.content, source="out", url="http://localhost:8000/feed/all.json",
                      collected_at=samples.clock.now(), content_type=r.headers["content-type"])
    body = json.loads(r.content)
    assert [i.title for i in read] == [i["title"] for i in body["items"]]
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert body["feed_url"] == "http://localhost:8000/feed/all.json"
    (seacole,) = [i for i in body["items"]
                  if any(d["day"] == "2026-08-27" for d in i["_herald"]["key_dates"])]
    assert seacole["_herald"]["key_dates"][0]["text"] == "Applications open Thu 27 Aug 2026"
    assert "Learning and capacity building" in seacole["tags"]
    assert seacole["content_text"].startswith("Applications open Thu 27 Aug 2026")
    import jsonschema

    schema_file = reference_dir("feeds", "jsonfeed-schema") / "schema-v1.1.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)


@pytest.mark.parametrize("path", ["/feed/all.xml", "/feed/all.json"])
def test_conditional_get(samples: Web, path: str) -> None:
    samples.clock.advance(seconds=1)  # Last-Modified is sent once it is a second old
    r = fetch(samples, path)
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert r.headers["cache-control"] == "public, max-age=300"
    assert fetch(samples, path, **{"If-None-Match": etag}).status_code == 304
    assert fetch(samples, path, **{"If-None-Match": f'W/{etag}, "x"'}).status_code == 304
    assert fetch(samples, path, **{"If-Modified-Since": modified}).status_code == 304
    older = format_datetime(samples.clock.now() - timedelta(days=1), usegmt=True)
    assert fetch(samples, path, **{"If-Modified-Since": older}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    assert fetch(samples, path, **{"If-None-Match": '"x"',
                                   "If-Modified-Since": modified}).status_code == 200


@pytest.mark.parametrize("path", ["/feed/all.xml", "/calendar.ics"])
def test_no_last_modified_within_the_second_of_a_change(samples: Web, path: str) -> None:
    """Found from outside: a hold in the same second as the last change kept the same
    whole-second Last-Modified, and If-Modified-Since answered 304. Within that second
    there is no Last-Modified to send back (the ETag still works)."""
    story = next(s for s in samples.store.list_stories() if s.dates)
    assert story.id is not None
    samples.clock.advance(minutes=1)
    samples.store.set_hold(story.id, False, samples.herald.routing, samples.clock.now())
    samples.store.set_hold(story.id, True, samples.herald.routing, samples.clock.now())
    r = fetch(samples, path)
    assert "last-modified" not in r.headers and r.headers["etag"]
    samples.clock.advance(seconds=1)
    assert "last-modified" in fetch(samples, path).headers


@pytest.mark.parametrize("path", ["/feed/all.xml", "/calendar.ics"])
def test_a_story_held_later_is_news_to_a_client_that_sends_only_its_date(
        samples: Web, path: str) -> None:
    """A story that leaves an output changes no entry that stays: Last-Modified must still
    move, or a client that sends only If-Modified-Since keeps the held story."""
    fetch(samples, path)  # a calendar's events are versioned when first served
    samples.clock.advance(seconds=1)
    modified = fetch(samples, path).headers["last-modified"]
    samples.clock.advance(minutes=5)
    story = next(s for s in samples.store.list_stories() if s.dates)
    assert story.id is not None
    samples.store.set_hold(story.id, True, samples.herald.routing, samples.clock.now())
    again = fetch(samples, path, **{"If-Modified-Since": modified})
    assert again.status_code == 200 and again.headers.get("last-modified") != modified


def test_domain_feeds_and_unknown_domains(samples: Web) -> None:
    everything = parsed(samples, "/feed/all.xml").entries
    mine = parsed(samples, f"/feed/{LC}.xml")
    assert mine.feed.title == "Academy news — Learning and capacity building"
    assert 0 < len(mine.entries) < len(everything)
    for e in mine.entries:
        assert LC in {t.term for t in e.tags}
    items = json.loads(fetch(samples, f"/feed/{LC}.json").content)["items"]
    assert {i["id"] for i in items} == {e.id for e in mine.entries}
    for path in ("/feed/no-such-domain.xml", "/feed/no-such-domain.json"):
        assert fetch(samples, path).status_code == 404


def test_only_published_stories(samples: Web) -> None:
    web = samples
    ids = {e.id for e in parsed(web, "/feed/all.xml").entries}
    story = web.store.list_stories()[0]
    web.store.set_hold(story.id, True, web.herald.routing, web.clock.now())
    with web.store.engine.begin() as conn:
        conn.execute(update(t_deliveries).where(t_deliveries.c.story_id != story.id)
                     .values(release_at=web.clock.now() + timedelta(hours=1)))
    assert parsed(web, "/feed/all.xml").entries == []
    web.clock.advance(hours=1)
    left = {e.id for e in parsed(web, "/feed/all.xml").entries}
    assert len(left) == len(ids) - 1


def test_hostile_text_stays_text(samples: Web) -> None:
    web = samples
    story = web.store.list_stories()[0]
    evil = "]]> <script>alert(1)</script> &amp; \x01\x0b\x1f\ufffe done"
    with web.store.engine.begin() as conn:
        conn.execute(update(t_stories).where(t_stories.c.id == story.id)
                     .values(title=evil, summary=evil, url="javascript:alert(1)"))
    feed = parsed(web, "/feed/all.xml")
    mine = [e for e in feed.entries if e.id.endswith(f":story-{story.id}")]
    (entry,) = mine
    assert entry.title == "]]> <script>alert(1)</script> &amp; done"
    assert "<script>" not in fetch(web, "/feed/all.xml").text  # escaped, never markup
    assert not any(link.href.startswith("javascript") for link in entry.get("links", []))
    items = json.loads(fetch(web, "/feed/all.json").content)["items"]
    (item,) = [i for i in items if i["id"] == entry.id]
    assert item["title"] == entry.title and "url" not in item
