"""Copies that merging used to miss (issue #13, recall on the labelled corpus): a key date
whose year the text does not write, and an undated page with the post that names it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.pipeline.similar import MergeConfig, features, index_terms, same_announcement, veto
from bot.store import Store
from tests.builders import item, routing

PAGE = dict(
    title="Senior leadership programme for remote and rural health and care",
    text="NHS Education for Scotland is piloting a senior leadership programme for leaders "
         "in remote, rural and island health and care, in person and online. "
         "Applications close on 30 October 2025.",
    url="https://academy.example.org/programmes/remote-rural")
#: The post about it, without the year: read as this year's 30 October, a year off.
POST = dict(
    title="", source="academy-x", source_kind="x",
    text="Senior leader in remote, rural or island health and care? Our new leadership "
         "programme runs in person and online. Applications close on 30 October.",
    url="https://x.com/academy/status/1")


def test_a_year_the_text_does_not_write_does_not_veto() -> None:
    """Before: "no key date in common" (2025-10-30 against the guessed 2026-10-30)."""
    later = datetime(2026, 12, 3, 9, tzinfo=UTC)
    page = features(item(1, published_at=datetime(2025, 9, 1, 9, tzinfo=UTC), **PAGE))
    post = features(item(2, published_at=later, collected_at=later, **POST))
    assert {d.year for _, d in page.dates} != {d.year for _, d in post.dates}
    assert veto(page, post) is None
    # Years the texts do write still tell two runs apart.
    other_run = features(item(3, published_at=later, collected_at=later, **dict(
        POST, text=POST["text"].replace("30 October.", "30 October 2026."))))
    assert veto(page, other_run) == "different years"


LAUNCH = dict(
    title="Shaping Places for Wellbeing programme announced",
    text="A new programme, Shaping Places for Wellbeing, will work with local partners on "
         "the places where people live, to tackle health inequalities and improve "
         "wellbeing across Wales.",
    url="https://health.example.org/news")  # a hub: no page of its own to link to
LAUNCH_POST = dict(
    title="", source="health-x", source_kind="x",
    text="Where we live shapes how well we live. Shaping Places for Wellbeing is a new "
         "programme working with local partners to tackle health inequalities, place by "
         "place. #HealthierWales",
    url="https://x.com/health/status/2")


def test_an_undated_page_merges_with_the_post_that_names_its_title(store: Store,  # type: ignore[no-untyped-def]
                                                                   clock) -> None:
    """Before: "one is undated, and similar words alone are not enough" (the post has
    no title to be the same as the page's)."""
    store.ingest([item(1, source="health", published_at=None, **LAUNCH),
                  item(2, **LAUNCH_POST)], routing(), clock.now())
    assert [len(s.items) for s in store.list_stories()] == [2]


def test_an_undated_page_and_a_post_that_does_not_name_it_stay_apart() -> None:
    """The same words without the page's title named are still not enough undated."""
    page = features(item(1, source="health", published_at=None, **dict(
        LAUNCH, title="Partners sought across Wales for a new place-based scheme")))
    post = features(item(2, **LAUNCH_POST))
    cfg = MergeConfig()
    assert same_announcement(page, post, cfg) == (
        False, "one is undated, and similar words alone are not enough")
    assert same_announcement(features(item(1, source="health", published_at=None,
                                           **LAUNCH)), post, cfg)[0]


LONG_PAGE = dict(
    title="Second cohort of the Hundred Leaders scheme now recruiting",
    text="Northfield Hospitals Foundation Trust is looking for colleagues to join cohort 2 of "
         "its Hundred Leaders initiative, first launched during 2021. Participants attend "
         "facilitated workshops, complete improvement projects, receive individual "
         "coaching, shadow executive directors, and contribute towards organisational "
         "transformation priorities. Previous participants described strengthened "
         "confidence, broadened perspectives, sustainable partnerships, meaningful "
         "friendships, accelerated progression, thoughtful reflection, courageous "
         "conversations, compassionate management and collaborative problem-solving "
         "across departmental boundaries, specialties, professions and directorates. "
         "Applications close at 5pm on Friday 11 February.",
    url="https://trust.example.org/news/hundred-leaders-cohort-2")
SHORT_POST = dict(
    title="", source="trust-x", source_kind="x",
    text="Last week to apply! Cohort 2 of our #HundredLeaders scheme: Hundred Leaders "
         "applications close at 5pm on Friday 11 February.",
    url="https://x.com/trust/status/3")


def test_a_long_page_is_filed_under_its_title_words() -> None:
    """A short post repeats what the page's title names, rarely the page's longest words:
    the title's words are indexed first. Before: only the 24 longest words."""
    terms = index_terms(features(item(1, **LONG_PAGE)))
    assert {"hundred", "leader", "scheme"} <= set(terms)


def test_a_short_reminder_finds_the_long_page_by_its_title_words(store: Store,  # type: ignore[no-untyped-def]
                                                                 clock) -> None:
    when = datetime(2026, 2, 1, 9, tzinfo=UTC)
    store.ingest([item(1, published_at=when, collected_at=when, **LONG_PAGE)], routing(),
                 clock.now())
    store.ingest([item(2, published_at=when, collected_at=when, **SHORT_POST)], routing(),
                 clock.now())
    assert [len(s.items) for s in store.list_stories()] == [2]


def test_a_reminder_of_a_ranges_first_day_keeps_its_key_date() -> None:
    """Key dates read the last day of "1 to 3 June"; the reminder that the conference
    starts on 1 June named no date in common with it. Before: "no key date in common"."""
    when = datetime(2026, 5, 1, 9, tzinfo=UTC)
    page = features(item(1, published_at=when, title="Global coaching conference online",
                         text="Our global coaching and mentoring conference runs online "
                              "from 1 to 3 June, with sessions, networking rooms and "
                              "recordings for delegates."))
    post = features(item(2, published_at=when, title="", source="x", source_kind="x",
                         text="Reminder: our online coaching and mentoring conference "
                              "starts Monday 1 June; session links for delegates go live "
                              "five minutes before each start."))
    assert ("event", datetime(2026, 6, 1).date()) in page.dates
    assert veto(page, post) is None
    assert same_announcement(page, post, MergeConfig())[0]
