"""Cross-source merging in the store, and the comms team's fixes (merge, split) that the
next poll never undoes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.errors import StoreError
from bot.model import Link
from bot.pipeline.similar import MergeConfig, features, same_announcement, words_of
from bot.store import Store
from bot.store._ingest import RoutingContext
from tests.builders import WHEN, item, routing

WEB_SEACOLE = dict(
    title="Fully-funded Mary Seacole Programme places for community pharmacy",
    text="Working with CPPE, we can offer community pharmacists and pharmacy technicians a "
         "fully-funded place on the Mary Seacole Programme. Applications for the next nine "
         "cohorts will open on 27 August.",
    url="https://academy.example.org/news/seacole-community-pharmacy")
TWEET_SEACOLE = dict(
    title="", source="academy-x", source_kind="x",
    text="Calling all community pharmacists and pharmacy technicians! With @cppeengland we're "
         "offering fully-funded #SeacoleProg places. Applications for the next nine cohorts "
         "open on 27 August https://academy.example.org/programmes/mary-seacole",
    url="https://x.com/nwacademy/status/1829000000000000001")
TWEET_SEACOLE_OCTOBER = dict(
    title="", source="academy-x", source_kind="x",
    text="Social care leaders: a new #SeacoleProg cohort for care homes and home care. "
         "Applications open on 1 October https://academy.example.org/programmes/mary-seacole",
    url="https://x.com/nwacademy/status/1829000000000000009")


def test_tweet_with_other_wording_joins_the_website_post(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, **WEB_SEACOLE)], ctx, clock.now())
    store.ingest([item(2, published_at=WHEN + timedelta(hours=5), **TWEET_SEACOLE)], ctx,
                 clock.now())
    (story,) = store.list_stories()
    assert len(story.items) == 2
    assert story.title == WEB_SEACOLE["title"]  # the website post leads


def test_other_cohort_of_same_programme_stays_apart(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, **TWEET_SEACOLE)], ctx, clock.now())
    store.ingest([item(2, published_at=WHEN + timedelta(days=3), **TWEET_SEACOLE_OCTOBER)],
                 ctx, clock.now())
    assert len(store.list_stories()) == 2


def test_tweet_linking_to_the_post_joins_even_with_few_words(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, **WEB_SEACOLE)], ctx, clock.now())
    tweet = item(2, title="", source="academy-x", source_kind="x", text="Have a look 👀",
                 url="https://x.com/nwacademy/status/1829000000000000002",
                 links=(Link("https://t.co/x1", WEB_SEACOLE["url"] + "?utm_source=twitter"),))
    store.ingest([tweet], ctx, clock.now())
    assert len(store.list_stories()) == 1


def test_far_apart_in_time_is_never_merged(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, **WEB_SEACOLE)], ctx, clock.now())
    late = item(2, published_at=WHEN + timedelta(days=150),
                collected_at=WHEN + timedelta(days=150), **TWEET_SEACOLE)
    store.ingest([late], ctx, clock.now())
    assert len(store.list_stories()) == 2


def test_weeks_apart_needs_a_link_or_the_same_key_date(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, **WEB_SEACOLE)], ctx, clock.now())
    later = WHEN + timedelta(days=40)
    # Same wording, but no date and no link in common: a new post, not a reminder.
    undated = dict(TWEET_SEACOLE, text=TWEET_SEACOLE["text"].replace(" on 27 August", ""))
    store.ingest([item(2, published_at=later, collected_at=later, **undated)], ctx,
                 clock.now())
    assert len(store.list_stories()) == 2
    # The same deadline weeks later is the reminder of the same cohort.
    reminder = item(3, published_at=later, collected_at=later, **TWEET_SEACOLE)
    store.ingest([reminder], ctx, clock.now())
    assert len(store.list_stories()) == 2
    assert sorted(len(s.items) for s in store.list_stories()) == [1, 2]


def test_vetoes() -> None:
    cfg = MergeConfig()
    a = features(item(1, title="System Leadership Summit 2025", text="Join our summit for "
                      "system leaders across the region, with talks and workshops."))
    b = features(item(2, title="System Leadership Summit 2026", text="Join our summit for "
                      "system leaders across the region, with talks and workshops."))
    assert same_announcement(a, b, cfg) == (False, "different years")
    c = features(item(3, title="", text="Stepping Up cohort for aspiring leaders",
                      ), programmes=["stepping-up"])
    d = features(item(4, title="", text="Ready Now cohort for aspiring leaders"),
                 programmes=["ready-now"])
    assert same_announcement(c, d, cfg)[1] == "different programmes"


def test_words_fold_hashtags_and_plurals() -> None:
    assert {"seacole", "prog", "pharmacist", "cohort"} <= words_of(
        "#SeacoleProg for pharmacists: new cohorts")
    assert "the" not in words_of("the")


def test_manual_merge_and_split_survive_the_next_poll(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    a, b, c = item(1), item(2), item(3)
    store.ingest([a, b, c], ctx, clock.now())
    s1, s2, s3 = sorted(s.id for s in store.list_stories())
    store.merge_stories(s1, s2, ctx, clock.now())
    assert sorted(len(s.items) for s in store.list_stories()) == [1, 2]
    merged = store.get_story(s1)
    assert merged.revision == 2  # the kept story changed: channels that can will update it
    with pytest.raises(StoreError, match="already merged"):
        store.merge_stories(s3, s2, ctx, clock.now())
    # The next poll brings the same entries again: nothing moves back.
    clock.advance(minutes=30)
    store.ingest([a, b, c], ctx, clock.now())
    assert sorted(len(s.items) for s in store.list_stories()) == [1, 2]
    # Split b off again; it gets a story of its own and keeps it on the next poll.
    new_id, _ = store.split_item(s1, b.url or "", ctx, clock.now())
    store.ingest([a, b, c], ctx, clock.now())
    assert {s.id: len(s.items) for s in store.list_stories()} == {s1: 1, s3: 1, new_id: 1}
    with pytest.raises(StoreError, match="only that item"):
        store.split_item(new_id, b.url or "", ctx, clock.now())
    with pytest.raises(StoreError, match="no item at"):
        store.split_item(s1, "https://nowhere.example/x", ctx, clock.now())
    # The merged-away story's unsent deliveries are gone; the split-off story has its own.
    targets = {d.story_id for d in store.list_deliveries()}
    assert s2 not in targets and new_id in targets


def test_a_repost_of_our_own_post_is_the_same_story(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    original = item(1, **TWEET_SEACOLE)
    repost = item(2, title="", source="academy-x", source_kind="x",
                  text="RT @nwacademy: " + TWEET_SEACOLE["text"][:120] + "…",
                  url="https://x.com/nwacademy/status/1829000000000000077",
                  published_at=WHEN + timedelta(days=2))
    store.ingest([original], ctx, clock.now())
    store.ingest([repost], ctx, clock.now())
    (story,) = store.list_stories()
    assert len(story.items) == 2


@pytest.mark.slow
def test_cli_merge_and_split(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import CONFIG_DIR

    config = tmp_path / "herald.toml"
    config.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'h.db'}"
[paths]
taxonomy = "{CONFIG_DIR / 'taxonomy.toml'}"
outbox = "{tmp_path / 'outbox'}"
[[sources]]
name = "news"
url = "{CONFIG_DIR / 'sample' / 'academy-news.xml'}"
[[targets]]
name = "files"
type = "file"
[[routes]]
to = ["files"]
""")
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}

    def herald(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *args, "--config", str(config)],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)

    assert herald("run", "--once").returncode == 0
    stories = json.loads(herald("stories", "--json").stdout)
    keep, other = stories[0], stories[1]
    result = herald("stories", "merge", str(keep["id"]), str(other["id"]))
    assert result.returncode == 0, result.stderr
    after = json.loads(herald("stories", "--json").stdout)
    assert len(after) == len(stories) - 1
    merged = next(s for s in after if s["id"] == keep["id"])
    assert {i["url"] for i in merged["items"]} >= {other["items"][0]["url"]}
    result = herald("stories", "split", str(keep["id"]), other["items"][0]["url"])
    assert result.returncode == 0, result.stderr
    assert len(json.loads(herald("stories", "--json").stdout)) == len(stories)
    bad = herald("stories", "merge", str(keep["id"]), str(keep["id"]))
    assert bad.returncode == 1 and "cannot be merged into itself" in bad.stderr
    assert "Traceback" not in bad.stderr


