"""``herald tags eval``, ``herald tags train`` and ``herald stories tag`` through the real
command line: a labelled file scored, a comms fix kept as a labelled example, and the fix
fed to training with the dev split reported before and after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import flat, herald, json_out, write_workspace
from tests.test_learned_tagger import TRAIN

RC = "relationships-connectivity"


def write_corpus(path: Path) -> Path:
    """The test's own sentences as a corpus: every third one in dev, the rest in train."""
    with open(path, "w", encoding="utf-8") as fh:
        for n, (title, text, kind, domains) in enumerate(TRAIN):
            fh.write(json.dumps({"id": f"c{n:02d}", "site": f"site{n % 5}.example",
                                 "title": title, "text": text, "kind": kind,
                                 "domains": sorted(domains),
                                 "split": "dev" if n % 3 == 0 else "train"}) + "\n")
    return path


@pytest.mark.slow
def test_tags_eval_prints_accuracy_f1_and_the_confusion_matrix(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "labelled.jsonl")
    shown = flat(herald(tmp_path, "tags", "eval", corpus, "--split", "dev").stdout)
    assert "7 items" in shown and "kind accuracy" in shown and "domain macro-F1" in shown
    for domain in ("individual-effectiveness", RC, "innovation-improvement",
                   "learning-capacity"):
        assert domain in shown
    assert "rows are the labels" in shown
    scores = json_out(herald(tmp_path, "tags", "eval", corpus, "--json", "--using", "rules"))
    assert scores["items"] == len(TRAIN)
    assert 0 <= scores["kind_accuracy"] <= 1 and 0 <= scores["domain_macro_f1"] <= 1
    assert sum(sum(row.values()) for row in scores["confusion"].values()) == len(TRAIN)


@pytest.mark.slow
def test_tags_eval_names_the_line_of_a_bad_labelled_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "title": "", "text": "t", "kind": "news", "domains": []}\n'
                   '{"id": "x2", "text": "no kind"}\n', encoding="utf-8")
    result = herald(tmp_path, "tags", "eval", bad, code=2)
    assert "bad.jsonl:2" in result.stderr and "kind" in result.stderr
    assert "Traceback" not in result.stderr
    missing = herald(tmp_path, "tags", "eval", tmp_path / "nope.jsonl", code=2)
    assert "does not exist" in missing.stderr


@pytest.mark.slow
def test_a_fix_from_the_cli_is_kept_and_teaches_tags_train(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="training needs scikit-learn (test extras)")
    config = write_workspace(tmp_path)
    herald(tmp_path, "run", "--once", "--config", config)
    stories = json_out(herald(tmp_path, "stories", "--json", "--config", config))
    cop = next(s for s in stories if s["url"].endswith("/news/cop"))
    herald(tmp_path, "stories", "tag", str(cop["id"]), "--kind", "news", "--domains", RC,
           "--by", "ann@example.org", "--config", config)
    fixed = next(s for s in json_out(herald(tmp_path, "stories", "--json", "--config",
                                            config)) if s["id"] == cop["id"])
    assert fixed["kind"] == "news"
    assert [t["slug"] for t in fixed["tags"] if t["group"] == "domain"] == [RC]

    corpus = write_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "trained.json"
    result = herald(tmp_path, "tags", "train", "--corpus", corpus, "--out", out,
                    "--config", config, "--force")
    shown = flat(result.stdout)
    assert "1 fixes" in shown and "before" in shown and "after" in shown
    assert "kind accuracy" in shown and "domain macro-F1" in shown
    weights = json.loads(out.read_text(encoding="utf-8"))
    assert weights["trained_on"]["fixes"] == 1
    assert weights["trained_on"]["examples"] == sum(1 for n in range(len(TRAIN)) if n % 3) + 1

    from bot.pipeline.learned import LearnedTagger

    guess = LearnedTagger(weights).predict(cop["title"], cop["summary"])
    assert guess.kind.slug == "news"


