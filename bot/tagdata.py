"""Labelled announcements for the tagger: reading the corpus's format, and scoring a tagger
on it (accuracy of kinds, precision, recall and F1 of each domain, macro-F1, a confusion
matrix). Used by ``herald tags eval``, ``herald tags train`` and ``python -m bot.tagtrain``.

The format is JSON Lines, one announcement per line, as ``corpus/announcements.jsonl``
keeps it: ``id``, ``title``, ``text``, ``kind`` (one slug), ``domains`` (a list of slugs),
and optionally ``site``, ``source``, ``split`` (train, dev or test), ``published``,
``url``, ``group``. Lines that are not such an object are reported by line number.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.pipeline.tagging import Taxonomy

SPLITS = ("train", "dev", "test")
#: The corpus in a checkout of Herald (not installed with the package).
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "announcements.jsonl"


@dataclass(frozen=True)
class Example:
    id: str
    title: str
    text: str
    kind: str
    domains: frozenset[str]
    site: str = ""
    source: str = ""
    split: str = ""


def read_examples(path: Path, split: str | None = None, *, kinds: Sequence[str] = (),
                  domains: Sequence[str] = ()) -> list[Example]:
    """The labelled examples of a file (those of one split, if given). With ``kinds`` and
    ``domains``, a label that is not one of them is an error naming its line."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise ConfigError("the labelled file does not exist", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the labelled file: {exc}", file=str(path)) from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"line {n} is not JSON: {exc}", file=str(path)) from None
        if not isinstance(row, dict):
            raise ConfigError(f"line {n} is not a JSON object", file=str(path))
        missing = [k for k in ("id", "text", "kind", "domains") if k not in row]
        if missing:
            raise ConfigError(f"{where}: missing {missing[0]!r}", file=str(path))
        if not isinstance(row["kind"], str) or not row["kind"]:
            raise ConfigError(f"{where}: 'kind' must be one kind's name", file=str(path))
        if not isinstance(row["domains"], list) or not all(
                isinstance(d, str) for d in row["domains"]):
            raise ConfigError(f"{where}: 'domains' must be a list of names", file=str(path))
        if kinds and row["kind"] not in kinds:
            raise ConfigError(f"{where}: kind {row['kind']!r} is not one of: "
                              f"{', '.join(kinds)}", file=str(path))
        unknown = [d for d in row["domains"] if domains and d not in domains]
        if unknown:
            raise ConfigError(f"{where}: domain {unknown[0]!r} is not one of: "
                              f"{', '.join(domains)}", file=str(path))
        ex = Example(str(row["id"]), str(row.get("title") or ""), str(row["text"]),
                     row["kind"], frozenset(row["domains"]), str(row.get("site") or ""),
                     str(row.get("source") or ""), str(row.get("split") or ""))
        if split is None or ex.split == split:
            out.append(ex)
    return out


@dataclass
class Scores:
    """How a tagger did on some labelled examples."""

    items: int
    kinds: tuple[str, ...]
    domains: tuple[str, ...]
    kind_correct: int = 0
    #: (truth, given) → count
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: domain → [true positives, false positives, false negatives]
    counts: dict[str, list[int]] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.kind_correct / self.items if self.items else 0.0

    def domain_prf(self, slug: str) -> tuple[float, float, float]:
        tp, fp, fn = self.counts.get(slug, [0, 0, 0])
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    def counted(self) -> list[str]:
        """The domains macro-F1 averages: those the labels or the tagger give at least
        once (a domain nobody gives has no F1 to speak of)."""
        return [d for d in self.domains if any(self.counts.get(d, [0, 0, 0]))]

    @property
    def macro_f1(self) -> float:
        counted = self.counted()
        if not counted:
            return 1.0
        return sum(self.domain_prf(d)[2] for d in counted) / len(counted)

    def as_dict(self) -> dict[str, object]:
        return {"items": self.items, "kind_accuracy": round(self.accuracy, 4),
                "domain_macro_f1": round(self.macro_f1, 4),
                "domains": {d: dict(zip(("precision", "recall", "f1", "support"),
                                        (*map(lambda x: round(x, 4), self.domain_prf(d)),
                                         sum(self.counts[d][::2])), strict=True))
                            for d in self.domains},
                "confusion": {t: {g: self.confusion[(t, g)] for g in self.kinds}
                              for t in self.kinds}}

    def lines(self) -> list[str]:
        """The report as ``herald tags eval`` prints it."""
        left = [d for d in self.domains if d not in self.counted()]
        out = [f"{self.items} items", f"kind accuracy     {self.accuracy:.3f}",
               f"domain macro-F1   {self.macro_f1:.3f}"
               + (f" (not counted, given by nobody: {', '.join(left)})" if left else ""), "",
               f"{'domain':28} {'prec':>6} {'recall':>6} {'F1':>6} {'items':>6}"]
        for d in self.domains:
            p, r, f = self.domain_prf(d)
            tp, _fp, fn = self.counts[d]
            out.append(f"{d:28} {p:6.3f} {r:6.3f} {f:6.3f} {tp + fn:6d}")
        short = {k: k[:8] for k in self.kinds}
        out += ["", "kinds: rows are the labels, columns what the tagger gave",
                f"{'':16}" + "".join(f"{short[k]:>9}" for k in self.kinds)]
        for t in self.kinds:
            out.append(f"{t:16}" + "".join(f"{self.confusion[(t, g)]:9d}"
                                           for g in self.kinds))
        return out


Tagger = Callable[[str, str], tuple[str, Iterable[str]]]


def score(examples: Sequence[Example], tagger: Tagger, kinds: Sequence[str],
          domains: Sequence[str]) -> Scores:
    """Tag every example with ``tagger(title, text) -> (kind, domains)`` and count."""
    seen_kinds = list(kinds) + sorted({e.kind for e in examples} - set(kinds))
    result = Scores(len(examples), tuple(seen_kinds), tuple(domains),
                    counts={d: [0, 0, 0] for d in domains})
    for ex in examples:
        kind, given = tagger(ex.title, ex.text)
        given = set(given)
        if kind not in result.kinds:
            result.kinds = (*result.kinds, kind)
        result.confusion[(ex.kind, kind)] += 1
        result.kind_correct += kind == ex.kind
        if kind != ex.kind:
            result.wrong.append(f"{ex.id}: {ex.kind} → {kind}")
        for d in domains:
            c = result.counts[d]
            if d in given and d in ex.domains:
                c[0] += 1
            elif d in given:
                c[1] += 1
            elif d in ex.domains:
                c[2] += 1
    return result


def score_taxonomy(examples: Sequence[Example], taxonomy: Taxonomy) -> Scores:
    """:func:`score` of a taxonomy's tagging (its rules, and its model if it has one)."""
    def tag(title: str, text: str) -> tuple[str, list[str]]:
        result = taxonomy.tag(title, text)
        return result.kind, [t.slug for t in result.tags if t.group.value == "domain"]
    return score(examples, tag, taxonomy.slugs("kind"), taxonomy.slugs("domain"))
