"""Precision and recall of cross-source merging on the labelled set.

    python -m bench.merge_eval [tests/data/merge_set.json] [--verbose]

Every item of the set is ingested, oldest first, into a fresh SQLite store with the
default taxonomy and merge settings, exactly as polls would bring them in. Two items
are predicted "same" when they end up in one story, and are truly the same when the
set gives them one ``group``. Over all pairs: precision = true merged pairs / merged
pairs, recall = true merged pairs / pairs that should merge. ``--verbose`` lists the
wrong calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path

from bot.clock import as_utc
from bot.model import Link
from bot.pipeline.normalize import make_item
from bot.pipeline.tagging import load_taxonomy
from bot.store import Store
from bot.store._ingest import RoutingContext

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT / "tests" / "data" / "merge_set.json"


@dataclass(frozen=True)
class Result:
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    items: int
    false_merges: list[tuple[str, str]]
    missed: list[tuple[str, str]]


def evaluate(path: Path = DEFAULT_SET) -> Result:
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows = sorted(doc["items"], key=lambda r: (r["published_at"], r["key"]))
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.toml")
    ctx = RoutingContext(taxonomy, (), ())
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/eval.db")
        store.upgrade()
        story_of: dict[str, int] = {}
        for r in rows:
            when = as_utc(datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")))
            item = make_item(
                source=r["source"], source_item_id=r["key"], url=r["url"],
                title=r.get("title") or None, html=None, text=r["text"], author=None,
                published_at=when, collected_at=when,
                links=[Link(lk["url"], lk.get("expanded_url")) for lk in r.get("links", [])],
                source_kind="x" if r.get("kind") == "x" else "feed")
            store.ingest([item], ctx, when)
        for story in store.list_stories():
            for it in story.items:
                story_of[it.source_item_id] = story.id or 0
        store.close()
    group = {r["key"]: r["group"] for r in rows}
    keys = sorted(group)
    truth = {(a, b) for a, b in combinations(keys, 2) if group[a] == group[b]}
    predicted = {(a, b) for a, b in combinations(keys, 2) if story_of[a] == story_of[b]}
    correct = truth & predicted
    precision = len(correct) / len(predicted) if predicted else 1.0
    recall = len(correct) / len(truth) if truth else 1.0
    return Result(precision, recall, len(truth), len(predicted), len(correct), len(rows),
                  sorted(predicted - truth), sorted(truth - predicted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    r = evaluate(args.path)
    print(f"items {r.items} · pairs that should merge {r.true_pairs} · merged pairs "
          f"{r.predicted_pairs} · correct {r.correct_pairs}")
    print(f"precision {r.precision:.3f} · recall {r.recall:.3f}")
    if args.verbose:
        for a, b in r.false_merges:
            print(f"  wrongly merged: {a} + {b}")
        for a, b in r.missed:
            print(f"  missed:         {a} + {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
