"""The X source through the real tweepy client, with answers replayed at the HTTP layer;
and the archive import."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bot.config import SourceConfig
from bot.errors import FetchError
from bot.sources.x import XOptions, XSource, expand_text, tweet_to_item
from bot.sources.x_archive import read_archive
from bot.store import Store
from tests.builders import routing
from tests.fakes import x_api
from tests.fakes.x_api import USERNAME, add_timeline, add_user, timeline, tweet

DATA = Path(__file__).parent / "data"
ENV = {"X_BEARER_TOKEN": "AAAA-test-bearer"}

SEACOLE = tweet(
    "1829000000000000201",
    "Fully-funded #SeacoleProg places for community pharmacy teams, with @cppeengland. "
    "Applications for the next nine cohorts open on 27 August https://t.co/AbCdEf0001 "
    "https://t.co/Pic0000009",
    "2026-08-18T08:30:00.000Z",
    urls=[{"url": "https://t.co/AbCdEf0001",
           "expanded_url": "https://academy.example.org/news/seacole-community-pharmacy",
           "display_url": "academy.example.org/news/seacole-…"},
          {"url": "https://t.co/Pic0000009", "expanded_url":
           "https://x.com/nwacademy/status/1829000000000000201/photo/1",
           "display_url": "pic.x.com/Pic0000009", "media_key": "3_1829"}])
LONG = tweet(
    "1829000000000000202", "Our executive coaching offer is open… https://t.co/Lng0000001",
    "2026-08-19T10:00:00.000Z",
    note_tweet={"text": "Our executive coaching offer is open to senior leaders facing big "
                        "changes in their roles. " * 6 + "Request a coach at "
                        "https://t.co/Lng0000002",
                "entities": {"urls": [{"start": 0, "end": 1, "url": "https://t.co/Lng0000002",
                                       "expanded_url": "https://academy.example.org/news/"
                                                       "executive-coaching-support"}]}})
QUOTE = tweet("1829000000000000203", "Worth a read", "2026-08-19T11:00:00.000Z",
              referenced_tweets=[{"type": "quoted", "id": "1"}])


def source(**options: object) -> XSource:
    return XSource("academy-x", XOptions(username=USERNAME, **options), ENV)  # type: ignore[arg-type]


def query(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@responses.activate
def test_first_poll_reads_one_page_and_makes_items(clock) -> None:  # type: ignore[no-untyped-def]
    add_user(responses.mock)
    add_timeline(responses.mock, timeline([SEACOLE, LONG, QUOTE], next_token="page2"))
    found = source().poll({}, clock.now())
    calls = [c for c in responses.calls if "/tweets" in c.request.url]
    assert len(calls) == 1, "the first poll must not page through the whole history"
    q = query(calls[0])
    # Retweets are read: the account's reposts of its own posts are kept (others' dropped).
    assert q["exclude"] == ["replies"]
    assert set(q["tweet.fields"][0].split(",")) >= {"created_at", "entities",
                                                    "referenced_tweets", "note_tweet"}
    assert calls[0].request.headers["Authorization"] == "Bearer AAAA-test-bearer"
    assert [i.source_item_id for i in found.items] == [SEACOLE["id"], LONG["id"]]  # no quote
    seacole, long = found.items
    assert "https://academy.example.org/news/seacole-community-pharmacy" in seacole.text
    assert "t.co" not in seacole.text and "pic.x.com" not in seacole.text
    assert seacole.url == f"https://x.com/{USERNAME}/status/{SEACOLE['id']}"
    assert seacole.author == "North West Leadership Academy (@nwacademy)"
    assert seacole.published_at.isoformat() == "2026-08-18T08:30:00+00:00"
    assert any(lk.expanded_url == "https://academy.example.org/news/seacole-community-pharmacy"
               for lk in seacole.links)
    assert long.text.count("senior leaders") == 6  # the whole note_tweet, not the cut text
    # since_id covers the quote too: it was read (and paid for), though not kept.
    assert found.state == {"user_id": x_api.USER_ID, "name": "North West Leadership Academy",
                           "since_id": QUOTE["id"]}


@responses.activate
def test_later_polls_ask_only_for_newer_posts_and_page(clock) -> None:  # type: ignore[no-untyped-def]
    newer = tweet("1829000000000000301", "A newer post about our summit", "2026-08-20T09:00Z")
    newest = tweet("1829000000000000302", "The newest post, about a webinar", "2026-08-21T09:00Z")
    add_timeline(responses.mock, timeline([newest], next_token="p2"),
                 since_id="1829000000000000202")
    add_timeline(responses.mock, timeline([newer]), pagination_token="p2")
    state = {"user_id": x_api.USER_ID, "name": "Academy", "since_id": "1829000000000000202"}
    found = source(include_replies=True, include_retweets=True).poll(state, clock.now())
    assert not any("/users/by/username" in c.request.url for c in responses.calls)
    assert [query(c).get("since_id") for c in responses.calls] == [
        ["1829000000000000202"]] * 2
    assert "exclude" not in query(responses.calls[0])
    assert {i.source_item_id for i in found.items} == {newer["id"], newest["id"]}
    assert found.state["since_id"] == newest["id"]


@responses.activate
def test_nothing_new_keeps_since_id(clock) -> None:  # type: ignore[no-untyped-def]
    add_timeline(responses.mock, timeline([]))
    state = {"user_id": x_api.USER_ID, "name": "A", "since_id": "5"}
    found = source().poll(state, clock.now())
    assert found.items == [] and found.state["since_id"] == "5"


@responses.activate
def test_rate_limit_backs_off_until_reset(clock) -> None:  # type: ignore[no-untyped-def]
    add_timeline(responses.mock, x_api.TOO_MANY, status=429,
                 headers=x_api.rate_limit_headers(900))
    with pytest.raises(FetchError) as exc:
        source().poll({"user_id": x_api.USER_ID, "since_id": "5"}, clock.now())
    assert "429" in str(exc.value) and not exc.value.permanent
    assert 800 < exc.value.retry_after <= 901


@pytest.mark.parametrize(("status", "body", "words"), [
    (401, x_api.UNAUTHORIZED, "refused the bearer token (401)"),
    (403, x_api.CLIENT_NOT_ENROLLED, "plan cannot read timelines"),
])
@responses.activate
def test_auth_and_plan_errors_are_permanent(clock, status: int, body: dict, words: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    add_user(responses.mock)
    add_timeline(responses.mock, body, status=status)
    with pytest.raises(FetchError) as exc:
        source().poll({}, clock.now())
    assert words in str(exc.value) and exc.value.permanent


def test_missing_token_is_permanent(clock) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FetchError, match="X_BEARER_TOKEN"):
        XSource("x", XOptions(username=USERNAME), {}).poll({}, clock.now())


def test_expand_text_replaces_links_and_drops_media() -> None:
    text, links = expand_text("See https://t.co/a1 and https://t.co/m2", [
        {"url": "https://t.co/a1", "expanded_url": "https://academy.example.org/x"},
        {"url": "https://t.co/m2", "display_url": "pic.x.com/m2", "expanded_url": "https://x"}])
    assert text == "See https://academy.example.org/x and"
    assert [(lk.url, lk.expanded_url) for lk in links] == [("https://t.co/a1",
                                                            "https://academy.example.org/x")]


@responses.activate
def test_collector_stores_items_and_since_id_and_backs_off_alone(store: Store, clock,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    from bot.collect import Collector

    (tmp_path / "news.xml").write_text(
        "<rss version='2.0'><channel><title>n</title><item><title>Seacole places for "
        "community pharmacy</title><link>https://academy.example.org/news/seacole-community-"
        "pharmacy</link><guid>s1</guid><description>Fully-funded places; applications for "
        "nine cohorts open on 27 August.</description><pubDate>Mon, 17 Aug 2026 09:00:00 "
        "GMT</pubDate></item></channel></rss>")
    store.sync_config_sources([SourceConfig(name="news", url="news.xml", announce_backlog=True),
                               SourceConfig(name="academy-x", type="x", username=USERNAME,
                                            announce_backlog=True)],
                              clock.now())
    collector = Collector(store, routing(), clock=clock, client=None, max_body=1_000_000,
                          base_dir=tmp_path, backoff_cap=timedelta(hours=6),
                          x_sources={"academy-x": source()})
    add_user(responses.mock)
    add_timeline(responses.mock, timeline([SEACOLE]))
    stats = collector.run_once()
    assert stats.errors == 0
    (story,) = store.list_stories()
    assert {i.source for i in story.items} == {"news", "academy-x"}  # the tweet joined the post
    assert story.title == "Seacole places for community pharmacy"  # the website post leads
    assert store.get_source("academy-x").state["since_id"] == SEACOLE["id"]
    # Next poll: X rate-limits; the X source backs off, the feed is unaffected.
    responses.mock.reset()
    add_timeline(responses.mock, x_api.TOO_MANY, status=429,
                 headers=x_api.rate_limit_headers(1800))
    clock.advance(hours=1)
    stats = collector.run_once()
    assert stats.errors == 1 and stats.unchanged == 1
    x = store.get_source("academy-x")
    assert x.next_poll_at >= clock.now() + timedelta(seconds=1700)
    assert x.state["since_id"] == SEACOLE["id"]


def test_archive_import_reads_folder_and_file(clock) -> None:  # type: ignore[no-untyped-def]
    folder = DATA / "x-archive"
    account, items = read_archive(folder, collected_at=clock.now())
    assert account.username == "nwacademy"
    ids = [i.source_item_id for i in items]
    assert ids == ["1829000000000000101", "1829000000000000104"]  # no RT, no reply to others
    seacole, coaching = items
    assert seacole.source == "x-archive-nwacademy"
    assert "utm_source=twitter" in seacole.text  # expanded as written; canonical drops it
    assert "t.co" not in coaching.text and "pic.x.com" not in coaching.text
    assert seacole.published_at.isoformat() == "2026-08-18T08:30:00+00:00"
    _, with_all = read_archive(folder / "data" / "tweets.js", include_replies=True,
                               include_retweets=True, collected_at=clock.now())
    assert len(with_all) == 4


def test_archive_errors_are_clear(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.errors import ParseError

    with pytest.raises(ParseError, match="unzipped X archive"):
        read_archive(tmp_path, collected_at=clock.now())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tweets.js").write_text("window.YTD.tweets.part0 = [ {oops ")
    (tmp_path / "data" / "account.js").write_text(
        'window.YTD.account.part0 = [{"account": {"username": "a"}}]')
    with pytest.raises(ParseError, match="not an X archive data file"):
        read_archive(tmp_path, collected_at=clock.now())


@responses.activate
def test_run_once_with_x_and_rss_posts_each_announcement_once(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """The issue's "done when": a recorded X account and an RSS feed carrying the same
    announcements give one story per announcement, each posted once per target."""
    import json

    from bot.app import Herald
    from tests.conftest import CONFIG_DIR, make_settings

    sample = CONFIG_DIR / "sample" / "academy-news.xml"
    settings = make_settings(tmp_path, {
        "sources": [{"name": "academy-news", "url": str(sample)},
                    {"name": "academy-x", "type": "x", "username": USERNAME}],
    }, environ=ENV)
    # Recorded posts that announce what the website feed announces, in X's own words.
    posts = [
        tweet("1829000000000000401",
              "Community pharmacists & pharmacy technicians: fully-funded places on the Mary "
              "#SeacoleProg with @cppeengland. Applications for the next nine cohorts open on "
              "27 August https://t.co/Seac0le401", "2026-08-18T08:30:00.000Z",
              urls=[{"url": "https://t.co/Seac0le401", "expanded_url":
                     "https://academy.example.org/news/mary-seacole-programme-community-"
                     "pharmacy?utm_source=twitter"}]),
        tweet("1829000000000000402",
              "Senior leaders facing big changes in your role: our executive coaching support "
              "gives you confidential time with an experienced coach. Request a coach "
              "https://t.co/C0ach00402", "2026-08-19T09:00:00.000Z",
              urls=[{"url": "https://t.co/C0ach00402", "expanded_url":
                     "https://academy.example.org/news/executive-coaching-support"}]),
    ]
    add_user(responses.mock)
    add_timeline(responses.mock, timeline(posts))
    herald = Herald(settings, clock=clock)
    try:
        herald.prepare()
        first = herald.cycle()
        assert first.collect.errors == 0, [r.error for r in first.collect.results]
        stories = herald.store.list_stories()
        by_title = {s.title: s for s in stories}
        seacole = next(s for s in stories if "Seacole" in s.title)
        coaching = by_title["Executive coaching for senior leaders facing change"]
        assert "academy-x" in seacole.sources and "academy-news" in seacole.sources
        assert "academy-x" in coaching.sources
        assert not any(s.sources == ("academy-x",) for s in stories)  # no tweet alone
        files = sorted((tmp_path / "outbox" / "files").glob("*.json"))
        assert len(files) == len(stories) == first.dispatch.sent
        assert {json.loads(f.read_text())["payload"]["story_id"] for f in files} == {
            s.id for s in stories}
        # The next poll: X has nothing newer, the feed is unchanged; nothing is posted.
        responses.mock.reset()
        add_timeline(responses.mock, timeline([]))
        clock.advance(hours=1)
        second = herald.cycle()
        assert second.dispatch.sent == 0 and second.collect.ingest.new_items == 0
        assert responses.calls[0].request.url.count("since_id=1829000000000000402") == 1
    finally:
        herald.close()


@responses.activate
def test_a_burst_longer_than_max_pages_is_finished_next_poll(clock) -> None:  # type: ignore[no-untyped-def]
    def post(n: int) -> dict:  # type: ignore[type-arg]
        return tweet(str(1000 + n), f"Post number {n} about something", "2026-08-20T09:00Z")

    # 12 new posts since 999, in pages of 5, two pages a poll: the second page still has a
    # next_token when the poll stops.
    state = {"user_id": x_api.USER_ID, "name": "A", "since_id": "999"}
    src = source(max_results=5, max_pages=2)
    add_timeline(responses.mock, timeline([post(n) for n in (7, 6, 5, 4, 3)], "t3"),
                 pagination_token="t2")
    add_timeline(responses.mock, timeline([post(n) for n in (12, 11, 10, 9, 8)], "t2"),
                 since_id="999")
    first = src.poll(state, clock.now())
    assert len(first.items) == 10
    assert first.state["since_id"] == "999"  # not moved past the unread posts
    assert first.state["until_id"] == "1003"
    responses.mock.reset()
    add_timeline(responses.mock, timeline([post(2), post(1)]), until_id="1003")
    second = src.poll(first.state, clock.now())
    assert [i.source_item_id for i in second.items] == ["1001", "1002"]  # oldest first
    assert query(responses.calls[0])["since_id"] == ["999"]
    assert second.state["since_id"] == "1012" and "until_id" not in second.state


# The academy reposts its own post days later, when the tweet's words alone would be
# too few to find it (the repost is cut short by X).
OWN_REPOST = tweet("1829000000000000401",
                   "RT @nwacademy: Fully-funded #SeacoleProg places for community pharmacy "
                   "teams, with @cppeengland…", "2026-08-19T12:00:00.000Z",
                   referenced_tweets=[{"type": "retweeted", "id": SEACOLE["id"]}])
OTHERS_REPOST = tweet("1829000000000000402", "RT @cppeengland: Our pharmacy news",
                      "2026-08-19T12:30:00.000Z",
                      referenced_tweets=[{"type": "retweeted", "id": "77"}])
OWN_QUOTE = tweet("1829000000000000403", "Last week to apply! https://t.co/Qu0te00001",
                  "2026-08-19T13:00:00.000Z",
                  urls=[{"url": "https://t.co/Qu0te00001", "expanded_url":
                         f"https://twitter.com/{USERNAME}/status/{SEACOLE['id']}",
                         "display_url": f"twitter.com/{USERNAME}/st…"}],
                  referenced_tweets=[{"type": "quoted", "id": SEACOLE["id"]}])


@responses.activate
def test_reposts_and_quotes_of_our_own_posts_join_their_story(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """They used to be dropped (retweets excluded at X, quotes here), so the academy's
    reposts never joined their story. Now they are kept, point at the post they repeat,
    join its story wherever they come in a poll, and add no second delivery."""
    add_timeline(responses.mock, timeline([OWN_QUOTE, OTHERS_REPOST, OWN_REPOST, SEACOLE]))
    found = source().poll({"user_id": x_api.USER_ID, "name": "A"}, clock.now())
    assert [i.source_item_id for i in found.items] == [SEACOLE["id"], OWN_REPOST["id"],
                                                       OWN_QUOTE["id"]]  # oldest first
    original = f"https://x.com/{USERNAME}/status/{SEACOLE['id']}"
    for post in found.items[1:]:
        assert [lk.url for lk in post.links if lk.rel == "repost"] == [original]
    store.ingest(list(reversed(found.items)), routing(), clock.now())
    (story,) = store.list_stories()
    assert len(story.items) == 3
    assert [d.story_id for d in store.list_deliveries()] == [story.id]


@responses.activate
def test_a_repost_whose_post_is_not_stored_is_not_announced_on_its_own(store: Store,  # type: ignore[no-untyped-def]
                                                                      clock) -> None:
    add_timeline(responses.mock, timeline([OWN_REPOST]))
    found = source().poll({"user_id": x_api.USER_ID, "name": "A"}, clock.now())
    store.ingest(found.items, routing(), clock.now())
    (story,) = store.list_stories()
    assert story.targets == () and store.list_deliveries() == []
    # The post itself, polled later (an older page), still is announced: with its repost.
    store.ingest([tweet_to_item(SEACOLE, source="academy-x", username=USERNAME,
                                author_name=None, collected_at=clock.now())],
                 routing(), clock.now())
    (story,) = store.list_stories()
    assert len(story.items) == 2


def test_archive_keeps_our_own_reposts_pointing_at_their_post(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """An archive's repost gives no id: the post is the one whose text it repeats."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "account.js").write_text(
        'window.YTD.account.part0 = [{"account": {"username": "nwacademy"}}]')
    posts = [
        {"id_str": "101", "created_at": "Tue Aug 18 08:30:00 +0000 2026",
         "full_text": "Fully-funded places on the Mary Seacole Programme for community "
                      "pharmacy teams: applications open on 27 August https://t.co/A1"},
        {"id_str": "102", "created_at": "Tue Aug 18 15:05:00 +0000 2026",
         "full_text": "RT @cppeengland: Big news for community pharmacy teams."},
        {"id_str": "103", "created_at": "Mon Aug 24 09:00:00 +0000 2026",
         "full_text": "RT @nwacademy: Fully-funded places on the Mary Seacole Programme for "
                      "community pharmacy teams: applications open on 27…"},
    ]
    (data / "tweets.js").write_text(
        "window.YTD.tweets.part0 = " + json.dumps([{"tweet": p} for p in posts]))
    _, items = read_archive(tmp_path, collected_at=clock.now())
    assert [i.source_item_id for i in items] == ["101", "103"]
    assert [lk.url for lk in items[1].links if lk.rel == "repost"] == [
        "https://x.com/nwacademy/status/101"]
