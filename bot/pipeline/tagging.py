"""Rule-based tagging from a taxonomy file (the bundled ``bot/data/taxonomy.toml``, or a copy).

A taxonomy is a list of tags, each in a group (``domain``, ``kind`` or
``programme``) with weighted rules. A rule's ``match`` list holds terms:

* ``"coaching"`` or ``"quality improvement"`` — a word or phrase, whole words,
  any case; a space or hyphen in the term matches spaces or hyphens in the text,
  and a phrase also matches its hashtag spelling (``#QualityImprovement``);
* ``"coach*"`` — a trailing ``*`` lets a word take any ending (coach, coaches, coaching);
* ``"#SeacoleProg"`` — a hashtag, as a hashtag only;
* ``"/regex/"`` — a Python regular expression, any case.

A tag's score is the sum of the weights of the distinct terms found in the
story's title and text; a tag is given when its score reaches ``min_score``
(default 1). Negative weights count against. Every domain and programme that
scores is given; exactly one kind is given: the first kind in file order that
scores, else the kind marked ``fallback = true``. Each tag keeps its reason: the
words that matched and what they scored.
"""

from __future__ import annotations

import re
import threading
import tomllib
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from bot.model import Tag, TagGroup
from bot.pipeline._needles import NeedleSet, regex_needles, regex_needs_digit

if TYPE_CHECKING:
    from bot.pipeline.learned import LearnedTagger

GROUPS = tuple(g.value for g in TagGroup)
#: Text beyond this many characters is not read for tags: an announcement says what it is
#: early, and long pages (a whole report in a feed) only add noise and time.
TEXT_LIMIT = 6000
_GAP = r"(?:[^\S\n]|-)+"  # spaces or hyphens within a line: phrases do not cross lines
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Term:
    """One compiled term of a rule. ``needles`` are casefolded pieces of text, one of which
    every match contains: checked first, because a substring test is far cheaper than the
    regex. Empty: no such pieces are known, and the regex always runs."""

    source: str
    pattern: re.Pattern[str]
    weight: float
    needles: tuple[str, ...] = ()
    #: A word or phrase term (not a /regex/): its matches never cross a line.
    one_line: bool = False
    #: A one-line term written in ASCII: in a line of ASCII text, a match holds the needle
    #: (casefolding and the regex's any-case agree there), so only lines holding the needle,
    #: and lines that are not ASCII, need to be searched.
    by_line: bool = field(init=False, default=False)
    #: A /regex/ term every match of which holds a decimal digit: a text without one has no
    #: match, and is not searched.
    needs_digit: bool = field(init=False, default=False)
    #: A ``by_line`` term of one word (``coach*``, ``wellbeing``): in ASCII text each match
    #: starts where its needle appears, or just before it (a ``#``).
    one_word: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_line", self.one_line and bool(self.needles)
                           and self.source.isascii() and "\n" not in self.source)
        object.__setattr__(self, "one_word", self.by_line
                           and re.fullmatch(r"[^\s\-#]+", self.source) is not None)
        object.__setattr__(self, "needs_digit", not self.one_line and len(self.source) > 2
                           and self.source.startswith("/") and self.source.endswith("/")
                           and regex_needs_digit(self.source[1:-1]))


def needle_of(term: str) -> str | None:
    """The longest literal casefolded word every match of a (non-regex) term contains."""
    if len(term) > 2 and term.startswith("/") and term.endswith("/"):
        return None
    words = [w.rstrip("*").casefold() for w in re.split(r"[\s\-#]+", term)
             if w.rstrip("*")]
    return max(words, key=len) if words else None


@dataclass(frozen=True)
class TagRule:
    group: TagGroup
    slug: str
    label: str
    terms: tuple[Term, ...]
    min_score: float = 1.0
    fallback: bool = False
    #: With the learned model on, this tag is given whenever its rule fires (a kind: the
    #: first decisive kind that fires), whatever the model says.
    decisive: bool = False


@dataclass(frozen=True)
class TagResult:
    """The tags a text earns, and its one kind."""

    tags: tuple[Tag, ...]
    kind: str


