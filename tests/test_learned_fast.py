"""The learned tagger's fast path against a straightforward reference.

``LearnedTagger.predict`` stems each distinct word once (remembered across texts), visits
only the features the model has weights for, and spells only the words that weigh in a
verdict. The reference below is the plain reading of the model: build every feature,
score them one by one, sort every push, spell every word. On every text of the labelled
corpus (and a few made to trip the shortcuts) both must give the same floats and the same
reasons, to the last bit and character.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from bot import bundled
from bot.pipeline import learned
from bot.pipeline.learned import (
    RULE_WEIGHT,
    STOP,
    TEXT_LIMIT,
    LearnedTagger,
    Prediction,
    Verdict,
    features,
    load_tagger,
    stem,
)
from bot.pipeline.tagging import load_taxonomy

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "announcements.jsonl"


def ref_features(title: str, text: str, fired: Iterable[str] = ()) -> dict[str, float]:
    words = learned._tokens(f"{title}\n{text[:TEXT_LIMIT]}")
    found = {stem(w) for w in words if w not in STOP and w != "<n>"}
    found.update(f"t:{stem(w)}" for w in learned._tokens(title)
                 if w not in STOP and w != "<n>")
    out = dict.fromkeys(sorted(found), 1.0 / math.sqrt(len(found))) if found else {}
    for rule in fired:
        out[f"rule:{rule}"] = RULE_WEIGHT
    return out


def _weighed(used: list[tuple[str, float, list[float]]], weight: Any) -> tuple[str, ...]:
    pushes = sorted(((weight(w) * value, name) for name, value, w in used), reverse=True)
    return tuple(name for push, name in pushes[:3] if push > 0)


def _spell(verdict: Verdict, words: list[str]) -> Verdict:
    """Each stem spelled as its first word in the text (every word looked at), then
    written as the tagger writes reasons."""
    spelled: dict[str, str] = {}
    for word in words:
        spelled.setdefault(stem(word), word)
    return Verdict(verdict.slug, verdict.probability, learned._spell(verdict.words, spelled))


def ref_predict(model: LearnedTagger, title: str, text: str,
                fired: Iterable[str] = ()) -> Prediction:
    words = learned._tokens(f"{title}\n{text[:TEXT_LIMIT]}")
    nk = len(model.kinds)
    width = nk + len(model.domains)
    totals = [*model.kind_bias, *model.domain_bias]
    used = []
    for name, value in ref_features(title, text, fired).items():
        w = model.weights.get(name)
        if w is not None:
            used.append((name, value, w))
            for j in range(width):
                totals[j] += w[j] * value
    top = max(totals[:nk])
    exps = [math.exp(s - top) for s in totals[:nk]]
    best = max(range(nk), key=lambda j: totals[j])
    kind = Verdict(model.kinds[best], exps[best] / sum(exps), _weighed(
        used, lambda w: w[best] - max((w[j] for j in range(nk) if j != best), default=0.0)))
    domains = []
    for d, slug in enumerate(model.domains):
        j = nk + d
        p = 1.0 / (1.0 + math.exp(-max(min(totals[j], 50.0), -50.0)))
        domains.append(Verdict(slug, p, _weighed(used, lambda w, j=j: w[j])))
    return Prediction(_spell(kind, words), tuple(_spell(d, words) for d in domains),
                      model.thresholds)


TRICKY = [
    ("", ""),
    ("Then", "thens then; the 2027 intake’s places. Programmes, programme, programming!"),
    ("Cohort 4 — apply", "x" * (TEXT_LIMIT - 3) + " coaching mentors"),
    ("Title’s end'\nsecond line", "'quoted' words, 12 34, don't, it’s, Ärzte straße"),
    ("Webinar", "Webinar webinar WEBINAR"),
]


def _texts() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [(r["title"], r["text"]) for r in rows] + TRICKY


@pytest.mark.parametrize("cold", [True, False])
def test_fast_predictions_and_reasons_equal_the_reference_on_the_corpus(cold: bool) -> None:
    if cold:
        learned._KNOWN.clear()
    model = load_tagger()
    rules = load_taxonomy(bundled.taxonomy())
    texts = _texts()
    assert len(texts) > 900
    for title, text in texts:
        fired = rules.fired(title, text)
        mine, ref = model.predict(title, text, fired), ref_predict(model, title, text, fired)
        assert repr(mine) == repr(ref), title
        assert [v.reason for v in (mine.kind, *mine.domains)] == [
            v.reason for v in (ref.kind, *ref.domains)]
        assert features(title, text, fired) == ref_features(title, text, fired)
        assert list(features(title, text, fired)) == list(ref_features(title, text, fired))


def test_the_stem_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(learned, "STEMS_KEPT", 5)
    learned._KNOWN.clear()
    model = load_tagger()
    title, text = "Coaching programmes", "mentors and coaches for the spring cohorts"
    assert repr(model.predict(title, text)) == repr(ref_predict(model, title, text))
    assert len(learned._KNOWN) == 5
    learned._KNOWN.clear()
