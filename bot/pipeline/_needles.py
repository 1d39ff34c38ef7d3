"""Which of many short strings a text contains, in one pass over it.

Tagging checks, for each of a few hundred taxonomy terms, whether the term's needle (a
piece of text every match contains) is in the casefolded text, before running the term's
regex. One ``str.find`` per term reads the text hundreds of times; :class:`NeedleSet`
reads it once, with an Aho-Corasick automaton (pyahocorasick, in C), which reports every
needle that ends at each position of the text.

It replaced a regex shaped like a trie inside a lookahead (tried at every position,
capturing the longest needle that starts there): on the bench corpus the automaton reads
a text about four times faster (bench/RESULTS.md). tests/test_tagging.py keeps that scan
as the oracle.

A /regex/ term's needles, and whether its every match holds a digit, are read from the
parsed pattern (``regex_needles``, ``regex_needs_digit``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

import ahocorasick

_NEEDLE = itemgetter(1)


class NeedleSet:
    """A fixed set of non-empty strings, and which of them a text contains."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles = frozenset(n for n in needles if n)
        self._automaton: Any = None
        if self.needles:
            automaton = ahocorasick.Automaton()
            for needle in sorted(self.needles):
                automaton.add_word(needle, needle)
            automaton.make_automaton()
            self._automaton = automaton

    def found_in(self, text: str) -> frozenset[str]:
        """The needles that occur in ``text`` (as ``needle in text`` would say, for each)."""
        if self._automaton is None or not text:
            return frozenset()
        return frozenset(map(_NEEDLE, self._automaton.iter(text)))


def regex_needles(pattern: str) -> tuple[str, ...]:
    """Pieces of literal text one of which every match of ``pattern`` contains (casefolded),
    or () when the pattern does not show any: ``/\\b(?:new|annual)\\s+reports?\\b/`` gives
    ("report",). Found from the parsed pattern, conservatively: only literal runs, groups,
    alternations whose every branch has pieces, and repeats of at least one count."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, re.IGNORECASE)
    except Exception:  # an unknown parser, or a pattern it cannot read: no shortcut
        return ()
    found = _required(parsed, _parser)
    if not found or min(len(n) for n in found) < 2:
        return ()
    return tuple(sorted(found))


def _required(seq: Any, sre: Any) -> set[str] | None:
    """One of these strings is in every match of the parsed sequence ``seq``; None: unknown."""
    options: list[set[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            options.append({"".join(run).casefold()})
            run.clear()

    for op, arg in seq:
        if op is sre.LITERAL:
            run.append(chr(arg))
            continue
        close_run()
        inner: set[str] | None = None
        if op is sre.SUBPATTERN:
            inner = _required(arg[-1], sre)
        elif op is sre.BRANCH:
            branches = [_required(b, sre) for b in arg[1]]
            if all(branches):
                inner = set().union(*branches)  # type: ignore[arg-type]
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[0] >= 1:
            inner = _required(arg[2], sre)
        if inner:
            options.append(inner)
    close_run()
    if not options:
        return None
    return max(options, key=lambda s: (min(len(n) for n in s), -len(s)))


def regex_needs_digit(pattern: str) -> bool:
    """True when every match of ``pattern`` holds a decimal digit: ``/\\b\\d{1,2}:\\d{2}\\b/``
    does, ``/\\b(?:1|one)\\s+to\\s+one\\b/`` does not. Read from the parsed pattern,
    conservatively (lookarounds do not count)."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        return _digit_in_every_match(_parser.parse(pattern, re.IGNORECASE), _parser)
    except Exception:  # an unknown parser, or a pattern it cannot read: search always
        return False


def _digit_in_every_match(seq: Any, sre: Any) -> bool:
    def digit(op: Any, arg: Any) -> bool:
        if op is sre.LITERAL:
            return 48 <= arg <= 57
        if op is sre.RANGE:
            return 48 <= arg[0] <= arg[1] <= 57
        return op is sre.CATEGORY and arg is sre.CATEGORY_DIGIT

    for op, arg in seq:
        if op is sre.LITERAL and digit(op, arg):
            return True
        if op is sre.IN and arg and all(digit(o, a) for o, a in arg):
            return True
        if op is sre.SUBPATTERN and _digit_in_every_match(arg[-1], sre):
            return True
        if op is sre.BRANCH and all(_digit_in_every_match(b, sre) for b in arg[1]):
            return True
        if (op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[0] >= 1
                and _digit_in_every_match(arg[2], sre)):
            return True
    return False
