"""Copies that merging used to miss (issue #13, recall on the labelled corpus): a key date
whose year the text does not write, and an undated page with the post that names it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.pipeline.similar import MergeConfig, features, same_announcement, veto
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
