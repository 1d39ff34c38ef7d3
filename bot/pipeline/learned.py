"""The learned tagger: a linear model over words and word pairs, applied in pure Python.

``python -m bot.tagtrain`` fits it with scikit-learn on the labelled corpus (and comms' tag
fixes) and writes a small JSON weights file; this module reads that file and scores a text
with nothing heavier than ``re`` and ``math``, so the worker never imports scikit-learn.
:func:`features` is the one definition of what the model sees: training calls it too.

A text gets one kind (softmax over the kinds) and every domain whose own probability
(a logistic model per domain) reaches that domain's threshold. Each verdict keeps the words
that weighed most for it, so a person can read why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

#: The weights shipped with Herald, built from the corpus's train split.
BUNDLED = "tagger.json"
FORMAT = 1
#: Characters of text read: an announcement says what it is early.
TEXT_LIMIT = 3000
_TOKEN = re.compile(r"[a-z][a-z'’]*[a-z]|[a-z]|\d+")
_NUMBER = re.compile(r"\d+")
#: Words too common to say anything alone; they still make word pairs ("apply now").
STOP = frozenset("""
a an and are as at be been by for from has have i if in into is it its of on or our so that
the their them there these they this to was we were what when which who will with you your
us can all any more not but about also up out do just may than then who how
""".split())


#: Endings taken off a word, longest first, so that "programmes", "programme" and
#: "programming" weigh together; a stem keeps at least four letters.
_ENDINGS = ("ations", "ments", "ation", "ities", "ings", "ment", "ing", "ity", "ies", "ers",
            "er", "ed", "ly", "s")
#: How much a rule that fired weighs against the words (each word weighs 1 before scaling).
RULE_WEIGHT = 0.3


def _tokens(text: str) -> list[str]:
    words = _TOKEN.findall(text.casefold().replace("’", "'"))
    return ["<n>" if w[0].isdigit() else w.replace("'", "") for w in words]


def stem(word: str) -> str:
    """A crude, fixed suffix-stripper: enough to join a word's common forms."""
    for ending in _ENDINGS:
        if len(word) - len(ending) >= 4 and word.endswith(ending):
            return word[:-len(ending)]
    return word


def _words(title: str, text: str) -> list[str]:
    """The tokens of a title and the start of its text, as the model reads them."""
    return _tokens(f"{title}\n{text[:TEXT_LIMIT]}")


def features(title: str, text: str, fired: Iterable[str] = (),
             words: list[str] | None = None) -> dict[str, float]:
    """What the model sees of a title and text: the stem of each word (not a stop word or a
    number) of the whole, the title's stems again marked ``t:``, each present or not and
    scaled so that the words of one text have unit length; and each tag rule that fired
    (``rule:kind:event``), given as ``"group:slug"``, at :data:`RULE_WEIGHT`. ``words``:
    ``_words(title, text)``, when the caller has them already."""
    found = {stem(w) for w in (words if words is not None else _words(title, text))
             if w not in STOP and w != "<n>"}
    found.update(f"t:{stem(w)}" for w in _tokens(title) if w not in STOP and w != "<n>")
    out = dict.fromkeys(sorted(found), 1.0 / math.sqrt(len(found))) if found else {}
    for rule in fired:
        out[f"rule:{rule}"] = RULE_WEIGHT
    return out


@dataclass(frozen=True)
class Verdict:
    """One tag the model gives, how sure it is, and what weighed most for it, as a person
    reads it: words as the text spells them ("'cohort'"), rules by name."""

    slug: str
    probability: float
    words: tuple[str, ...]

    @property
    def reason(self) -> str:
        said = ", ".join(self.words) or "no single word"
        return f"model: {said} (p {self.probability:.2f})"


def _finite(x: object) -> bool:
    return (isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            and abs(x) <= MAX_WEIGHT)


@dataclass(frozen=True)
class Prediction:
    kind: Verdict
    #: Every domain with its probability, given or not, in the model's order.
    domains: tuple[Verdict, ...]
    thresholds: tuple[float, ...]

    def given_domains(self) -> list[Verdict]:
        return [v for v, t in zip(self.domains, self.thresholds, strict=True)
                if v.probability >= t]


