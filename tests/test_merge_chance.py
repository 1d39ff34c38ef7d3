"""Likeness by words alone must beat chance: the chance-level guard of merging.

Where every text is written with the same few hundred words (``bench --vocabulary 300``),
unrelated entries of two feeds share 30-40 words at a containment of about 0.4, which the
word thresholds alone accept: before this guard, 10,000 such entries became about 3,000
stories, most of them full of strangers. An item's likeness to another source's post now
counts only where it beats its likeness to its own source's other posts
(``MergeConfig.chance_margin``, ``similar.chance_level``).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bench.corpus import announcements, generate
from bot.pipeline.similar import MergeConfig, chance_level, features, same_announcement
from bot.sources.feed import parse_feed
from bot.store import Store
from bot.store.schema import items, stories
from tests.builders import item, routing, rss_feed

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _stories_from(store: Store, merge: MergeConfig, feeds: int = 8, entries: int = 30,
                  ) -> tuple[int, int]:
    corpus = generate(feeds, entries, seed=21, vocabulary=300)
    ctx = replace(routing(), merge=merge)
    for n, feed in enumerate(corpus):
        found = parse_feed(feed.body, source=f"feed-{n}", url=f"http://127.0.0.1/{n}",
                           collected_at=NOW, content_type=feed.content_type)
        store.ingest(found, ctx, NOW)
    with store.engine.connect() as conn:
        made = conn.execute(select(func.count()).select_from(stories)).scalar_one()
    return made, announcements(corpus)


def test_a_small_vocabulary_makes_as_many_stories_as_announcements(store: Store) -> None:
    made, wanted = _stories_from(store, MergeConfig())
    assert abs(made - wanted) <= 0.05 * wanted, (made, wanted)


def test_without_the_guard_the_same_feeds_chain(db_url: str) -> None:
    """The corpus above is one where the guard matters (so the test above says something):
    with it off, unrelated entries merge by the hundred."""
    s = Store.open(db_url)
    s.upgrade()
    try:
        made, wanted = _stories_from(s, MergeConfig(chance_rank=10**6))
    finally:
        s.close()
    assert made < 0.8 * wanted, (made, wanted)


def test_the_chance_level_is_the_third_closest_sibling() -> None:
    """Containment is shared words over the smaller set's size: siblings sharing 9, 6, 4, 2
    and 1 of ten words (each with ten words of its own) score 0.9, 0.6, 0.4, 0.2, 0.1."""
    a = frozenset(f"w{n}" for n in range(10))
    siblings = [frozenset([*(f"w{n}" for n in range(k)), *(f"x{k}-{n}" for n in range(10 - k))])
                for k in (9, 6, 4, 2, 1)]
    assert chance_level(a, siblings, 3) == pytest.approx(0.4)
    assert chance_level(a, siblings[:3], 3) == 0.0  # too few siblings to tell chance


def test_words_alone_must_beat_the_chance_level() -> None:
    text = ("Our leadership network meets to share improvement stories from wards and "
            "practices across the region, with coaching circles and a reading list")
    a = features(item(source="a", source_item_id="1", title="Network meets", text=text))
    b = features(item(source="b", source_item_id="2", title="Network meeting",
                      text=text + " for new members"))
    cfg = MergeConfig()
    assert same_announcement(a, b, cfg)[0]
    assert same_announcement(a, b, cfg, chance=lambda: 0.2)[0]
    same, why = same_announcement(a, b, cfg, chance=lambda: 0.95)
    assert not same and "own source's other posts" in why


BOILERPLATE = (
    "We welcome applications from people of every background. The post needs an enhanced "
    "DBS check, and we will consider flexible working. Read the job description and the "
    "person specification before applying through NHS Jobs. We may close the advert early "
    "when many applications arrive. Part-time pay is pro rata, and interviews take place "
    "online.")


def test_job_adverts_with_one_boilerplate_and_closing_date_stay_apart(store: Store) -> None:
    """Found from outside: three trusts' adverts, each with the same paragraph of
    boilerplate and a closing date some other advert shares, merged into 22 stories of
    different jobs (a shared key date lowered the bar to 0.35). The recruiter's copies of
    the same jobs still join them."""
    rng = random.Random(16)
    roles = ["Programme Lead", "Data Analyst", "Coaching Manager", "Improvement Advisor",
             "Talent Partner", "Finance Officer", "Learning Designer", "HR Advisor"]
    towns = ["Bolton", "Wigan", "Preston", "Salford", "Oldham", "Chester", "Lancaster"]
    feeds: dict[str, list[tuple[str, str, str]]] = {}
    for trust in "ABC":
        feeds[trust] = []
        for n in range(15):
            title = f"Band {rng.randint(4, 8)} {rng.choice(roles)}, {rng.choice(towns)}"
            closes = f"{rng.choice([11, 14, 18])} January 2027"
            text = (f"{title}. Trust {trust} is recruiting for this role. Closing date "
                    f"{closes}. {BOILERPLATE}")
            feeds[trust].append((title, f"http://127.0.0.1/jobs{trust}/{n}", text))
    feeds["recruiter"] = [(t, f"http://127.0.0.1/recruiter/{n}",
                           f"Shared by our recruitment partner: {d}")
                          for n, (t, _link, d) in enumerate(feeds["A"][:3])]
    for name, entries in feeds.items():
        body = rss_feed(name, entries, published="Wed, 02 Dec 2026 09:00:00 +0000")
        store.ingest(parse_feed(body, source=name, url=f"http://127.0.0.1/{name}",
                                collected_at=NOW), routing(), NOW)
    with store.engine.connect() as conn:
        rows = conn.execute(select(items.c.story_id, items.c.source, items.c.title)).all()
    by_story: dict[int, list[tuple[str, str]]] = {}
    for story_id, source, title in rows:
        by_story.setdefault(story_id, []).append((source, title))
    mixed = [v for v in by_story.values() if len({t for _, t in v}) > 1]
    assert mixed == []
    copies = [v for v in by_story.values() if {s for s, _ in v} == {"A", "recruiter"}]
    assert len(copies) == 3