def compile_term(term: str) -> re.Pattern[str]:
    """Turn one taxonomy term into a case-insensitive regex."""
    if len(term) > 2 and term.startswith("/") and term.endswith("/"):
        return re.compile(term[1:-1], re.IGNORECASE)
    if term.startswith("#"):
        return re.compile(r"(?<![\w#])#" + re.escape(term[1:]) + r"(?!\w)", re.IGNORECASE)
    words = re.split(r"[\s\-]+", term.strip())
    if not words or not words[0]:
        raise ValueError("empty term")
    parts = [re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "") for w in words]
    alternatives = [_GAP.join(parts)]
    if len(words) > 1:
        # A phrase also matches its hashtag spelling: "Nye Bevan" ~ #NyeBevan.
        alternatives.append("#" + "".join(parts))
    return re.compile(r"(?<![\w#])#?(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


#: Texts whose reading (found needles, rule scores) a taxonomy keeps: ingest asks for an
#: item's programmes, then tags the story it makes with the same text, a feed's worth later.
TEXTS_KEPT = 128
#: Appearances of a one-word term's needle tried one by one before searching the rest.
_WORD_TRIES = 8


class _Text:
    """One title and text as the rules read them: the haystack, its casefolded form, the
    needles it contains, and each rule's score once it has been asked for."""

    __slots__ = ("_digit", "_lines", "aligned", "ascii", "haystack", "lowered", "present",
                 "scores")

    def __init__(self, haystack: str, needles: NeedleSet) -> None:
        self.haystack = haystack
        self.lowered = haystack.casefold()
        self.aligned = len(self.lowered) == len(haystack)  # casefolding kept every position
        self.ascii = haystack.isascii()
        self.present = needles.found_in(self.lowered)
        self.scores: dict[int, tuple[float, list[str]]] = {}
        self._lines: tuple[list[int], list[int]] | None = None
        self._digit: bool | None = None

    @property
    def has_digit(self) -> bool:
        if self._digit is None:
            self._digit = _DIGIT.search(self.haystack) is not None
        return self._digit

    def _line_index(self) -> tuple[list[int], list[int]]:
        """Where each line starts, and which lines are not ASCII."""
        if self._lines is None:
            lines = self.haystack.split("\n")
            starts, at = [], 0
            for line in lines:
                starts.append(at)
                at += len(line) + 1
            self._lines = starts, [n for n, line in enumerate(lines) if not line.isascii()]
        return self._lines

    def search_word(self, term: Term) -> re.Match[str] | None:
        """``term.pattern.search(haystack)`` for a ``one_word`` term in an ASCII text, tried
        only where a match can start: at each appearance of the needle, or just before it
        when that is a ``#``. Past a few appearances, the rest is searched at once."""
        needle, haystack, pattern = term.needles[0], self.haystack, term.pattern
        at = self.lowered.find(needle)
        for _ in range(_WORD_TRIES):
            if at < 0:
                return None
            if at and haystack[at - 1] == "#":
                match = pattern.match(haystack, at - 1)
                if match:
                    return match
            match = pattern.match(haystack, at)
            if match:
                return match
            at = self.lowered.find(needle, at + 1)
        return pattern.search(haystack, max(at - 1, 0)) if at >= 0 else None

    def search_lines(self, term: Term) -> re.Match[str] | None:
        """``term.pattern.search(haystack, start)`` from the start of the line of the needle's
        first appearance, for a ``by_line`` term (the haystack aligned), reading only the
        lines where a match can be: those holding the needle, and those not in ASCII."""
        needle, haystack, lowered = term.needles[0], self.haystack, self.lowered
        starts, wide = self._line_index()
        count = len(starts)
        line = bisect_right(starts, lowered.find(needle)) - 1
        while True:
            end = starts[line + 1] - 1 if line + 1 < count else len(haystack)
            match = term.pattern.search(haystack, starts[line], end)
            if match:
                return match
            again = lowered.find(needle, end)
            following = bisect_right(starts, again) - 1 if again >= 0 else count
            k = bisect_right(wide, line)
            line = min(following, wide[k] if k < len(wide) else count)
            if line >= count:
                return None


class Taxonomy:
    """The tag rules, in file order, and the learned model beside them (if any)."""

    #: How the rules' and the model's verdicts combine (see :meth:`tag`): "combined" (as
    #: the worker tags), "rules" (the model ignored) or "model" (decisive rules ignored).
    policy = "combined"

    def __init__(self, rules: list[TagRule], model: LearnedTagger | None = None) -> None:
        self.model = model
        self.rules = tuple(rules)
        kinds = [r for r in rules if r.group is TagGroup.KIND]
        fallbacks = [r for r in kinds if r.fallback]
        self.fallback_kind = fallbacks[0].slug if fallbacks else "news"
        self._common_memo: dict[str, bool] = {}
        self._texts: OrderedDict[str, _Text] = OrderedDict()
        self._texts_lock = threading.Lock()

    @cached_property
    def _needles(self) -> NeedleSet:
        return NeedleSet(n for rule in self.rules for term in rule.terms for n in term.needles)

    @cached_property
    def _common(self) -> tuple[frozenset[str], tuple[str, ...]]:
        words: set[str] = set()
        stems: set[str] = set()
        for rule in self.rules:
            for term in rule.terms:
                if term.source.startswith("/") or term.source.startswith("#"):
                    continue
                for word in re.split(r"[\s\-]+", term.source.casefold()):
                    if word.endswith("*"):
                        if len(word) > 4:
                            stems.add(word[:-1])
                    elif word:
                        words.add(word)
        return frozenset(words), tuple(sorted(stems))

    def is_common(self, word: str) -> bool:
        """True for a word (lowercase) that the taxonomy's terms use: a word many
        announcements share, so it tells little about which announcement a text is."""
        known = self._common_memo.get(word)
        if known is None:
            words, stems = self._common
            known = word in words or word.startswith(stems)
            if len(self._common_memo) < 200_000:
                self._common_memo[word] = known
        return known

    def with_model(self, model: LearnedTagger | None) -> Taxonomy:
        """The same rules, with ``model`` beside them (``None``: rules only)."""
        return Taxonomy(list(self.rules), model)

    def slugs(self, group: str) -> list[str]:
        return list(self._slugs.get(group, ()))

    @cached_property
    def _slugs(self) -> dict[str, tuple[str, ...]]:
        """Each group's slugs, in file order (the rules never change)."""
        out: dict[str, list[str]] = {}
        for rule in self.rules:
            out.setdefault(rule.group.value, []).append(rule.slug)
        return {group: tuple(slugs) for group, slugs in out.items()}

    def label(self, slug: str) -> str:
        for rule in self.rules:
            if rule.slug == slug:
                return rule.label
        return slug

    def _read(self, title: str, text: str) -> _Text:
        """The text as the rules read it; the last few are kept, so that tagging a text
        whose programmes were just asked for does not read it again."""
        haystack = f"{title}\n\n{text[:TEXT_LIMIT]}"
        with self._texts_lock:
            known = self._texts.get(haystack)
            if known is not None:
                self._texts.move_to_end(haystack)
                return known
        read = _Text(haystack, self._needles)
        with self._texts_lock:
            self._texts[haystack] = read
            if len(self._texts) > TEXTS_KEPT:
                self._texts.popitem(last=False)
        return read

    @staticmethod
    def _scored(index: int, rule: TagRule, read: _Text) -> tuple[float, list[str]]:
        known = read.scores.get(index)
        if known is None:
            known = read.scores[index] = _score(rule, read)
        return known

    def tag(self, title: str, text: str) -> TagResult:
        """Score a story's title and text against every rule, and the model if there is one.

        Programmes come from the rules alone (they are names). With a model, the model
        gives the kind and the domains, reading the words and which rules fired; a rule
        marked ``decisive`` that fires wins anyway. Each tag's reason names the rule's
        words, the model's words, or both."""
        read = self._read(title, text)
        tags: list[Tag] = []
        kinds: list[Tag] = []
        fired: list[str] = []
        for index, rule in enumerate(self.rules):
            score, found = self._scored(index, rule, read)
            if score < rule.min_score or not found:
                continue
            fired.append(f"{rule.group.value}:{rule.slug}")
            reason = ", ".join(found) + f" (score {score:g})"
            tag = Tag(rule.group, rule.slug, reason)
            (kinds if rule.group is TagGroup.KIND else tags).append(tag)
        kind = kinds[0] if kinds else None
        if self.model is not None and self.policy != "rules":
            kind, tags = self._with_model(title, text, fired, kinds, tags)
        if kind is None:
            kind = Tag(TagGroup.KIND, self.fallback_kind, "no kind rule matched")
        return TagResult(tags=(kind, *tags), kind=kind.slug)

    def fired(self, title: str, text: str) -> list[str]:
        """Every rule that fires on a text, as ``"group:slug"`` (what the model reads of
        the rules)."""
        read = self._read(title, text)
        return [f"{rule.group.value}:{rule.slug}" for index, rule in enumerate(self.rules)
                if (s := self._scored(index, rule, read))[1] and s[0] >= rule.min_score]

    def _with_model(self, title: str, text: str, fired: list[str], kinds: list[Tag],
                    tags: list[Tag]) -> tuple[Tag | None, list[Tag]]:
        """The model decides the kind and the domains, having read which rules fired; a
        ``decisive`` rule that fired still wins (comms' way to say "always")."""
        assert self.model is not None
        guess = self.model.predict(title, text, fired)
        decisive = {r.slug for r in self.rules if r.decisive and f"{r.group.value}:{r.slug}"
                    in fired}
        kind = kinds[0] if kinds else None
        sure = next((k for k in kinds if k.slug in decisive), None)
        if sure is not None and self.policy != "model":
            kind = sure
        elif guess.kind.slug in self._slugs.get("kind", ()):
            kind = next((k for k in kinds if k.slug == guess.kind.slug), None)
            reason = guess.kind.reason if kind is None else f"{kind.reason}; {guess.kind.reason}"
            kind = Tag(TagGroup.KIND, guess.kind.slug, reason)
        by_rules = {t.slug: t for t in tags if t.group is TagGroup.DOMAIN}
        domains = {s: t for s, t in by_rules.items()
                   if self.policy != "model" and s in decisive}
        domain_slugs = self._slugs.get("domain", ())
        for verdict in guess.given_domains():
            if verdict.slug in domain_slugs:
                rule = by_rules.get(verdict.slug)
                domains[verdict.slug] = Tag(TagGroup.DOMAIN, verdict.slug, (
                    f"{rule.reason}; {verdict.reason}" if rule else verdict.reason))
        others = [t for t in tags if t.group is not TagGroup.DOMAIN]
        return kind, [domains[s] for s in domain_slugs if s in domains] + others

    def matching(self, group: TagGroup, title: str, text: str) -> list[str]:
        """The slugs of one group's tags that a text earns (no kind fallback, no reasons)."""
        read = self._read(title, text)
        found = []
        for index, rule in enumerate(self.rules):
            if rule.group is group:
                score, words = self._scored(index, rule, read)
                if words and score >= rule.min_score:
                    found.append(rule.slug)
        return found


def _score(rule: TagRule, read: _Text) -> tuple[float, list[str]]:
    """Sum the weights of the terms found; words already counted by one term of this tag
    do not count again for another (so "coach*" and "coaching support" score once)."""
    score = 0.0
    found: list[str] = []
    taken: list[tuple[int, int]] = []
    haystack, present = read.haystack, read.present
    for term in rule.terms:
        needles = term.needles
        if term.one_line and read.aligned:
            if needles[0] not in present:
                continue
            if term.one_word and read.ascii:
                match = read.search_word(term)
            elif term.by_line:
                match = read.search_lines(term)
            else:
                # Every match holds the needle and stays on one line, so the first match is
                # on the line of the needle's first appearance, or after it.
                at = read.lowered.find(needles[0])
                match = term.pattern.search(haystack, haystack.rfind("\n", 0, at) + 1)
        else:
            if needles and not (needles[0] in present if len(needles) == 1
                                else any(n in present for n in needles)):
                continue
            if term.needs_digit and not read.has_digit:
                continue
            match = term.pattern.search(haystack)
        if match and term.weight > 0 and taken and any(
                match.start() < e and s < match.end() for s, e in taken):
            # The first match overlaps words counted already: the first one that does not.
            match = next((m for m in term.pattern.finditer(haystack)
                          if not any(m.start() < e and s < m.end() for s, e in taken)), None)
        if match:
            if term.weight > 0:
                taken.append(match.span())
            score += term.weight
            words = " ".join(match.group(0).split())
            found.append(f"'{words}'" + (f" ({term.weight:+g})" if term.weight != 1 else ""))
    return score, found


def parse_taxonomy(data: dict[str, Any], file: str = "taxonomy.toml") -> Taxonomy:
    """Build a Taxonomy from parsed TOML, with errors naming the tag and key."""
    unknown = set(data) - {"tag"}
    if unknown:
        raise ConfigError("unknown key; allowed: tag", key=sorted(unknown)[0], file=file)
    entries = data.get("tag")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("a taxonomy needs [[tag]] entries", key="tag", file=file)
    rules: list[TagRule] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(entries):
        where = f"tag[{i}]" + (f" ({entry.get('slug')})" if isinstance(entry, dict) else "")
        if not isinstance(entry, dict):
            raise ConfigError("each [[tag]] must be a table", key=where, file=file)
        extra = set(entry) - {"group", "slug", "label", "min_score", "fallback", "decisive",
                              "rules"}
        if extra:
            raise ConfigError("unknown key; allowed: group, slug, label, min_score, "
                              "fallback, decisive, rules", key=f"{where}.{sorted(extra)[0]}",
                              file=file)
        group = entry.get("group")
        if group not in GROUPS:
            raise ConfigError(f"group must be one of {', '.join(GROUPS)}; got {group!r}",
                              key=f"{where}.group", file=file)
        slug = entry.get("slug")
        if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug):
            raise ConfigError("slug must be lowercase words joined by '-'",
                              key=f"{where}.slug", file=file)
        if (group, slug) in seen:
            raise ConfigError(f"{group} {slug!r} is defined twice", key=where, file=file)
        seen.add((group, slug))
        terms: list[Term] = []
        for j, rule in enumerate(entry.get("rules", [])):
            rkey = f"{where}.rules[{j}]"
            if not isinstance(rule, dict) or set(rule) - {"match", "weight"}:
                raise ConfigError("a rule is { match = [terms], weight = number }",
                                  key=rkey, file=file)
            weight = rule.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ConfigError("weight must be a number", key=f"{rkey}.weight", file=file)
            match = rule.get("match")
            if not isinstance(match, list) or not all(isinstance(t, str) for t in match):
                raise ConfigError("match must be a list of strings", key=f"{rkey}.match",
                                  file=file)
            for term in match:
                try:
                    needle = needle_of(term)
                    needles = (needle,) if needle else regex_needles(term[1:-1])
                    terms.append(Term(term, compile_term(term), float(weight), needles,
                                      one_line=needle is not None))
                except (re.error, ValueError) as exc:
                    raise ConfigError(f"bad term {term!r}: {exc}", key=f"{rkey}.match",
                                      file=file) from None
        fallback = bool(entry.get("fallback", False))
        if not terms and not fallback:
            raise ConfigError("a tag needs at least one rule", key=f"{where}.rules", file=file)
        min_score = entry.get("min_score", 1.0)
        if isinstance(min_score, bool) or not isinstance(min_score, int | float):
            raise ConfigError("min_score must be a number", key=f"{where}.min_score",
                              file=file)
        decisive = entry.get("decisive", False)
        if not isinstance(decisive, bool):
            raise ConfigError("decisive must be true or false", key=f"{where}.decisive",
                              file=file)
        rules.append(TagRule(TagGroup(group), slug, str(entry.get("label", slug)),
                             tuple(terms), float(min_score), fallback, decisive))
    return Taxonomy(rules)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Taxonomy:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("the taxonomy file does not exist", key="paths.taxonomy",
                          file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=path) from None
    return parse_taxonomy(data, file=path)


def load_taxonomy(path: Path) -> Taxonomy:
    """Read a taxonomy file (cached until the file changes)."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise ConfigError("the taxonomy file does not exist", key="paths.taxonomy",
                          file=str(path)) from None
    return _load_cached(str(path), mtime)