@pytest.mark.slow
def test_stories_tag_refuses_an_unknown_kind_and_asks_for_something(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    herald(tmp_path, "run", "--once", "--config", config)
    bad = herald(tmp_path, "stories", "tag", "1", "--kind", "gossip", "--config", config,
                 code=1)
    assert "gossip" in bad.stderr and "cohort-opening" in bad.stderr
    empty = herald(tmp_path, "stories", "tag", "1", "--config", config, code=2)
    assert "--kind" in empty.stderr


@pytest.mark.slow
def test_tags_train_refuses_weights_that_score_worse_and_data_too_thin(
        tmp_path: Path) -> None:
    """Labels that teach the wrong thing (every train item a vacancy or news, no domains)
    score worse on the dev split than the tagger in use: nothing is written without
    --force. Too few items, or no dev split, is one clear line."""
    pytest.importorskip("sklearn", reason="training needs scikit-learn (test extras)")
    config = write_workspace(tmp_path)
    corpus = tmp_path / "wrong.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for n, (title, text, kind, domains) in enumerate(TRAIN):
            dev = n % 3 == 0
            fh.write(json.dumps({"id": f"w{n:02d}", "title": title, "text": text,
                                 "kind": kind if dev else ("vacancy", "news")[n % 2],
                                 "domains": sorted(domains) if dev else [],
                                 "split": "dev" if dev else "train"}) + "\n")
    out = tmp_path / "w.json"
    refused = herald(tmp_path, "tags", "train", "--corpus", corpus, "--out", out,
                     "--config", config, code=1)
    assert "not written" in refused.stderr and not out.exists()
    assert "before" in flat(refused.stdout)
    herald(tmp_path, "tags", "train", "--corpus", corpus, "--out", out, "--config", config,
           "--force")
    assert out.exists()
    thin = tmp_path / "thin.jsonl"
    thin.write_text("".join(json.dumps({"id": f"t{n}", "title": "", "text": "words",
                                        "kind": "news", "domains": [],
                                        "split": ("train", "dev")[n % 2]}) + "\n"
                            for n in range(4)), encoding="utf-8")
    short = herald(tmp_path, "tags", "train", "--corpus", thin, "--config", config, code=2)
    assert "too little to learn from" in short.stderr and "Traceback" not in short.stderr
    nodev = tmp_path / "nodev.jsonl"
    nodev.write_text(thin.read_text(encoding="utf-8").replace('"dev"', '"train"'),
                     encoding="utf-8")
    assert "no dev split" in herald(tmp_path, "tags", "train", "--corpus", nodev,
                                    "--config", config, code=2).stderr


@pytest.mark.slow
def test_tags_eval_refuses_labels_the_taxonomy_does_not_know(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    for line, says in [({"kind": "webinar", "domains": []}, "kind 'webinar' is not one of"),
                       ({"kind": None, "domains": []}, "'kind' must be"),
                       ({"kind": "news", "domains": "learning-capacity"}, "'domains' must"),
                       ({"kind": "news", "domains": ["gossip"]}, "domain 'gossip'")]:
        bad.write_text(json.dumps({"id": "x", "title": "", "text": "t", **line}) + "\n",
                       encoding="utf-8")
        result = herald(tmp_path, "tags", "eval", bad, code=2)
        assert "bad.jsonl:1" in result.stderr and says in result.stderr, result.stderr
    bom = tmp_path / "bom.jsonl"
    bom.write_text("\ufeff" + json.dumps({"id": "x", "title": "Our office moves",
                                          "text": "The team moves in May.", "kind": "news",
                                          "domains": []}) + "\n", encoding="utf-8")
    shown = flat(herald(tmp_path, "tags", "eval", bom, "--using", "rules").stdout)
    assert "kind accuracy 1.000" in shown and "domain macro-F1 1.000" in shown
