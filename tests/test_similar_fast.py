"""Shortcuts in the merge features give what the plain reading gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline import similar


@pytest.mark.parametrize("text", [
    "", "Cohort 17 opens", "the 15th COHORT", "second intake", "İntake 3", "ıntake 3",
    "Round two and wave 4", "around 3 waves", "no group here 12", "ROUNDS 2", "WAVE no. 9",
])
def test_cohorts_shortcut_cases(text: str) -> None:
    assert similar.cohorts_of(text) == similar.cohorts_searched(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "cohort", "Cohorts", "INTAKE", "round", "wave", "İntake", "ıntake", "ſecond", "2nd",
    "third", "no.", "12", "two", " ", "\n", "x", "ROUND", "Waves"]), max_size=12))
def test_cohorts_shortcut_equals_the_regex(parts: list[str]) -> None:
    text = " ".join(parts)
    assert similar.cohorts_of(text) == similar.cohorts_searched(text)


def test_an_ordinal_in_odd_letters_is_read_not_a_crash() -> None:
    """Regression: the regex matched "ſecond cohort" (any case takes "ſ" for "s") and the
    ordinal was then looked up as written: KeyError, and the item's features failed."""
    assert similar.cohorts_of("the ſecond cohort") == {"cohort:2"}
    assert similar.cohorts_of("FIRST intake, fırst round") == {"intake:1", "round:1"}
    assert similar.cohorts_of("İnto the FİFTH wave") == {"wave:5"}


@settings(max_examples=200, deadline=None)
@given(st.frozensets(st.text("abcdeé", min_size=1, max_size=8), max_size=40),
       st.integers(1, 30))
def test_index_terms_take_the_longest_words_then_alphabetical(words: frozenset[str],
                                                              limit: int) -> None:
    f = similar.Features(words, frozenset(), frozenset(), frozenset(), frozenset(),
                         frozenset())
    plain = sorted(words - similar.INDEX_SKIP, key=lambda w: (-len(w), w))[:limit]
    assert similar.index_terms(f, limit=limit) == plain
