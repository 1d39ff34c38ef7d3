"""How fast the Stories page's search and filters answer with many stories stored.

    python -m bench.stories_search --stories 10000,50000 --db sqlite,postgresql

Seeds a fresh database straight through SQLAlchemy Core (``seed``: stories, their items
with bodies of a realistic size, tags, key dates; no pipeline, which is not what is
measured here), then times each query of ``bot.store._search`` a few times and prints
the median in milliseconds. ``tests/test_stories_volume.py`` seeds with the same function.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.store import Store
from bot.store._search import StoryFilter
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from bot.store.schema import story_tags as t_tags

KINDS = ("news", "event", "cohort-opening", "funding", "resource")
DOMAINS = ("leadership", "quality-improvement", "workforce", "digital")
PROGRAMMES = ("systems-leadership", "mary-seacole", "improvement-fellows")
SOURCES = ("academy-news", "academy-x-posts", "partner-news")
WORDS = """harbour lantern orchard meadow copper violet granite willow falcon pebble saffron
thistle juniper marble cobalt ember glacier hazel indigo jasmine kestrel lagoon mistral
nutmeg obsidian paprika quartz russet sorrel tundra umber vervain walnut yarrow zephyr
acorn bramble cinder dahlia eider fennel gorse heather iris jackdaw kelp larch""".split()
START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def story_title(n: int) -> str:
    """Story ``n``'s title: its number as a word ("story-00042") and three made-up words."""
    rng = random.Random(n)
    return f"story-{n:05d} " + " ".join(rng.sample(WORDS, 3))


def seed(store: Store, count: int, *, body_bytes: int = 4000) -> None:
    """``count`` stories, one day apart by publication (story 0 oldest). Story ``n``: kind
    ``KINDS[n % 5]``, domain ``DOMAINS[n % 4]``, programme ``PROGRAMMES[n % 3]`` when
    ``n % 7 == 0``, held when ``n % 10 == 0``, one item from ``SOURCES[n % 3]`` (and a
    second from ``SOURCES[(n + 1) % 3]`` a day later when ``n % 2 == 0``), a key date
    ``applications-close`` 30 days after publication when ``n % 5 == 2``."""
    now = START + timedelta(days=count + 1)
    body = ("lorem " * (body_bytes // 6))[:body_bytes]
    stories, items, tags, dates = [], [], [], []
    for n in range(count):
        sid = n + 1
        published = START + timedelta(hours=6 * n)
        stories.append({"id": sid, "title": story_title(n),
                        "summary": f"Summary of story {n}: " + " ".join(
                            random.Random(-n).sample(WORDS, 8)),
                        "url": f"https://academy.example.org/news/{n}", "kind": KINDS[n % 5],
                        "first_seen": now - timedelta(minutes=n), "updated_at": now,
                        "revision": 1, "hold": n % 10 == 0, "targets": None})
        for k in range(2 if n % 2 == 0 else 1):
            items.append({"source": SOURCES[(n + k) % 3], "source_item_id": f"{n}-{k}",
                          "story_id": sid, "source_kind": "feed",
                          "url": f"https://academy.example.org/news/{n}/{k}",
                          "canonical_url": f"https://academy.example.org/news/{n}/{k}",
                          "fingerprint": uuid.uuid4().hex, "title": story_title(n),
                          "text": body, "html": f"<p>{body}</p>", "author": None,
                          "links": "[]", "published_at": published + timedelta(days=k),
                          "collected_at": now, "updated_at": now, "raw_type": None,
                          "raw": body})
        tags.append({"story_id": sid, "grp": "kind", "slug": KINDS[n % 5], "reason": "seed",
                     "manual": False, "position": 0})
        tags.append({"story_id": sid, "grp": "domain", "slug": DOMAINS[n % 4],
                     "reason": "seed", "manual": False, "position": 1})
        if n % 7 == 0:
            tags.append({"story_id": sid, "grp": "programme", "slug": PROGRAMMES[n % 3],
                         "reason": "seed", "manual": False, "position": 2})
        if n % 5 == 2:
            dates.append({"story_id": sid, "what": "applications-close",
                          "day": published.date() + timedelta(days=30), "evidence": "seed"})
    with store.engine.begin() as conn:
        for table, rows in ((t_stories, stories), (t_items, items), (t_tags, tags),
                            (t_dates, dates)):
            for i in range(0, len(rows), 2000):
                conn.execute(table.insert(), rows[i:i + 2000])
        if store.dialect == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('stories', 'id'), "
                              "(SELECT max(id) FROM stories))"))
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


QUERIES: dict[str, StoryFilter] = {
    "everything, first page": StoryFilter(),
    "one word": StoryFilter(text="granite"),
    "two words": StoryFilter(text="granite willow"),
    "a word no story has": StoryFilter(text="zzzzzz"),
    "kind + domain": StoryFilter(kind="event", domain="digital"),
    "programme": StoryFilter(programme="mary-seacole"),
    "source": StoryFilter(source="partner-news"),
    "published in one month": StoryFilter(published_from=START + timedelta(days=60),
                                          published_before=START + timedelta(days=90)),
    "held": StoryFilter(state="held"),
    "everything combined": StoryFilter(text="granite", kind="event", source="academy-news",
                                       published_from=START, state="released"),
}


def measure(store: Store, runs: int = 5) -> dict[str, float]:
    """The median milliseconds of each query in ``QUERIES`` (a page of 50, and the count)."""
    out = {}
    for name, f in QUERIES.items():
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            store.search_stories(f, limit=50)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", default="10000")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    pg = os.environ.get("HERALD_BENCH_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    for db in args.db.split(","):
        for count in (int(c) for c in args.stories.split(",")):
            schema = f"herald_bench_{uuid.uuid4().hex[:10]}"  # a schema of its own
            if db == "sqlite":
                url = f"sqlite:///{args.dir}/stories-{uuid.uuid4().hex}.db"
            else:
                admin = Store.open(pg)
                with admin.engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                url = f"{pg}?options=-csearch_path%3D{schema}"
            store = Store.open(url)
            store.upgrade()
            t0 = time.perf_counter()
            seed(store, count)
            print(f"{db} {count} stories: seeded in {time.perf_counter() - t0:.1f} s")
            for name, ms in measure(store).items():
                print(f"  {name:28s} {ms:8.1f} ms")
            store.close()
            if db != "sqlite":
                with admin.engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.close()


if __name__ == "__main__":
    main()
