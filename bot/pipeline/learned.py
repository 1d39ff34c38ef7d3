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

import heapq
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import add, mul
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


#: Tokens whose reading is remembered (token → word, stem, stem the model reads): about
#: 150 bytes each. The bench corpus of 40 feeds × 50 entries has 19,254 distinct tokens
#: (2.8 MB remembered), the labelled corpus 6,737; past this many, new tokens are read
#: each time (they are the rare ones), and memory stays under 5 MB whatever feeds say.
STEMS_KEPT = 32_768
_KNOWN: dict[str, tuple[str, str, str]] = {}
_SKIP = STOP | {"<n>"}


def _read(token: str) -> tuple[str, str, str]:
    """A token as ``_TOKEN`` finds it → the word (as :func:`_tokens` gives it), its stem,
    and the stem the model reads ("" for a stop word or a number); remembered."""
    known = _KNOWN.get(token)
    if known is None:
        word = "<n>" if token[0].isdigit() else token.replace("'", "")
        root = stem(word)
        known = (word, root, "" if word in _SKIP else root)
        if len(_KNOWN) < STEMS_KEPT:
            _KNOWN[token] = known
    return known


def _raw(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold().replace("’", "'"))


def _found(title: str, text: str) -> tuple[list[tuple[str, str, str]], set[str]]:
    """A text's distinct words, read (:func:`_read`), in the order they first appear (the
    title's first), and the stems the model sees of them: those of every word (not a stop
    word or a number), and the title's again marked ``t:``. Each distinct token is read
    once. (No token crosses the newline between title and text, so the tokens of both are
    those of each, one after the other.)"""
    known = _KNOWN
    head = [known.get(t) or _read(t) for t in dict.fromkeys(_raw(title))]
    seen = [known.get(t) or _read(t) for t in dict.fromkeys(_raw(text[:TEXT_LIMIT]))]
    found = {r[2] for r in seen}
    found.update([r[2] for r in head])
    found.update(["t:" + r[2] for r in head if r[2]])
    found.discard("")
    return head + seen, found


def features(title: str, text: str, fired: Iterable[str] = ()) -> dict[str, float]:
    """What the model sees of a title and text: the stem of each word (not a stop word or a
    number) of the whole, the title's stems again marked ``t:``, each present or not and
    scaled so that the words of one text have unit length; and each tag rule that fired
    (``rule:kind:event``), given as ``"group:slug"``, at :data:`RULE_WEIGHT`."""
    found = _found(title, text)[1]
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
        self._names = frozenset(self.weights)
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
        """The model's verdicts; ``fired``: the tag rules that fired (``"group:slug"``).

        The same arithmetic, in the same order, as scoring :func:`features` feature by
        feature in its order (so the same floats to the last bit), without building it:
        only the features the model has weights for are visited."""
        words, found = _found(title, text)
        weights = self.weights
        nk = len(self.kinds)
        totals = [*self.kind_bias, *self.domain_bias]
        used: list[tuple[str, float, list[float]]] = []
        if found:
            value = 1.0 / math.sqrt(len(found))
            for name in sorted(found & self._names):
                w = weights[name]
                used.append((name, value, w))
                totals = list(map(add, totals, map(mul, w, repeat(value))))
        for rule in dict.fromkeys(fired):
            name = f"rule:{rule}"
            rw = weights.get(name)
            if rw is not None:
                used.append((name, RULE_WEIGHT, rw))
                totals = list(map(add, totals, map(mul, rw, repeat(RULE_WEIGHT))))
        top = max(totals[:nk])
        exps = [math.exp(s - top) for s in totals[:nk]]
        best = max(range(nk), key=lambda j: totals[j])
        if nk > 1:
            kind_push = [((w[best] - max(w[:best] + w[best + 1:nk])) * value, name)
                         for name, value, w in used]
        else:
            kind_push = [((w[best] - 0.0) * value, name) for name, value, w in used]
        verdicts = [(self.kinds[best], exps[best] / sum(exps), _top(kind_push))]
        for d, slug in enumerate(self.domains):
            j = nk + d
            p = 1.0 / (1.0 + math.exp(-max(min(totals[j], 50.0), -50.0)))
            verdicts.append((slug, p, _top([(w[j] * value, name) for name, value, w in used])))
        spelled = _spelled(words, {n.removeprefix("t:") for _, _, names in verdicts
                                   for n in names if not n.startswith("rule:")})
        kind, *domains = (Verdict(slug, p, _spell(names, spelled))
                          for slug, p, names in verdicts)
        return Prediction(kind, tuple(domains), self.thresholds)


def _spelled(words: list[tuple[str, str, str]], wanted: set[str]) -> dict[str, str]:
    """Each wanted stem → the word of the text that first spells it (``words``: as
    :func:`_found` gives them)."""
    out: dict[str, str] = {}
    if wanted:
        for word, root, _ in words:
            if root in wanted and root not in out:
                out[root] = word
                if len(out) == len(wanted):
                    break
    return out


def _spell(names: tuple[str, ...], words: dict[str, str]) -> tuple[str, ...]:
    """What weighed, as a person reads it: words as the text spells them, rules by name."""
    shown: list[str] = []
    for name in names:
        if name.startswith("rule:"):
            shown.append(f"the {name.split(':')[2]} rule")
        else:
            base = name.removeprefix("t:")
            said = f"'{words.get(base, base)}'"
            if said not in shown:
                shown.append(said)
    return tuple(shown)


def _top(pushes: list[tuple[float, str]], n: int = 3) -> tuple[str, ...]:
    """The ``n`` present features that pushed hardest towards a verdict (pushes are
    ``(push, name)``, names distinct: the same as sorting them all, largest first)."""
    return tuple(name for push, name in heapq.nlargest(n, pushes) if push > 0)


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
