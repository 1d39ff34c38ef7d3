"""The pure-Python cost of the pipeline per new entry, without a database or a network.

    python -m bench.pipeline_cpu                      # 40 feeds × 50 entries, seed 6
    python -m bench.pipeline_cpu --feeds 100 --repeat 3
    python -m bench.pipeline_cpu --reference ../shared/reference/feeds   # digest only
    python -m bench.pipeline_cpu --profile tagging    # pyinstrument on one part

It generates the benchmark corpus (``bench.corpus.generate``) and runs, feed by feed,
what ``Store.ingest`` runs in Python for each new entry, in the same order: making the
Items from the feed body (``parse_feed``: lxml or feedparser, HTML to text, sanitising),
the programmes an item names (``Taxonomy.matching``), its merge features
(``features``), its lookup keys and index terms, and then, once the feed's items are
placed, the composition of each item's new story (``compose``, which tags it with the
rules and the bundled learned tagger, as the worker does). It prints milliseconds per
entry for each part, and a digest of every output (the Items' fields, Features,
programmes, keys, terms, composed stories, and the learned tagger's every prediction:
probabilities and reasons): a change meant to make the code faster must leave the digest
as it was. ``model (predict)`` times the learned tagger alone, on the same texts; it is
part of ``tagging (compose)`` and not counted again in the total.

``--reference DIR`` digests instead every feed file under DIR (the reference corpus of
real feeds), for outputs on real text; it is not timed.

Times are of one run on a shared machine: compare two versions as ratios within one
session, not as absolute numbers. ``--clock cpu`` times with the process's CPU time
instead of the wall clock: steadier when other work shares the cores.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import generate
from bot import bundled
from bot.errors import ParseError
from bot.model import Item, TagGroup
from bot.pipeline.dedupe import match_keys
from bot.pipeline.learned import Prediction, load_tagger
from bot.pipeline.similar import Features, features, index_terms
from bot.pipeline.story import StoryContent, compose
from bot.pipeline.tagging import Taxonomy, load_taxonomy
from bot.sources.feed import parse_feed

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
PARTS = ("items", "programmes", "features", "keys+terms", "tagging (compose)")
#: Timed and digested too, but inside a part above (``compose`` calls it).
INSIDE = ("model (predict)",)


def _item_repr(item: Item) -> str:
    raw = (item.raw.mime_type, item.raw.content) if item.raw else None
    return repr((item, raw))


def _features_repr(f: Features) -> str:
    return repr((sorted(f.words), sorted(f.years), sorted(f.dates), sorted(f.own_urls),
                 sorted(f.links), sorted(f.programmes)))


def _story_repr(s: StoryContent) -> str:
    return repr(s)


def _prediction_repr(p: Prediction) -> str:
    return repr((p, p.kind.reason, [d.reason for d in p.domains]))


class Run:
    """Times per part, and one running digest of every output."""

    def __init__(self, taxonomy: Taxonomy, clock: Callable[[], float] = time.perf_counter
                 ) -> None:
        self.taxonomy = taxonomy
        self.clock = clock
        self.seconds = dict.fromkeys(PARTS + INSIDE, 0.0)
        self.entries = 0
        self.digest = hashlib.sha256()

    def _timed(self, part: str, fn: Callable[[], Any]) -> Any:
        start = self.clock()
        out = fn()
        self.seconds[part] += self.clock() - start
        return out

    def _add(self, text: str) -> None:
        self.digest.update(text.encode("utf-8", "surrogatepass"))
        self.digest.update(b"\x00")

    def feed(self, make: Callable[[], list[Item]]) -> None:
        """One feed, as one ingest: its items, then the stories they create."""
        items = self._timed("items", make)
        self.entries += len(items)
        tax = self.taxonomy
        for item in items:
            self._add(_item_repr(item))
            progs = self._timed("programmes", lambda i=item: tax.matching(
                TagGroup.PROGRAMME, i.title, i.text))
            feats = self._timed("features", lambda i=item, p=progs: features(i, p))
            keys, terms = self._timed("keys+terms", lambda i=item, f=feats: (
                match_keys(i), list(dict.fromkeys(index_terms(f, common=tax.is_common)))))
            self._add(repr(progs))
            self._add(_features_repr(feats))
            self._add(repr((sorted(keys.urls), keys.fingerprint, terms)))
        for item in items:
            story = self._timed("tagging (compose)", lambda i=item: compose([i], tax, ()))
            self._add(_story_repr(story))
        if tax.model is not None:
            model = tax.model
            for item in items:
                fired = tax.fired(item.title, item.text)
                guess = self._timed("model (predict)", lambda i=item, f=fired: model.predict(
                    i.title, i.text, f))
                self._add(_prediction_repr(guess))

    def report(self, label: str) -> None:
        n = max(1, self.entries)
        total = sum(self.seconds[part] for part in PARTS)
        print(f"{label}: {self.entries} entries")
        for part in PARTS:
            print(f"  {part:<18} {self.seconds[part] * 1000 / n:7.3f} ms/entry")
        print(f"  {'total':<18} {total * 1000 / n:7.3f} ms/entry")
        for part in INSIDE:
            print(f"  {part:<18} {self.seconds[part] * 1000 / n:7.3f} ms/entry (in the above)")
        print(f"  digest {self.digest.hexdigest()}")


def corpus_run(taxonomy: Taxonomy, feeds: int, entries: int, seed: int,
               clock: Callable[[], float] = time.perf_counter) -> Run:
    run = Run(taxonomy, clock)
    for n, feed in enumerate(generate(feeds, entries, seed=seed)):
        run.feed(lambda f=feed, n=n: parse_feed(
            f.body, source=f"feed-{n:05d}", url=f"http://127.0.0.1{f.path}",
            collected_at=NOW, content_type=f.content_type))
    return run


def reference_run(taxonomy: Taxonomy, folder: Path) -> Run:
    run = Run(taxonomy)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        body = path.read_bytes()

        def make(body: bytes = body, path: Path = path) -> list[Item]:
            try:
                return parse_feed(body, source="s", url="https://example.org/feed",
                                  collected_at=NOW)
            except (ParseError, ValueError, UnicodeError, RecursionError) as exc:
                run._add(f"{path.relative_to(folder)}: {type(exc).__name__}")
                return []

        run._add(str(path.relative_to(folder)))
        run.feed(make)
    return run


def _profile(fn: Callable[[], Run]) -> Run:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        return fn()
    finally:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs in this process (later ones find some caches warm)")
    parser.add_argument("--reference", type=Path, help="digest every feed under this folder")
    parser.add_argument("--profile", action="store_true", help="profile with pyinstrument")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time with the wall clock or the process's CPU time")
    parser.add_argument("--rules-only", action="store_true",
                        help="tag with the rules alone (no learned tagger)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    taxonomy = load_taxonomy(bundled.taxonomy())
    if not args.rules_only:
        taxonomy = taxonomy.with_model(load_tagger())  # as the worker tags
    if args.reference:
        reference_run(taxonomy, args.reference).report(f"reference {args.reference}")
        return
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for k in range(args.repeat):
        def once() -> Run:
            return corpus_run(taxonomy, args.feeds, args.entries, args.seed, clock)
        run = _profile(once) if args.profile else once()
        run.report(f"run {k + 1}, corpus {args.feeds}×{args.entries} seed {args.seed}")


if __name__ == "__main__":
    main()
