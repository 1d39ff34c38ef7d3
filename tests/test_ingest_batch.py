"""An ingest's bulk reads and writes (issue #16): a whole feed's candidate lookups answered
from one read of the index must be what the per-item query answers, and ids allotted
before writing must be the ids the inserts would have given."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from bot.store import Store
from bot.store._ingest import _CANDIDATES, _Ids, _Postings
from bot.store.schema import item_terms, items, stories
from tests.builders import WHEN, item, routing

WORDS = ("fellowship mentoring cohort leadership nursing midwifery funded places deadline "
         "workshop coaching regional digital apprenticeship residency").split()


def _fill(store: Store) -> None:
    rng = random.Random(16)
    feed = [item(n, source=f"site{n % 4}", title=" ".join(rng.sample(WORDS, 4)),
                 text=" ".join(rng.choice(WORDS) for _ in range(30)),
                 published_at=WHEN + timedelta(days=rng.randint(-20, 20)))
            for n in range(1, 41)]
    store.ingest(feed, routing(), WHEN)


def test_postings_answer_each_lookup_as_the_query_does(store: Store) -> None:
    _fill(store)
    rng = random.Random(6)
    found = 0
    with store.engine.connect() as conn:
        terms = list(conn.execute(select(item_terms.c.term).distinct()).scalars())
        assert len(terms) > 10
        postings = _Postings(conn, terms, WHEN - timedelta(days=60),
                             WHEN + timedelta(days=60))
        for cap in (3, 50):
            for _ in range(40):
                lookup = rng.sample(terms, rng.randint(2, 8))
                low = WHEN + timedelta(days=rng.randint(-30, 5), seconds=rng.randint(0, 9))
                high = low + timedelta(days=rng.randint(0, 30))
                assert postings.covers(lookup, low, high)
                expected = [tuple(r) for r in conn.execute(_CANDIDATES, {
                    "terms": lookup, "low": low, "high": high, "cap": cap})]
                assert postings.candidates(lookup, low, high, cap) == expected
                found += len(expected) > 1
        assert found > 20  # the lookups find candidates, and more than one to order
        assert not postings.covers(["not-read"], WHEN, WHEN)
        assert not postings.covers(terms[:2], WHEN - timedelta(days=90), WHEN)


def test_allotted_ids_follow_the_stored_ones(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        top_item = conn.execute(select(func.max(items.c.id))).scalar_one()
        top_story = conn.execute(select(func.max(stories.c.id))).scalar_one()
        item_ids = _Ids(conn, items)
        item_ids.reserve(3)
        assert [item_ids.take() for _ in range(4)] == [top_item + n for n in (1, 2, 3, 4)]
        story_ids = _Ids(conn, stories)
        assert story_ids.take() == top_story + 1
