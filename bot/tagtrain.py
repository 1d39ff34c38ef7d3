"""Fitting the learned tagger (a development step, and ``herald tags train``).

scikit-learn fits one multinomial logistic model for the kind and one logistic model per
domain over :func:`bot.pipeline.learned.features`; the weights are written as JSON, which
the worker applies in pure Python. The shipped weights (``bot/pipeline/tagger.json``) are
rebuilt from the corpus's train split by::

    python -m bot.tagtrain

and a test checks that the file equals a fresh build. The dev split chooses nothing
automatically: the settings below were chosen on it once and are fixed here; the test split
is never read by this module.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.pipeline.learned import BUNDLED, FORMAT, features
from bot.pipeline.tagging import Taxonomy
from bot.tagdata import CORPUS, read_examples

#: Inverse regularisation strength of the kind and the domain models (chosen on dev).
KIND_C = 1.0
DOMAIN_C = 1.0
#: A domain is given from this probability (the models weigh classes as balanced).
THRESHOLD = 0.5
#: Weights smaller than this for every tag are left out of the file.
PRUNE = 0.005
DIGITS = 4
#: A comms fix counts as this many corpus examples: it is a person's verdict on this
#: academy's own text.
FIX_WEIGHT = 3.0
BUNDLED_PATH = Path(__file__).resolve().parent / "pipeline" / BUNDLED


@dataclass(frozen=True)
class Labelled:
    """One training text; ``kind`` or ``domains`` is None where it was not labelled."""

    key: str
    title: str
    text: str
    kind: str | None
    domains: frozenset[str] | None
    weight: float = 1.0


def fit(examples: Sequence[Labelled], taxonomy: Taxonomy) -> dict[str, Any]:
    """The weights file's content for these examples; the taxonomy's rules are features
    (which fired on each text), its kinds and domains the classes."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    kinds, domains = taxonomy.slugs("kind"), taxonomy.slugs("domain")
    rows = sorted(examples, key=lambda e: e.key)
    vec = DictVectorizer(sort=True)
    matrix = vec.fit_transform([features(e.title, e.text, taxonomy.fired(e.title, e.text))
                                for e in rows])
    names = list(vec.get_feature_names_out())
    columns: list[list[float]] = []
    with_kind = [n for n, e in enumerate(rows) if e.kind is not None]
    kind_model = LogisticRegression(C=KIND_C, max_iter=5000, class_weight="balanced")
    kind_model.fit(matrix[with_kind], [rows[n].kind for n in with_kind],
                   sample_weight=[rows[n].weight for n in with_kind])
    classes = [str(c) for c in kind_model.classes_]
    order = [k for k in kinds if k in classes] + [k for k in classes if k not in kinds]
    coef, intercept = kind_model.coef_, kind_model.intercept_
    if len(classes) == 2:
        # Two kinds: scikit-learn keeps one row (for the second); half of it each way
        # gives the same probabilities through a softmax.
        coef = [-coef[0] / 2, coef[0] / 2]
        intercept = [-intercept[0] / 2, intercept[0] / 2]
    for k in order:
        columns.append(list(coef[classes.index(k)]))
    kind_bias = [float(intercept[classes.index(k)]) for k in order]
    domain_bias = []
    with_domains = [n for n, e in enumerate(rows) if e.domains is not None]
    for d in domains:
        labels = [d in (rows[n].domains or ()) for n in with_domains]
        if not any(labels) or all(labels):
            columns.append([0.0] * len(names))
            domain_bias.append(-20.0 if not any(labels) else 20.0)
            continue
        model = LogisticRegression(C=DOMAIN_C, max_iter=5000, class_weight="balanced")
        model.fit(matrix[with_domains], labels,
                  sample_weight=[rows[n].weight for n in with_domains])
        columns.append(list(model.coef_[0]))
        domain_bias.append(float(model.intercept_[0]))
    weights: dict[str, list[float]] = {}
    for f, name in enumerate(names):
        w = [round(float(col[f]), DIGITS) for col in columns]
        if max(abs(x) for x in w) >= PRUNE:
            weights[name] = w
    digest = hashlib.sha256("\n".join(
        f"{e.key}\t{e.kind}\t{sorted(e.domains or ())}\t{e.weight}" for e in rows
    ).encode()).hexdigest()[:16]
    return {
        "format": FORMAT,
        "trained_on": {"examples": len(rows), "fixes": sum(e.weight != 1.0 for e in rows),
                       "labels_sha256": digest, "kind_c": KIND_C, "domain_c": DOMAIN_C},
        "kind": {"classes": order, "bias": [round(b, DIGITS) for b in kind_bias]},
        "domain": {"classes": list(domains), "bias": [round(b, DIGITS) for b in domain_bias],
                   "threshold": [THRESHOLD] * len(domains)},
        "weights": weights,
    }


def dumps(model: dict[str, Any]) -> str:
    """The weights file's text: stable, one feature a line, so a diff can be read."""
    head = {k: v for k, v in model.items() if k != "weights"}
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "weights": {']
    items = sorted(model["weights"].items())
    for n, (name, w) in enumerate(items):
        lines.append(f"{json.dumps(name)}: {json.dumps(w)}" + ("," if n + 1 < len(items)
                                                                 else ""))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def corpus_examples(path: Path, split: str = "train") -> list[Labelled]:
    return [Labelled(e.id, e.title, e.text, e.kind, e.domains)
            for e in read_examples(path, split)]


def build(corpus: Path = CORPUS) -> dict[str, Any]:
    """The shipped weights: the corpus's train split, nothing else."""
    from bot.config import DEFAULT_TAXONOMY
    from bot.pipeline.tagging import load_taxonomy

    return fit(corpus_examples(corpus), load_taxonomy(DEFAULT_TAXONOMY))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.tagtrain", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=BUNDLED_PATH)
    args = parser.parse_args(argv)
    model = build(args.corpus)
    args.out.write_text(dumps(model), encoding="utf-8")
    print(f"wrote {args.out}: {len(model['weights'])} features from "
          f"{model['trained_on']['examples']} examples", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