class LearnedTagger:
    """Weights read from a file: per feature, one weight per kind then one per domain."""

    def __init__(self, data: Mapping[str, Any], origin: str = "") -> None:
        if data.get("format") != FORMAT:
            raise ConfigError(f"not a Herald tagger weights file (format {FORMAT})",
                              file=origin or None)
        self.origin = origin
        self.kinds: tuple[str, ...] = tuple(data["kind"]["classes"])
        self.kind_bias: tuple[float, ...] = tuple(data["kind"]["bias"])
        self.domains: tuple[str, ...] = tuple(data["domain"]["classes"])
        self.domain_bias: tuple[float, ...] = tuple(data["domain"]["bias"])
        self.thresholds: tuple[float, ...] = tuple(data["domain"]["threshold"])
        self.weights: dict[str, list[float]] = data["weights"]
        self.trained_on: dict[str, Any] = dict(data.get("trained_on", {}))
        width = len(self.kinds) + len(self.domains)
        problem = None
        if not self.kinds:
            problem = "no kinds"
        elif not self.weights:
            problem = "no weights"
        elif len(self.kind_bias) != len(self.kinds) or len(self.domain_bias) != len(
                self.domains) or len(self.thresholds) != len(self.domains):
            problem = "each kind and domain needs one bias (and each domain a threshold)"
        elif any(not isinstance(w, list) or len(w) != width for w in self.weights.values()):
            problem = "every feature needs one weight per kind and per domain"
        elif not all(_finite(x) for x in (*self.kind_bias, *self.domain_bias,
                                          *self.thresholds)) or not all(
                _finite(x) for w in self.weights.values() for x in w):
            problem = (f"every weight, bias and threshold must be a number within "
                       f"±{MAX_WEIGHT:g}")
        if problem:
            raise ConfigError(f"weights file: {problem}", file=origin or None)

    def predict(self, title: str, text: str, fired: Iterable[str] = ()) -> Prediction:
        """The model's verdicts; ``fired``: the tag rules that fired (``"group:slug"``)."""
        words = _words(title, text)
        feats = features(title, text, fired, words)
        nk = len(self.kinds)
        width = nk + len(self.domains)
        totals = [*self.kind_bias, *self.domain_bias]
        used: list[tuple[str, float, list[float]]] = []
        for name, value in feats.items():
            w = self.weights.get(name)
            if w is not None:
                used.append((name, value, w))
                for j in range(width):
                    totals[j] += w[j] * value
        top = max(totals[:nk])
        exps = [math.exp(s - top) for s in totals[:nk]]
        best = max(range(nk), key=lambda j: totals[j])
        kind = Verdict(self.kinds[best], exps[best] / sum(exps),
                       _weighed(used, lambda w, b=best: w[b] - max(
                           (w[j] for j in range(nk) if j != b), default=0.0)))
        domains = []
        for d, slug in enumerate(self.domains):
            j = nk + d
            p = 1.0 / (1.0 + math.exp(-max(min(totals[j], 50.0), -50.0)))
            domains.append(Verdict(slug, p, _weighed(used, lambda w, j=j: w[j])))
        spelled = _spelled(words)
        return Prediction(_spell(kind, spelled), tuple(_spell(d, spelled) for d in domains),
                          self.thresholds)


def _spelled(words: list[str]) -> dict[str, str]:
    """Each stem of a text's words → the word the text first spells it with."""
    out: dict[str, str] = {}
    for word in words:
        out.setdefault(stem(word), word)
    return out


def _spell(verdict: Verdict, words: dict[str, str]) -> Verdict:
    shown = []
    for name in verdict.words:
        if name.startswith("rule:"):
            shown.append(f"the {name.split(':')[2]} rule")
        else:
            base = name.removeprefix("t:")
            said = f"'{words.get(base, base)}'"
            if said not in shown:
                shown.append(said)
    return Verdict(verdict.slug, verdict.probability, tuple(shown))


def _weighed(used: list[tuple[str, float, list[float]]], weight: Any, n: int = 3
             ) -> tuple[str, ...]:
    """The ``n`` present features that pushed hardest towards a verdict."""
    pushes = sorted(((weight(w) * value, name) for name, value, w in used), reverse=True)
    return tuple(name for push, name in pushes[:n] if push > 0)


#: A weights file larger than this is refused unread (the bundled one is ~0.5 MB).
MAX_BYTES = 20_000_000
#: No weight, bias or threshold is this large in a real model; larger ones overflow.
MAX_WEIGHT = 1000.0


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> LearnedTagger:
    file = Path(path)
    try:
        if not file.is_file():
            raise ConfigError("the tagger weights are not a file", key="tagging.model",
                              file=path)
        if file.stat().st_size > MAX_BYTES:
            raise ConfigError(f"the tagger weights file is over {MAX_BYTES:,} bytes",
                              key="tagging.model", file=path)
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("the tagger weights file does not exist", key="tagging.model",
                          file=path) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read the tagger weights: {str(exc)[:200]}",
                          key="tagging.model", file=path) from None
    if not isinstance(data, dict):
        raise ConfigError("the tagger weights file must hold a JSON object",
                          key="tagging.model", file=path)
    try:
        return LearnedTagger(data, origin=path)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"weights file is missing or misshapes {exc}", key="tagging.model",
                          file=path) from None


def load_tagger(path: Path | None = None) -> LearnedTagger:
    """Read a weights file (cached until it changes); ``None``: the bundled weights."""
    if path is None:
        path = Path(str(resources.files("bot.pipeline").joinpath(BUNDLED)))
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise ConfigError("the tagger weights file does not exist", key="tagging.model",
                          file=str(path)) from None
    return _load(str(path), mtime)
