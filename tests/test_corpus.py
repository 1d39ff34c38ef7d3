"""The labelled corpus (corpus/announcements.jsonl) and the weights built from it.

The corpus is what the learned tagger is trained on (its train split), what settings were
chosen on (dev) and what is reported (test). These tests hold its shape: every item
labelled twice, every disagreement settled with a reason, splits by site, copies of one
announcement in one split; and they check that the shipped weights are what one command
builds from it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from bot.pipeline.learned import BUNDLED
from bot.tagdata import CORPUS, SPLITS, read_examples
from tests.conftest import CONFIG_DIR

KINDS = ("cohort-opening", "coaching-offer", "cop-story", "event", "resource", "vacancy",
         "news")
DOMAINS = ("individual-effectiveness", "relationships-connectivity", "innovation-improvement",
           "learning-capacity")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def test_every_item_is_labelled_twice_and_disagreements_are_settled(rows: list[dict]) -> None:
    assert len(rows) >= 400
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["kind"] in KINDS and set(r["domains"]) <= set(DOMAINS), r["id"]
        a, b = r["labels"]["a"], r["labels"]["b"]
        if (a["kind"], sorted(a["domains"])) != (b["kind"], sorted(b["domains"])):
            assert r.get("settled"), f"{r['id']}: the labellers disagree and nothing says why"
        else:
            assert (r["kind"], sorted(r["domains"])) == (a["kind"], sorted(a["domains"]))
        assert r["title"] or r["source"] == "x-post", r["id"]
        assert r["source"] != "x-post" or len(r["text"]) <= 280, r["id"]


def test_splits_go_by_site_and_keep_an_announcement_s_copies_together(
        rows: list[dict]) -> None:
    split_of_site: dict[str, set[str]] = defaultdict(set)
    split_of_group: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        assert r["split"] in SPLITS
        split_of_site[r["site"]].add(r["split"])
        split_of_group[r["group"]].add(r["split"])
    assert all(len(s) == 1 for s in split_of_site.values())
    assert all(len(s) == 1 for s in split_of_group.values())
    sizes = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    assert sizes["test"] >= 0.15 * len(rows) and sizes["dev"] >= 0.15 * len(rows)


def test_the_corpus_reads_as_labelled_examples() -> None:
    test = read_examples(CORPUS, "test")
    assert test and all(e.split == "test" for e in test)


@pytest.mark.slow
def test_shipped_weights_equal_a_fresh_build() -> None:
    """``python -m bot.tagtrain`` rebuilds bot/pipeline/tagger.json from the corpus; the
    file in the repository must be that build (to the weights file's rounding)."""
    pytest.importorskip("sklearn", reason="building the weights needs scikit-learn")
    from bot.tagtrain import build

    fresh = build(CORPUS)
    shipped = json.loads((Path(__file__).parents[1] / "bot" / "pipeline" / BUNDLED)
                         .read_text(encoding="utf-8"))
    for key in ("format", "kind", "domain", "trained_on"):
        if key in ("kind", "domain"):
            assert shipped[key]["classes"] == fresh[key]["classes"]
            assert shipped[key]["bias"] == pytest.approx(fresh[key]["bias"], abs=2e-3)
        else:
            assert shipped[key] == fresh[key], key
    assert shipped["weights"].keys() == fresh["weights"].keys()
    for name, weights in fresh["weights"].items():
        assert shipped["weights"][name] == pytest.approx(weights, abs=2e-3), name


def test_the_learned_tagger_does_no_worse_than_the_rules_on_the_test_split() -> None:
    """The reported numbers (README, "Tags that generalise") come from
    ``herald tags eval corpus/announcements.jsonl --split test``; here only a floor: the
    shipped tagger (rules and model) is not worse than the rules alone on sites it never
    saw."""
    from bot.pipeline.learned import load_tagger
    from bot.pipeline.tagging import load_taxonomy
    from bot.tagdata import score_taxonomy

    rules = load_taxonomy(CONFIG_DIR / "taxonomy.toml")
    test = read_examples(CORPUS, "test")
    alone = score_taxonomy(test, rules)
    learned = score_taxonomy(test, rules.with_model(load_tagger()))
    assert learned.accuracy >= alone.accuracy
    assert learned.macro_f1 >= alone.macro_f1
