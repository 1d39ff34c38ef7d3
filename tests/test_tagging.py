"""Tagging reads a text once (one pass for every needle, searches limited to the lines that
can hold a match) and gives what the plain term-by-term reading gives, on any text."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import DEFAULT_TAXONOMY
from bot.model import Tag, TagGroup
from bot.pipeline._needles import NeedleSet, regex_needs_digit
from bot.pipeline.tagging import TEXT_LIMIT, TagResult, TagRule, Taxonomy, load_taxonomy

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Words of the taxonomy's terms, and characters where casefolding and any-case matching
#: part ways (dotless i, long s, Kelvin sign, sharp s, dotted I), or that are not ASCII.
WORDS = sorted({w for rule in TAXONOMY.rules for term in rule.terms
                for w in re.split(r"[\s\-*/\\()?:|]+", term.source) if w.isalpha()})
PHRASES = sorted({term.source.rstrip("*") for rule in TAXONOMY.rules for term in rule.terms
                  if not term.source.startswith("/")})
ODD = ["ı", "ſ", "K", "ß", "İ", "’", "é", "\u00a0", "\n", "\n\n", "-", "#", " ", ". ",
       "12:30", "3pm", "2026"]


def _plain_score(rule: TagRule, haystack: str, lowered: str) -> tuple[float, list[str]]:
    """The term-by-term reading, as tagging did it before it read a text once."""
    score, found, taken = 0.0, [], []
    aligned = len(lowered) == len(haystack)
    for term in rule.terms:
        start = 0
        if term.one_line and aligned:
            at = lowered.find(term.needles[0])
            if at < 0:
                continue
            start = haystack.rfind("\n", 0, at) + 1
        elif term.needles and not any(n in lowered for n in term.needles):
            continue
        match = term.pattern.search(haystack, start)
        if match and term.weight > 0 and taken and any(
                match.start() < e and s < match.end() for s, e in taken):
            match = next((m for m in term.pattern.finditer(haystack)
                          if not any(m.start() < e and s < m.end() for s, e in taken)), None)
        if match:
            if term.weight > 0:
                taken.append(match.span())
            score += term.weight
            words = " ".join(match.group(0).split())
            found.append(f"'{words}'" + (f" ({term.weight:+g})" if term.weight != 1 else ""))
    return score, found


def _plain_tag(taxonomy: Taxonomy, title: str, text: str) -> TagResult:
    haystack = f"{title}\n\n{text[:TEXT_LIMIT]}"
    lowered = haystack.casefold()
    tags: list[Tag] = []
    kind: Tag | None = None
    for rule in taxonomy.rules:
        score, found = _plain_score(rule, haystack, lowered)
        if score < rule.min_score or not found:
            continue
        tag = Tag(rule.group, rule.slug, ", ".join(found) + f" (score {score:g})")
        if rule.group is TagGroup.KIND:
            kind = kind or tag
        else:
            tags.append(tag)
    kind = kind or Tag(TagGroup.KIND, taxonomy.fallback_kind, "no kind rule matched")
    return TagResult(tags=(kind, *tags), kind=kind.slug)


def _cased(word: str, how: int) -> str:
    return (word, word.upper(), word.title(), word.lower())[how % 4]


texts = st.lists(st.tuples(st.sampled_from(WORDS + PHRASES + ODD), st.integers(0, 3),
                           st.sampled_from([" ", " ", " ", "", "\n", "-", "ı"])),
                 max_size=60).map(lambda parts: "".join(_cased(w, n) + sep
                                                        for w, n, sep in parts))


@FAST
@given(texts, texts)
def test_tagging_gives_what_the_term_by_term_reading_gives(title: str, text: str) -> None:
    expected = _plain_tag(TAXONOMY, title, text)
    programmes = [t.slug for t in expected.tags if t.group is TagGroup.PROGRAMME]
    # Programmes first, then the tags (the order ingest asks in), then again (kept).
    assert TAXONOMY.matching(TagGroup.PROGRAMME, title, text) == programmes
    assert TAXONOMY.tag(title, text) == expected
    assert TAXONOMY.tag(title, text) == expected


def test_a_line_not_in_ascii_is_searched_even_without_the_needle() -> None:
    # The any-case regex takes a dotless "ı" for an "i"; casefolding keeps it, so the third
    # line does not hold the needle "wellbeing", yet the term matches there. The first line
    # holds the needle, in a word the term does not match.
    text = "xwellbeing\n\nAll about wellbeıng"
    result = TAXONOMY.tag("", text)
    assert result == _plain_tag(TAXONOMY, "", text)
    assert any("'wellbeıng'" in t.reason for t in result.tags)


@pytest.mark.parametrize("text", [
    "#Coaching for new leaders",  # the match starts before the needle, at the "#"
    "xcoach " * 3 + "#Coaching, then coaching",
    "xcoach " * 8 + "#Coaching",  # the first appearance past those tried one by one
    "xcoach " * 9 + "#Coaching",
    "xcoach " * 12,
    "Mentoring-mentors #mentor_ship #mentor",
])
def test_one_word_terms_in_ascii_text(text: str) -> None:
    assert TAXONOMY.tag("A title", text) == _plain_tag(TAXONOMY, "A title", text)


@FAST
@given(st.lists(st.text("abcé’ -", min_size=1, max_size=6), max_size=30),
       st.text("abcéABC’ -\n", max_size=200))
def test_needle_set_finds_exactly_the_needles_a_text_contains(needles: list[str],
                                                              text: str) -> None:
    assert NeedleSet(needles).found_in(text) == {n for n in needles if n in text}


def _trie_pattern(needles: list[str]) -> str:
    """The scan NeedleSet used before its automaton: a regex shaped like a trie."""
    trie: dict[str, dict] = {}
    for needle in needles:
        node = trie
        for ch in needle:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


def _trie_found_in(needles: frozenset[str], text: str) -> frozenset[str]:
    scan = re.compile("(?=(" + _trie_pattern(sorted(needles)) + "))")
    found: set[str] = set()
    for m in scan.finditer(text):
        found |= {n for n in needles if n in m.group(1)}
    return frozenset(found)


def test_the_automaton_finds_what_the_trie_regex_found_on_the_corpora() -> None:
    """The oracle for the automaton: the regex scan it replaced, on every text of the
    labelled corpus and of a bench corpus, as tagging reads them (casefolded)."""
    import json

    from bench.corpus import generate
    from bench.pipeline_cpu import NOW
    from bot.sources.feed import parse_feed
    from tests.conftest import ROOT

    needles = TAXONOMY._needles
    texts = [f"{r['title']}\n\n{r['text'][:TEXT_LIMIT]}" for r in map(json.loads, (
        ROOT / "corpus" / "announcements.jsonl").read_text(encoding="utf-8").splitlines())]
    for n, feed in enumerate(generate(4, 50, seed=6)):
        texts += [f"{i.title}\n\n{i.text[:TEXT_LIMIT]}" for i in parse_feed(
            feed.body, source=f"f{n}", url=f"http://127.0.0.1{feed.path}", collected_at=NOW,
            content_type=feed.content_type)]
    texts += ["", "\ud800 coach\udfff", "ı ſ K ß İ ’ \u00a0 co-production #QI"]
    assert len(texts) > 1000
    for text in texts:
        lowered = text.casefold()
        assert needles.found_in(lowered) == _trie_found_in(needles.needles, lowered)


@pytest.mark.parametrize(("pattern", "needs"), [
    (r"\b\d{1,2}:\d{2}\b", True),
    (r"\bband\s+[2-9][a-d]?\b", True),
    (r"\b(?:mon|tues)day\s+\d{1,2}(?:st|nd)?\b", True),
    (r"\b(?:1|2)\s+to\s+1\b", True),
    (r"\b(?:1|one)\s+to\s+one\b", False),
    (r"\d?x", False),
    (r"(?=\d)x", False),
    (r"[^0-9]", False),
    (r"[0-9a]", False),
])
def test_regex_needs_digit(pattern: str, needs: bool) -> None:
    assert regex_needs_digit(pattern) is needs
