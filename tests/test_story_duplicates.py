"""Possible duplicates on a story's page (issue #15): the stories the merge engine scores
closest, a true copy first, with the engine's evidence; one click merges through
``merge_stories``; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.model import Item
from tests.builders import WHEN, item
from tests.web_helpers import EDITOR, Web, make_web

COPY_TEXT = ("Applications are now open for the executive coaching programme for directors "
             "new in post across the integrated care system. Coaching sessions run monthly "
             "with an accredited coach, covering leadership transitions, board dynamics and "
             "personal resilience for senior leaders.")
LOOKALIKE_TEXT = ("Our mentoring scheme pairs aspiring directors with an experienced mentor "
                  "from another trust; places are limited, and coaching experience helps. "
                  "Mentors meet their mentee quarterly, online or in person.")


def dated(n: int) -> dict[str, datetime]:
    """Published an hour or so before collection: a dated entry (see ``Item.dated``)."""
    return {"published_at": WHEN - timedelta(hours=n), "collected_at": WHEN}


def items() -> list[Item]:
    news = item(1, source="news", title="Executive coaching for new directors",
                text=COPY_TEXT, url="https://academy.example.org/news/coaching-directors",
                **dated(1))
    partner = item(2, source="partner", title="Executive coaching for new directors",
                   text=COPY_TEXT, url="https://partner.example.org/posts/coaching-directors",
                   **dated(2))
    lookalike = item(3, source="news", title="Mentoring for aspiring directors",
                     text=LOOKALIKE_TEXT,
                     url="https://academy.example.org/news/mentoring-directors", **dated(3))
    stranger = item(4, source="news", **dated(4))
    return [news, partner, lookalike, stranger]


@pytest.fixture
def dupes(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[tuple[Web, dict[str, int]]]:
    """The news post and its partner copy, split apart (as after a wrong split, or a copy
    that came in while the story was full); a lookalike; an unrelated story."""
    web = make_web(tmp_path, clock, db_url=db_url)
    store, routing = web.store, web.herald.routing
    news, partner, lookalike, stranger = items()
    store.ingest([news, partner, lookalike, stranger], routing, WHEN)
    by_title = {i.url: s.id for s in store.list_stories() for i in s.items}
    keep = by_title[news.url]
    assert len(store.get_story(keep).items) == 2, "the engine merged the copy on ingest"
    copy, _ = store.split_item(keep, partner.url or "", routing, clock.now())
    ids = {"keep": keep, "copy": copy, "lookalike": by_title[lookalike.url],
           "stranger": by_title[stranger.url]}
    yield web, ids
    web.close()


def test_a_true_copy_ranks_first_with_the_engines_reasons(dupes: tuple[Web, dict[str, int]]
                                                          ) -> None:
    web, ids = dupes
    found = web.store.possible_duplicates(ids["keep"], web.herald.routing)
    assert found and found[0].story_id == ids["copy"]
    top = found[0]
    assert top.would_merge and top.score == 1.0
    assert "same title" in top.reasons and top.reasons[-1].startswith("words 1.00")
    assert top.story is not None and top.story.title == "Executive coaching for new directors"
    assert ids["keep"] not in [d.story_id for d in found]
    assert ids["stranger"] not in [d.story_id for d in found]
    others = [d for d in found if d.story_id == ids["lookalike"]]
    if others:  # found by shared words, kept apart by the engine, ranked after the copy
        assert not others[0].would_merge and others[0].score < top.score
    # From the copy's side, the news story is the one offered.
    back = web.store.possible_duplicates(ids["copy"], web.herald.routing)
    assert back[0].story_id == ids["keep"]


def test_the_story_page_offers_them_and_one_click_merges(dupes: tuple[Web, dict[str, int]]
                                                         ) -> None:
    web, ids = dupes
    ed = web.staff(EDITOR)
    page = ed.get(f"/stories/{ids['keep']}").text
    section = page[page.index("Possible duplicates"):]
    assert f'<a href="/stories/{ids["copy"]}">Executive coaching for new directors</a>' in section
    assert "The engine would merge them" in section and "1.00" in section
    assert f'name="other" value="{ids["copy"]}"><input type="hidden" name="ask" value="1">' \
        in section
    # The merge form posts with the session's CSRF token; without it, nothing happens.
    assert ed.client.post(f"/stories/{ids['keep']}/merge",
                          data={"other": str(ids["copy"])}).status_code == 403
    # The button asks first: both stories, and what a merge does; nothing is merged yet.
    asked = ed.post(f"/stories/{ids['keep']}/merge", {"other": str(ids["copy"]), "ask": "1"})
    assert asked.status_code == 200 and f"Merge story {ids['copy']} into this story?" in asked.text
    assert 'name="ask"' not in asked.text and len(web.store.get_story(ids["keep"]).items) == 1
    r = ed.post(f"/stories/{ids['keep']}/merge", {"other": str(ids["copy"])})
    assert r.status_code == 303 and r.headers["location"] == f"/stories/{ids['keep']}?done=merged"
    merged = web.store.get_story(ids["keep"])
    assert len(merged.items) == 2
    after = ed.get(f"/stories/{ids['keep']}").text
    assert f'name="other" value="{ids["copy"]}"' not in after
    assert f'<a href="/stories/{ids["copy"]}">' not in ed.get("/stories").text


def test_a_story_with_no_lookalike_says_so(dupes: tuple[Web, dict[str, int]]) -> None:
    web, ids = dupes
    page = web.staff(EDITOR).get(f"/stories/{ids['stranger']}").text
    assert "The merge engine finds no story like this one." in page
