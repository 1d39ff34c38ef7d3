"""The prepare pool: entries parsed and prepared in child processes give the same store.

``prepare`` computes in a child what ingest would compute itself (keys, merge features,
index terms, the one-item story's content); these tests hold the two equal on the bundled
samples and the labelled corpus, compare whole stores collected with and without the pool,
and break the pool (a stale taxonomy, killed children) to see each feed still stored.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.corpus import generate
from bot import bundled
from bot.app import Herald
from bot.errors import ParseError
from bot.model import Item
from bot.pipeline import pool
from bot.pipeline.dedupe import match_keys
from bot.pipeline.prepare import TaxonomySpec, bundled_weights, prepare_items
from bot.pipeline.story import compose
from bot.sources.feed import parse_feed
from bot.store._ingest import RoutingContext, _features, _terms
from bot.store.schema import (
    deliveries,
    item_terms,
    item_urls,
    items,
    stories,
    story_dates,
    story_tags,
)
from tests.conftest import ROOT, make_settings

# Each test starts a pool of processes: the full run (pytest --all) has them.
pytestmark = [pytest.mark.skipif(not pool.available(), reason="needs the spawn start method"),
              pytest.mark.slow]

SPEC = TaxonomySpec.of(bundled.taxonomy(), bundled_weights())
NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)


def _samples() -> list[tuple[str, bytes]]:
    folder = bundled.data_dir() / "sample"
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def _corpus_items() -> list[Item]:
    out = []
    for line in (ROOT / "corpus" / "announcements.jsonl").read_text().splitlines():
        row = json.loads(line)
        published = (datetime.fromisoformat(row["published"]).replace(tzinfo=UTC)
                      if row.get("published") else NOW)
        out.append(Item(source=row["site"], source_item_id=row["id"], url=row.get("url"),
                        canonical_url=row.get("url"), title=row["title"], text=row["text"],
                        html="", author=None, published_at=published, collected_at=NOW))
    return out


def _in_process(found: list[Item], ctx: RoutingContext) -> list[tuple[Any, ...]]:
    out = []
    for item in found:
        feats = _features(item, ctx)
        out.append((match_keys(item), feats, tuple(_terms(feats, ctx)),
                    compose([item], ctx.taxonomy, ())))
    return out


def test_a_child_prepares_what_ingest_computes_on_the_samples_and_the_corpus() -> None:
    ctx = RoutingContext(SPEC.load(), (), ())
    prepare_pool = pool.PreparePool(2, SPEC, merge=True)
    try:
        for name, body in _samples():
            found, prepared = prepare_pool.parse(body, source=name, url=f"file:{name}",
                                                 collected_at=NOW, content_type=None,
                                                 headers={})
            assert found == parse_feed(body, source=name, url=f"file:{name}",
                                       collected_at=NOW)
            assert [(p.keys, p.features, p.terms, p.content) for p in prepared] == \
                _in_process(found, ctx)
        corpus = _corpus_items()
        executor = prepare_pool._current()
        remote = [p for n in range(0, len(corpus), 200) for p in executor.submit(
            _prepare_in_child, corpus[n:n + 200]).result()]
    finally:
        prepare_pool.close()
    assert len(remote) == len(corpus) > 900
    assert [(p.keys, p.features, p.terms, p.content) for p in remote] == \
        _in_process(corpus, ctx)


def _prepare_in_child(found: list[Item]) -> list[Any]:
    return prepare_items(found, SPEC.load(), merge=True)


def test_the_child_imports_the_parser_and_the_pipeline_only() -> None:
    prepare_pool = pool.PreparePool(2, SPEC, merge=True)
    try:
        prepare_pool.parse(_samples()[0][1], source="s", url="file:s", collected_at=NOW,
                           content_type=None, headers={})
        loaded = set(prepare_pool._current().submit(
            eval, "{m.split('.')[0] for m, v in __import__('sys').modules.items()"
                  " if v is not None}").result())
    finally:
        prepare_pool.close()
    assert loaded & {"sqlalchemy", "httpx", "pydantic", "rich", "bench", "tests",
                     "pytest", "starlette", "channels"} == set()


def _write_feeds(folder: Path) -> list[dict[str, Any]]:
    sources = []
    for name, body in _samples():
        (folder / name).write_bytes(body)
        sources.append({"name": name.split(".")[0], "url": str(folder / name),
                        "type": "rss", "every": "1h"})
    for feed in generate(10, 12, seed=3):
        path = folder / feed.path.rsplit("/", 1)[1]
        path.write_bytes(feed.body)
        sources.append({"name": f"gen-{path.stem}", "url": str(path), "type": "rss",
                        "every": "1h"})
    return sources


def _collected(tmp_path: Path, clock: Any, processes: int, spec: TaxonomySpec | None = None
               ) -> tuple[dict[str, list[Any]], Herald]:
    tmp_path.mkdir()
    sources = _write_feeds(tmp_path)
    settings = make_settings(tmp_path, {
        "sources": sources, "tagging": {"model": "bundled"},
        "worker": {"processes": processes}, "http": {"concurrency": 1}})
    herald = Herald(settings, clock=clock)
    if spec is not None:
        herald._spec = spec
    try:
        herald.prepare()
        stats = herald.collect(all_enabled=True)
        assert stats.errors == 0 and stats.changed == len(sources)
        used = herald._pool
        dump: dict[str, list[Any]] = {}
        with herald.store.engine.connect() as conn:
            for table in (stories, items, story_tags, story_dates, deliveries, item_urls,
                          item_terms):
                dump[table.name] = sorted(tuple(map(repr, r)) for r in
                                           conn.execute(select(table)))
    finally:
        herald.close()
    assert (used is not None) == (processes > 1)
    return dump, herald


def test_pool_on_and_off_give_the_same_store(tmp_path: Path, clock: Any) -> None:
    off, _ = _collected(tmp_path / "off", clock, processes=0)
    on, herald = _collected(tmp_path / "on", clock, processes=2)
    assert herald._pool is None  # closed with Herald
    assert len(off["stories"]) > 100 and len(off["items"]) > len(off["stories"])
    assert on == off


def test_a_pool_that_fails_leaves_each_feed_to_this_process(
        tmp_path: Path, clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    stale = TaxonomySpec(SPEC.taxonomy, "0" * 64, SPEC.tagger, SPEC.tagger_digest)
    off, _ = _collected(tmp_path / "off", clock, processes=0)
    with caplog.at_level(logging.WARNING):
        on, _ = _collected(tmp_path / "on", clock, processes=2, spec=stale)
    assert on == off
    # Said once: every feed after the first is parsed here without trying the pool.
    assert caplog.text.count("changed since Herald read it") == 1
    assert "until Herald restarts" in caplog.text


def test_a_killed_child_breaks_one_parse_and_the_next_gets_a_new_pool() -> None:
    prepare_pool = pool.PreparePool(1, SPEC, merge=True)
    name, body = _samples()[0]
    kwargs: dict[str, Any] = {"source": name, "url": "file:x", "collected_at": NOW,
                              "content_type": None, "headers": {}}
    try:
        first = prepare_pool.parse(body, **kwargs)
        for pid in prepare_pool.pids():
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(pool.PoolFailure):
            prepare_pool.parse(body, **kwargs)
        assert prepare_pool.parse(body, **kwargs) == first
        with pytest.raises(ParseError):  # the feed's own fault is raised as it is
            prepare_pool.parse(b"<html>not a feed</html>", **kwargs)
    finally:
        prepare_pool.close()
    with pytest.raises(pool.PoolFailure):
        prepare_pool.parse(body, **kwargs)


def test_a_hung_child_is_killed_at_the_deadline_and_the_next_parse_gets_a_new_pool() -> None:
    """A child that stops answering (here: stopped with SIGSTOP) must not hold its feed, and
    the collection, for ever (found from outside: `herald run --once` waited 200 s and
    more)."""
    prepare_pool = pool.PreparePool(1, SPEC, merge=True)
    prepare_pool.deadline = 3.0
    name, body = _samples()[0]
    kwargs: dict[str, Any] = {"source": name, "url": "file:x", "collected_at": NOW,
                              "content_type": None, "headers": {}}
    try:
        first = prepare_pool.parse(body, **kwargs)
        hung = prepare_pool.pids()
        for pid in hung:
            os.kill(pid, signal.SIGSTOP)
        with pytest.raises(pool.PoolFailure, match="took over 3 s"):
            prepare_pool.parse(body, **kwargs)
        assert prepare_pool.parse(body, **kwargs) == first
        assert not set(prepare_pool.pids()) & set(hung)
    finally:
        prepare_pool.close()


@pytest.mark.parametrize("value", [True, "2", 2.0, -1, 65])
def test_worker_processes_takes_a_whole_number_only(value: Any) -> None:
    """Found from outside: ``processes = true`` and ``"2"`` were taken as 1 and 2."""
    from bot.config import parse_config
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="processes"):
        parse_config({"worker": {"processes": value}}, file=Path("herald.toml"), environ={})


def test_a_taxonomy_file_touched_but_not_changed_is_the_same_file(tmp_path: Path) -> None:
    """Found from outside: `touch taxonomy.toml` turned the pool off until a restart (its
    modification time was compared, not its content)."""
    rules = tmp_path / "taxonomy.toml"
    rules.write_bytes(Path(SPEC.taxonomy).read_bytes())
    spec = TaxonomySpec.of(rules, None)
    os.utime(rules, (1, 1))
    assert TaxonomySpec.of(rules, None) == spec
    rules.write_bytes(rules.read_bytes() + b"\n# edited\n")
    assert TaxonomySpec.of(rules, None) != spec
