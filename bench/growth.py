"""How the cost of a new item changes as stored stories grow: ``python -m bench --growth``.

At each size the store is first filled in bulk, straight into the tables, with stories of
one item each: text from the corpus vocabulary, with the features, index terms and term
counts an ingest would have stored, published evenly over the two years up to the corpus
dates (so the merge window holds its share of them, as after two years of polling). Then
1,000 fresh items (20 feeds × 50 entries of a corpus with another seed, parsed
beforehand) are ingested feed by feed through ``Store.ingest``, as a poll would, and the
time per item is taken (the best of three batches, as the machine is shared). Parsing is
not in it: its cost does not depend on what is stored.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from bench.corpus import BASE, Vocabulary, generate
from bot import bundled
from bot.config import RouteConfig
from bot.model import Item
from bot.pipeline.tagging import load_taxonomy
from bot.sources.feed import parse_feed
from bot.store import Store
from bot.store._features import encode, features_key
from bot.store._ingest import RoutingContext, _features, _terms
from bot.store.schema import item_terms, item_urls, items, stories, term_counts

SPREAD = timedelta(days=730)


def _batch(seed: int, now: datetime) -> list[list[Item]]:
    return [parse_feed(f.body, source=f"growth-{seed}-{f.path}", url="http://bench" + f.path,
                       collected_at=now) for f in generate(20, 50, seed=seed)]


def _fill(store: Store, count: int, vocab: Vocabulary, now: datetime,
          ctx: RoutingContext) -> None:
    """``count`` more stories, of one item each, written in bulk with their features,
    index terms and term counts, as an ingest would have stored them."""
    key = features_key(ctx.taxonomy)
    with store.engine.connect() as conn:
        s0 = conn.execute(select(func.max(stories.c.id))).scalar() or 0
        i0 = conn.execute(select(func.max(items.c.id))).scalar() or 0
    rng = random.Random(s0)
    chunk = 5000
    with store.engine.begin() as conn:
        for lo in range(0, count, chunk):
            s_rows, i_rows, u_rows, t_rows = [], [], [], []
            counts: Counter[str] = Counter()
            for k in range(lo + 1, min(count, lo + chunk) + 1):
                n, i = s0 + k, i0 + k
                when = BASE - SPREAD * rng.random()
                title = vocab.phrase(rng, 6).capitalize()
                text = vocab.phrase(rng, 110)
                url = f"https://filler{n % 997}.example.org/news/{n}"
                s_rows.append({"id": n, "title": title, "summary": text[:300], "url": url,
                               "kind": "news", "first_seen": now, "updated_at": now,
                               "revision": 1, "hold": False})
                item = Item(source=f"filler-{n % 997}", source_item_id=str(n), url=url,
                            canonical_url=url, title=title, text=text, html=f"<p>{text}</p>",
                            author=None, published_at=when, collected_at=now)
                feats = _features(item, ctx)
                terms = _terms(feats, ctx)
                counts.update(t for t in terms if not t.startswith("u:"))
                i_rows.append({"id": i, "source": f"filler-{n % 997}",
                               "source_item_id": str(n), "story_id": n, "source_kind": "feed",
                               "url": url, "canonical_url": url,
                               "fingerprint": uuid.UUID(int=rng.getrandbits(128)).hex,
                               "title": title, "text": text, "html": f"<p>{text}</p>",
                               "author": None, "links": "[]", "published_at": when,
                               "collected_at": now, "updated_at": now, "raw_type": None,
                               "raw": None, "features": encode(feats, key)})
                u_rows.append({"item_id": i, "url": url, "story_id": n})
                t_rows += [{"term": t, "item_id": i, "published_at": when} for t in terms]
            conn.execute(stories.insert(), s_rows)
            conn.execute(items.insert(), i_rows)
            conn.execute(item_urls.insert(), u_rows)
            conn.execute(item_terms.insert(), t_rows)
            stmt = (postgresql if store.dialect == "postgresql" else sqlite).insert(term_counts)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["term"], set_={"n": term_counts.c.n + stmt.excluded.n}),
                [{"term": t, "n": c} for t, c in sorted(counts.items())])
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            for table in ("stories", "items"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
            conn.exec_driver_sql("ANALYZE")


def _measure(store: Store, ctx: RoutingContext, batch: list[list[Item]],
             now: datetime) -> tuple[float, float]:
    """Wall and CPU (this process's user + system) milliseconds per item. CPU time leaves
    out the time other processes held the cores, so it is the steadier measure on a
    shared machine; on PostgreSQL it leaves out the server's work too."""
    started, cpu = time.perf_counter(), time.process_time()
    for feed_items in batch:
        store.ingest(feed_items, ctx, now)
    n = sum(len(b) for b in batch)
    return ((time.perf_counter() - started) / n * 1000, (time.process_time() - cpu) / n * 1000)


def _profiled(store: Store, ctx: RoutingContext, batch: list[list[Item]], now: datetime,
              out: Path) -> None:
    """One more batch under pyinstrument, its profile written to ``out``."""
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    _measure(store, ctx, batch, now)
    profiler.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profiler.output_text(unicode=False, color=False))


