"""Stories at volume (issue #15): search and every filter of ``Store.search_stories`` on
3,000 seeded stories, checked row for row against the seed's own rules, on SQLite and
PostgreSQL; the Stories page and ``GET /api/stories`` with the same filters, paginated.

The stories are seeded with ``bench.stories_search.seed`` (straight into the tables: the
pipeline is not what is tested here). No timings are asserted: bench/RESULTS.md has them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.stories_search import DOMAINS, KINDS, PROGRAMMES, SOURCES, START, seed, story_title
from bot.clock import FixedClock
from bot.store import Store
from bot.store._search import StoryFilter
from bot.store.schema import story_dates as t_dates
from tests.web_helpers import EDITOR, Web, make_web

COUNT = 3000


def summary_words(n: int) -> str:
    import random

    from bench.stories_search import WORDS

    return f"Summary of story {n}: " + " ".join(random.Random(-n).sample(WORDS, 8))


def sources_of(n: int) -> set[str]:
    return {SOURCES[n % 3]} | ({SOURCES[(n + 1) % 3]} if n % 2 == 0 else set())


def expected(keep: object) -> list[int]:
    """The story ids (n + 1) whose seed number passes ``keep``, newest publication first."""
    assert callable(keep)
    return [n + 1 for n in reversed(range(COUNT)) if keep(n)]


def every_id(store: Store, f: StoryFilter) -> tuple[list[int], int]:
    """All ids the filter finds, page by page (500 at a time), and the reported total."""
    ids: list[int] = []
    offset = 0
    while True:
        page = store.search_stories(f, offset=offset, limit=500)
        ids += [s.id for s in page.stories if s.id is not None]
        if not page.has_next:
            return ids, page.total
        offset += 500


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('volume') / 'herald.db'}")
    store.upgrade()
    seed(store, COUNT, body_bytes=400)
    yield store
    store.close()


@pytest.fixture
def seeded(request: pytest.FixtureRequest, seeded_sqlite: Store) -> Iterator[Store]:
    if request.param == "sqlite":
        yield seeded_sqlite
        return
    store = Store.open(request.getfixturevalue("pg_url"))
    store.upgrade()
    seed(store, COUNT, body_bytes=400)
    yield store
    store.close()


CASES = {
    "everything": (StoryFilter(), lambda n: True),
    "one word": (StoryFilter(text="granite"),
                 lambda n: "granite" in story_title(n) + summary_words(n)),
    "two words, any case": (StoryFilter(text="GRANITE Willow"),
                            lambda n: all(w in story_title(n) + summary_words(n)
                                          for w in ("granite", "willow"))),
    "a title's number": (StoryFilter(text="story-01234"), lambda n: n == 1234),
    "a summary's words": (StoryFilter(text="summary of story 2999:"), lambda n: n == 2999),
    "percent is literal": (StoryFilter(text="%"), lambda n: False),
    "kind": (StoryFilter(kind="event"), lambda n: KINDS[n % 5] == "event"),
    "domain": (StoryFilter(domain="digital"), lambda n: DOMAINS[n % 4] == "digital"),
    "programme": (StoryFilter(programme="mary-seacole"),
                  lambda n: n % 7 == 0 and PROGRAMMES[n % 3] == "mary-seacole"),
    "a programme slug is no domain": (StoryFilter(domain="mary-seacole"), lambda n: False),
    "tag of any group": (StoryFilter(tag="workforce"), lambda n: DOMAINS[n % 4] == "workforce"),
    "source, first or second item": (StoryFilter(source="partner-news"),
                                     lambda n: "partner-news" in sources_of(n)),
    "published from": (StoryFilter(published_from=START + timedelta(hours=6 * 2500)),
                       lambda n: n >= 2500),
    "published before": (StoryFilter(published_before=START + timedelta(hours=6 * 10)),
                         lambda n: n < 10),
    "held": (StoryFilter(state="held"), lambda n: n % 10 == 0),
    "released": (StoryFilter(state="released"), lambda n: n % 10 != 0),
    "combined": (StoryFilter(text="granite", kind="event", source="academy-news",
                             published_from=START + timedelta(hours=6 * 1000),
                             state="released"),
                 lambda n: "granite" in story_title(n) + summary_words(n)
                 and KINDS[n % 5] == "event" and "academy-news" in sources_of(n)
                 and n >= 1000 and n % 10 != 0),
}


@pytest.mark.parametrize("seeded", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("case", list(CASES))
def test_each_filter_finds_exactly_its_stories(seeded: Store, case: str) -> None:
    f, keep = CASES[case]
    ids, total = every_id(seeded, f)
    want = expected(keep)
    assert ids == want
    assert total == len(want)


@pytest.mark.parametrize("seeded", ["sqlite", "postgresql"], indirect=True)
def test_pages_cover_every_story_once_with_publication_dates(seeded: Store) -> None:
    first = seeded.search_stories(StoryFilter(), limit=50)
    assert (first.first, first.last, first.total) == (1, 50, COUNT)
    assert first.has_next and not first.has_previous
    # The publication date is the earliest item's, not the later second item's.
    assert first.published[COUNT] == START + timedelta(hours=6 * (COUNT - 1))
    assert first.published[COUNT - 1] == START + timedelta(hours=6 * (COUNT - 2))
    last = seeded.search_stories(StoryFilter(), offset=COUNT - 20, limit=50)
    assert (last.first, last.last) == (COUNT - 19, COUNT)
    assert not last.has_next and [s.id for s in last.stories][-1] == 1
    # A merged-away story is never listed.
    seeded_ids = {s.id for s in first.stories}
    assert COUNT in seeded_ids


def test_a_bad_state_is_refused() -> None:
    with pytest.raises(ValueError, match="state must be one of held, released"):
        StoryFilter(state="stopped")


# -- the page and the API -----------------------------------------------------------------

@pytest.fixture
def volume_web(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[Web]:
    w = make_web(tmp_path, clock, db_url=db_url)
    seed(w.store, COUNT, body_bytes=200)
    yield w
    w.close()


def rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td data-label="Title"><a href="/stories/(\d+)">', page)]


def test_the_page_searches_filters_and_pages_at_volume(volume_web: Web) -> None:
    ed = volume_web.staff(EDITOR)
    page = ed.get("/stories").text
    assert "1–50 of 3,000 stories" in page
    assert rows(page) == list(range(COUNT, COUNT - 50, -1))
    assert 'href="/stories?page=2" rel="next"' in page and 'rel="prev"' not in page
    second = ed.get("/stories?page=2").text
    assert "51–100 of 3,000 stories" in second and rows(second)[0] == COUNT - 50
    assert 'href="/stories" rel="prev"' in second
    # Filters combine and stay in the links to the next page.
    want = expected(lambda n: KINDS[n % 5] == "event" and n % 10 != 0)
    found = ed.get("/stories", params={"kind": "event", "state": "released"}).text
    assert f"1–50 of {len(want):,} stories" in found and rows(found) == want[:50]
    assert 'href="/stories?kind=event&amp;state=released&amp;page=2"' in found
    later = ed.get("/stories", params={"kind": "event", "state": "released", "page": 3}).text
    assert rows(later) == want[100:150]
    # The search box keeps what was typed; one story found by its title's number.
    one = ed.get("/stories", params={"q": "story-00042"}).text
    assert "1–1 of 1 story" in one and rows(one) == [43] and 'value="story-00042"' in one
    # Publication dates, by local day (the seed's fourth story is on 2 January).
    dated = ed.get("/stories", params={"from": "2024-01-01", "to": "2024-01-01"}).text
    assert rows(dated) == [3, 2, 1] and "Mon 1 Jan 2024" in dated
    # The form's empty fields are left out of the address it lands on.
    r = ed.get("/stories", params={"q": "granite", "kind": "", "domain": "", "from": ""},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/stories?q=granite"
    # Nothing found says so, and offers the whole list back.
    none = ed.get("/stories", params={"q": "no-such-words-anywhere"}).text
    assert "No story matches" in none and rows(none) == []


def test_the_list_shows_the_next_key_date(volume_web: Web) -> None:
    today = volume_web.clock.now().date()
    with volume_web.store.engine.begin() as conn:
        conn.execute(t_dates.insert(), [
            {"story_id": COUNT, "what": "applications-close", "day": today + timedelta(days=9),
             "evidence": "test"},
            {"story_id": COUNT, "what": "event", "day": today + timedelta(days=3),
             "evidence": "test"},
            {"story_id": COUNT, "what": "applications-open", "day": today - timedelta(days=3),
             "evidence": "test"}])
    page = volume_web.staff(EDITOR).get("/stories").text
    row = page[page.index(f'<a href="/stories/{COUNT}">'):].split("</tr>")[0]
    soon = today + timedelta(days=3)
    assert f"Event {soon.strftime('%a %-d %b')}" in row
    assert "Applications" not in row


def test_the_page_names_a_bad_filter(volume_web: Web) -> None:
    ed = volume_web.staff(EDITOR)
    for params, message in (({"from": "18/12/2026"}, "'from' must be a date like 2026-12-18"),
                            ({"state": "gone"}, "'state' must be one of held, released"),
                            ({"page": "0"}, "'page' must be a page number"),
                            ({"from": "2026-12-18", "to": "2026-12-01"}, "'to' is before"),
                            ({"to": "9999-12-31"}, "'to' must be a date between"),
                            ({"from": "0001-01-01"}, "'from' must be a date between")):
        r = ed.get("/stories", params=params)
        assert r.status_code in (400, 422), params
        assert message in r.text.replace("&#39;", "'"), r.text
    # The API the same, and an offset past any integer the database takes is refused.
    for params in ({"to": "9999-12-31"}, {"offset": "99999999999999999999"}):
        assert ed.api("GET", "/api/stories", params=params).status_code == 422, params


def test_the_api_takes_the_same_filters(volume_web: Web) -> None:
    ed = volume_web.staff(EDITOR)
    r = ed.api("GET", "/api/stories", params={"domain": "digital", "programme": "",
                                               "limit": 20, "offset": 40})
    assert r.status_code == 200
    want = expected(lambda n: DOMAINS[n % 4] == "digital")
    assert [s["id"] for s in r.json()] == want[40:60]
    assert r.headers["X-Total-Count"] == str(len(want))
    assert {"title", "kind", "tags", "dates", "deliveries", "first_seen"} <= set(r.json()[0])
    r = ed.api("GET", "/api/stories", params={"q": "granite", "source": "partner-news",
                                               "from": "2024-06-01", "limit": 500})
    assert [s["id"] for s in r.json()] == expected(
        lambda n: "granite" in story_title(n) + summary_words(n)
        and "partner-news" in sources_of(n)
        and START + timedelta(hours=6 * n) >= datetime(2024, 5, 31, 23, tzinfo=UTC))
    assert ed.api("GET", "/api/stories", params={"state": "stopped"}).status_code == 422
    bad = ed.api("GET", "/api/stories", params={"to": "tomorrow"})
    assert bad.status_code == 422 and "to" in bad.text


def test_0014_indexes_items_for_publication_dates_and_goes_back(db_url: str) -> None:
    from sqlalchemy import inspect

    from bot.store.migrate import downgrade, upgrade

    name = "ix_items_story_id_source_published_at"
    s = Store.open(db_url)
    try:
        # Rows written by today's code need today's schema (0015 added a column to
        # stories): seeded at the head, then down to 0008 and up again with them in place.
        upgrade(s.engine)
        seed(s, 30, body_bytes=10)
        assert name in {i["name"] for i in inspect(s.engine).get_indexes("items")}
        downgrade(s.engine, "0008")
        assert name not in {i["name"] for i in inspect(s.engine).get_indexes("items")}
        upgrade(s.engine)
        assert s.search_stories(StoryFilter(source="partner-news"), limit=5).total == sum(
            "partner-news" in sources_of(n) for n in range(30))
    finally:
        s.close()
