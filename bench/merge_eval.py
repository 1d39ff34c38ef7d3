"""Precision and recall of cross-source merging on a labelled set.

    python -m bench.merge_eval [tests/data/merge_set.json] [--verbose]
    python -m bench.merge_eval CORPUS.jsonl [--split test|dev|train] [--verbose]

Every item of the set is ingested, oldest first, into a fresh SQLite store with the
default taxonomy and merge settings, exactly as polls would bring them in. Two items
are predicted "same" when they end up in one story, and are truly the same when the
set gives them one ``group``. Over all pairs: precision = true merged pairs / merged
pairs, recall = true merged pairs / pairs that should merge. ``--verbose`` lists the
wrong calls. The largest story is printed too: merging that chains makes huge ones.

Two formats:

- ``.json``: ``{"items": [...]}`` as in ``tests/data/merge_set.json`` (its README).
- ``.jsonl``: one announcement copy a line, ``{"id", "site", "source", "url", "title",
  "text", "published", "group", ...}``, optionally ``"split"`` (``--split`` keeps
  one). ``source`` is the kind of page (``news``, ``programme-page``, …, ``x-post``).
  An ``x-post`` is a post of the site's X account: its ``url`` is the page it is
  about, not the post's own, so it gets a made-up status URL and its links are only
  those written in its text; a ``RT @account: …`` repost is matched to the account's
  post it repeats, as the archive import does. Every other item is an entry of the
  site's one feed. ``published`` (a day, or null) becomes 09:00 UTC that day; undated
  entries are collected, like a feed without dates, in one poll per site after all
  dated items, and get no publication date.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

from bot import bundled
from bot.clock import as_utc
from bot.model import Item, Link
from bot.pipeline.normalize import make_item
from bot.pipeline.tagging import load_taxonomy
from bot.sources.x import original_of, status_url
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


    largest_story: int = 0


def _json_items(path: Path) -> tuple[list[list[Item]], dict[str, str]]:
    """The ``.json`` set's items, one ingest each, oldest first; and each key's group."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows = sorted(doc["items"], key=lambda r: (r["published_at"], r["key"]))
    polls = []
    for r in rows:
        when = as_utc(datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")))
        polls.append([make_item(
            source=r["source"], source_item_id=r["key"], url=r["url"],
            title=r.get("title") or None, html=None, text=r["text"], author=None,
            published_at=when, collected_at=when,
            links=[Link(lk["url"], lk.get("expanded_url")) for lk in r.get("links", [])],
            source_kind="x" if r.get("kind") == "x" else "feed")])
    return polls, {r["key"]: r["group"] for r in rows}


def read_jsonl(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl`` corpus (of one split, if given)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{n}: not a JSON object")
        missing = {"id", "site", "source", "text", "group"} - row.keys()
        if missing:
            raise ValueError(f"{path}:{n}: no {', '.join(sorted(missing))}")
        if row.get("published"):
            try:
                datetime.fromisoformat(str(row["published"]))
            except ValueError:
                raise ValueError(f"{path}:{n}: published must be YYYY-MM-DD, not "
                                 f"{row['published']!r}") from None
        if split is None or row.get("split") == split:
            rows.append(row)
    return rows


def _handle(site: str) -> str:
    return "".join(c for c in site.lower() if c.isalnum())[:15] or "site"


def jsonl_items(rows: list[dict[str, Any]]) -> tuple[list[list[Item]], dict[str, str]]:
    """A ``.jsonl`` corpus as ingests (see the module docstring), and each id's group."""
    dated = sorted((r for r in rows if r.get("published")),
                   key=lambda r: (r["published"], str(r["id"])))
    undated = sorted((r for r in rows if not r.get("published")),
                     key=lambda r: (str(r["site"]), str(r["id"])))
    last = max((datetime.fromisoformat(r["published"]) for r in dated),
               default=datetime(2026, 1, 1))
    poll_time = datetime(last.year, last.month, last.day, 9, tzinfo=UTC) + timedelta(days=1)
    posts: dict[str, list[tuple[str, str]]] = {}  # site -> its X posts so far (id, text)

    def item(r: dict[str, Any]) -> Item:
        published = None
        if r.get("published"):
            day = datetime.fromisoformat(r["published"])
            published = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        collected = published or poll_time
        key = str(r["id"])
        if r["source"] == "x-post":
            handle = _handle(str(r["site"]))
            tweet_id = str(int(hashlib.sha256(key.encode()).hexdigest()[:15], 16))
            mine = posts.setdefault(str(r["site"]), [])
            original = original_of(r["text"], mine)
            mine.append((tweet_id, r["text"]))
            links = [Link(status_url(handle, original), rel="repost")] if original else []
            # X gives a post's links as entities; here they are the full URLs in its text.
            links += [Link(u.rstrip(".,;:!?)"), u.rstrip(".,;:!?)"))
                      for u in re.findall(r"https?://\S+", r["text"])]
            # X dates every post: one the corpus has no day for was posted when polled.
            return make_item(source=f"{r['site']}-x", source_item_id=key,
                             url=status_url(handle, tweet_id), title=None, html=None,
                             text=r["text"], author=f"@{handle}",
                             published_at=published or poll_time,
                             collected_at=collected, links=links, source_kind="x")
        # ``link``: the entry's own address where the corpus gives one (a page holding
        # several announcements is not any one entry's address).
        return make_item(source=str(r["site"]), source_item_id=key,
                         url=r["link"] if "link" in r else r.get("url"),
                         title=r.get("title") or None, html=None, text=r["text"],
                         author=None, published_at=published, collected_at=collected)

    polls = [[item(r)] for r in dated]
    by_site: dict[str, list[Item]] = {}
    for r in undated:
        by_site.setdefault(str(r["site"]), []).append(item(r))
    polls += list(by_site.values())
    return polls, {str(r["id"]): str(r["group"]) for r in rows}


def evaluate(path: Path = DEFAULT_SET, split: str | None = None) -> Result:
    """Ingest the set at ``path`` (``.json`` or ``.jsonl``) and score the stories."""
    if path.suffix == ".jsonl":
        polls, group = jsonl_items(read_jsonl(path, split))
    else:
        polls, group = _json_items(path)
    taxonomy = load_taxonomy(bundled.taxonomy())
    ctx = RoutingContext(taxonomy, (), ())
    story_of: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/eval.db")
        store.upgrade()
        for poll in polls:
            store.ingest(poll, ctx, max(i.collected_at for i in poll))
        for story in store.list_stories():
            for it in story.items:
                story_of[it.source_item_id] = story.id or 0
        store.close()
    keys = sorted(group)
    truth = {(a, b) for a, b in combinations(keys, 2) if group[a] == group[b]}
    predicted = {(a, b) for a, b in combinations(keys, 2) if story_of[a] == story_of[b]}
    correct = truth & predicted
    precision = len(correct) / len(predicted) if predicted else 1.0
    recall = len(correct) / len(truth) if truth else 1.0
    sizes = Counter(story_of.values())
    return Result(precision, recall, len(truth), len(predicted), len(correct), len(keys),
                  sorted(predicted - truth), sorted(truth - predicted),
                  max(sizes.values(), default=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--split", choices=("test", "dev", "train"),
                        help="a .jsonl corpus: evaluate only this split's items")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    if args.split and args.path.suffix != ".jsonl":
        parser.error("--split needs a .jsonl corpus")
    try:
        r = evaluate(args.path, args.split)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if r.items < 2:
        print(f"error: {r.items} items in {args.path}" + (f" (split {args.split})"
              if args.split else "") + ": nothing to measure", file=sys.stderr)
        return 2
    print(f"items {r.items} · pairs that should merge {r.true_pairs} · merged pairs "
          f"{r.predicted_pairs} · correct {r.correct_pairs} · largest story "
          f"{r.largest_story} items")
    print(f"precision {r.precision:.3f} · recall {r.recall:.3f}")
    if args.verbose:
        for a, b in r.false_merges:
            print(f"  wrongly merged: {a} + {b}")
        for a, b in r.missed:
            print(f"  missed:         {a} + {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