def run(url: str, sizes: list[int], profile: Path | None = None) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    store = Store.open(url)
    store.upgrade()
    taxonomy = load_taxonomy(bundled.taxonomy())
    ctx = RoutingContext(taxonomy, (RouteConfig(to=["slack"]),), ("slack",))
    vocab = Vocabulary(random.Random(6))
    points = []
    try:
        for k, size in enumerate(sorted(sizes)):
            # Stories made by earlier measurements count towards the size.
            with store.engine.connect() as conn:
                have = conn.execute(select(func.count()).select_from(stories)).scalar_one()
            started = time.perf_counter()
            if size > have:
                _fill(store, size - have, vocab, now, ctx)
            fill_s = time.perf_counter() - started
            runs = [_measure(store, ctx, _batch(1000 + 3 * k + j, now), now) for j in (0, 1, 2)]
            costs = [wall for wall, _cpu in runs]
            cpus = [cpu for _wall, cpu in runs]
            if profile is not None:
                _profiled(store, ctx, _batch(5000 + k, now), now,
                          profile / f"growth-{store.dialect}-{size}.txt")
            point = {"stories": size, "ms_per_item": min(costs), "runs": costs,
                     "cpu_ms_per_item": min(cpus), "cpu_runs": cpus,
                     "fill_seconds": fill_s}
            points.append(point)
            print(f"  {size:>8} stories: {min(costs):6.2f} ms an item, {min(cpus):6.2f} CPU "
                  f"(runs {', '.join(f'{c:.2f}' for c in costs)}; "
                  f"CPU {', '.join(f'{c:.2f}' for c in cpus)}; filled in {fill_s:.0f} s)",
                  file=sys.stderr, flush=True)
    finally:
        store.close()
    return points


def main(sizes: list[int], args: argparse.Namespace) -> None:
    """Print the curve for each backend in ``--db``."""
    from bench.__main__ import _machine, _PgSchema

    print(f"machine: {_machine()}", file=sys.stderr)
    profile = Path(args.profile) if args.profile else None
    curves: dict[str, list[dict[str, Any]]] = {}
    for db in [d.strip() for d in args.db.split(",") if d.strip()]:
        print(f"{db}:", file=sys.stderr)
        if db == "sqlite":
            with tempfile.TemporaryDirectory(prefix="herald-growth-") as tmp:
                points = run(f"sqlite:///{tmp}/growth.db", sizes, profile)
        else:
            schema = _PgSchema()
            try:
                points = run(schema.url, sizes, profile)
            finally:
                schema.drop()
        curves[db] = points
        first, first_cpu = points[0]["ms_per_item"], points[0]["cpu_ms_per_item"]
        print(f"\n{db}: stored stories → ingest cost of a new item")
        for p in points:
            print(f"  {p['stories']:>8}  {p['ms_per_item']:6.2f} ms  "
                  f"{(p['ms_per_item'] / first - 1) * 100:+6.1f}%   CPU "
                  f"{p['cpu_ms_per_item']:6.2f} ms  "
                  f"{(p['cpu_ms_per_item'] / first_cpu - 1) * 100:+6.1f}%")
    print(f"machine: {_machine()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": _machine(), "growth": curves},
                                              indent=2))
