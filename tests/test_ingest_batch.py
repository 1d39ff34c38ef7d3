"""An ingest's bulk writes (issue #16): ids allotted before writing must be the ids the
inserts would have given."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from bot.store import Store
from bot.store._ingest import _Ids
from bot.store.schema import items, stories
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