NAMES = "amber birch cedar delta ember fjord grove heron inlet juniper".split()


def _words(block: str, n: int) -> str:
    """``n`` made-up words of one block: blocks share none."""
    return " ".join(f"{block}{name}" for name in NAMES[:n])


def test_likeness_does_not_chain_from_item_to_item_into_one_story(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """A story's later items are not what a new item must match: its leads are. Here each
    item is like the one before and unlike those before that (A~B~C~D): C matches B, one
    of the story's two leads, and joins; D matches only C and makes a story of its own."""
    ctx = routing()
    a = _words("p", 10)
    b = " ".join([_words("p", 8), _words("q", 4)])
    c = " ".join([_words("p", 2), _words("q", 4), _words("r", 6)])
    d = " ".join([_words("q", 2), _words("r", 6), _words("s", 4)])
    for n, text in enumerate((a, b, c, d), start=1):
        store.ingest([item(n, source=f"site{n}", title="", text=text,
                           published_at=WHEN + timedelta(hours=n))], ctx, clock.now())
    stories = sorted(sorted(i.source for i in s.items) for s in store.list_stories())
    assert stories == [["site1", "site2", "site3"], ["site4"]]


def test_a_story_at_the_size_cap_takes_no_more_and_is_logged(store: Store, clock,  # type: ignore[no-untyped-def]
                                                              caplog) -> None:
    base = routing()
    ctx = RoutingContext(base.taxonomy, base.routes, base.targets,
                         MergeConfig(max_story_items=3))
    text = "The Ready Now programme opens for applications; places are fully funded."
    with caplog.at_level(logging.WARNING, logger="herald.ingest"):
        for n in range(1, 6):  # the same words from five feeds: exact copies
            store.ingest([item(n, source=f"site{n}", title="Ready Now opens", text=text)],
                         ctx, clock.now())
    sizes = sorted(len(s.items) for s in store.list_stories())
    assert sizes == [2, 3]
    full = next(s for s in store.list_stories() if len(s.items) == 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [warnings[0]] and f"story {full.id} reached 3 items" in warnings[0]


def test_copies_past_the_size_cap_are_stored_but_never_announced_again(
        store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """A flood of copies of one announcement (a feed giving its entry a new id on every
    poll) fills the story; copies past the cap make stories of their own that reach no
    target, rather than posting the same announcement again on every poll."""
    base = routing()
    ctx = RoutingContext(base.taxonomy, base.routes, base.targets,
                         MergeConfig(max_story_items=3))
    text = "The Ready Now programme opens for applications; places are fully funded."
    for n in range(1, 7):
        store.ingest([item(n, source="news", title="Ready Now opens", text=text,
                           url="https://academy.example.org/ready-now")], ctx, clock.now())
    stories = store.list_stories()
    announced = [s for s in stories if store.deliveries_for([s.id or 0]).get(s.id or 0)]
    assert len(announced) == 1 and len(announced[0].items) == 3
    assert sum(len(s.items) for s in stories) == 6


PROGRAMME_PAGES = [
    dict(title="Stepping Up: who the programme is for",
         text="Stepping Up is our leadership development programme for aspiring senior "
              "leaders from ethnic minority backgrounds working in health and care across "
              "the region. The programme runs over six months with workshops, coaching "
              "and action learning sets, and participants keep their current role.",
         url="https://academy.example.org/stepping-up/who-it-is-for"),
    dict(title="Stepping Up: how the programme is run",
         text="Stepping Up runs over six months for aspiring senior leaders from ethnic "
              "minority backgrounds in health and care: workshops, coaching and action "
              "learning sets across the region, with participants keeping their current "
              "role throughout the leadership development programme.",
         url="https://academy.example.org/stepping-up/how-it-runs"),
]


def test_undated_pages_about_one_programme_need_more_than_similar_words(store: Store,  # type: ignore[no-untyped-def]
                                                                        clock) -> None:
    """A feed without dates: its entries' times are when they were collected, so the
    window says nothing. Two pages about one programme stay apart on wording alone;
    the same two pages with dates are close enough to merge, as before."""
    ctx = routing()
    first, second = PROGRAMME_PAGES
    assert same_announcement(features(item(1, **first)), features(item(2, **second)),
                             MergeConfig())[0]  # dated, the words are enough
    store.ingest([item(1, source="pages", published_at=None, **first),
                  item(2, source="pages", published_at=None, **second)], ctx, clock.now())
    assert len(store.list_stories()) == 2


def test_undated_copies_with_the_same_title_still_merge(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    first, second = PROGRAMME_PAGES
    first = dict(first, title=first["title"] + " in health and care")
    store.ingest([item(1, source="pages", published_at=None, **first),
                  item(2, source="partner", published_at=None,
                       **dict(second, title=first["title"]))],
                 ctx, clock.now())
    assert len(store.list_stories()) == 1


def test_two_cohorts_that_share_a_deadline_stay_two_stories(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """Same programme, same closing date, nearly the same words: cohort 17 and cohort 18
    are two announcements. A copy of cohort 17 still joins cohort 17."""
    ctx = routing()
    text = ("Stepping Up cohort {n} opens for aspiring senior leaders in {place}. "
            "Applications close 31 January 2027; places are fully funded.")
    store.ingest([item(1, title="Stepping Up cohort 17 opens in Merseyside",
                       text=text.format(n=17, place="Liverpool")),
                  item(2, title="Stepping Up cohort 18 opens in Cheshire",
                       text=text.format(n=18, place="Chester"))], ctx, clock.now())
    store.ingest([item(3, source="partner", title="Stepping Up cohort 17 is open",
                       text=text.format(n=17, place="Liverpool and the Wirral"))],
                 ctx, clock.now())
    stories = sorted(sorted(i.source_item_id for i in s.items) for s in store.list_stories())
    assert stories == [["news-1", "partner-3"], ["news-2"]]


def test_a_later_longer_copy_never_takes_the_headline_and_link(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """The academy's page leads its story; a partner's longer page about the same
    announcement joins it without rewriting the title, summary or link already out."""
    ctx = routing()
    page = item(1, title="Applications open for Stepping Up cohort 12 in Cumbria",
                text="Applications open for Stepping Up cohort 12 in Cumbria, for aspiring "
                     "senior leaders. Applications close on 15 December 2026.",
                url="https://academy.example.org/stepping-up-12")
    store.ingest([page], ctx, clock.now())
    longer = item(2, source="partner",
                  title="Stepping Up cohort 12 in Cumbria: applications paused, do not apply",
                  text="Applications open for Stepping Up cohort 12 in Cumbria, for aspiring "
                       "senior leaders. Applications close on 15 December 2026. " + "More words "
                       "about it from the partner, and an address to write to instead. " * 8,
                  url="https://partner.example.net/x",
                  links=(Link("https://academy.example.org/stepping-up-12"),))
    store.ingest([longer], ctx, clock.now())
    (story,) = store.list_stories()
    assert len(story.items) == 2
    assert story.title == page.title and story.url == page.url and story.revision == 1
