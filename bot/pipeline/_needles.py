"""Which of many short strings a text contains, in one pass of the regex engine.

Tagging checks, for each of a few hundred taxonomy terms, whether the term's needle (a
piece of text every match contains) is in the casefolded text, before running the term's
regex. One ``str.find`` per term reads the text hundreds of times; :class:`NeedleSet`
reads it once.

The needles are compiled into one regex shaped like a trie (``co(?:ach|hort)``), inside
a lookahead so that it is tried at every position of the text: at each position it
captures the longest needle that starts there. Every needle that starts at a position
is a prefix of that longest one, so the needles a text contains are exactly those
contained in some captured string; each needle's contained needles are worked out once.

A /regex/ term's needles, and whether its every match holds a digit, are read from the
parsed pattern (``regex_needles``, ``regex_needs_digit``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def _trie_pattern(needles: Iterable[str]) -> str:
    """A regex matching exactly the needles, longest first at any position."""
    trie: dict[str, dict[str, Any]] = {}
    for needle in needles:
        node = trie
        for ch in needle:
            node = node.setdefault(ch, {})
        node[""] = {}  # a needle ends here

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Where a needle ends and longer ones go on, the longer ones are tried first.
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


class NeedleSet:
    """A fixed set of non-empty strings, and which of them a text contains."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles = frozenset(n for n in needles if n)
        self._scan = (re.compile("(?=(" + _trie_pattern(self.needles) + "))")
                      if self.needles else None)
        self._within = {n: frozenset(m for m in self.needles if m in n) for n in self.needles}

    def found_in(self, text: str) -> frozenset[str]:
        """The needles that occur in ``text`` (as ``needle in text`` would say, for each)."""
        if self._scan is None:
            return frozenset()
        longest = {m.group(1) for m in self._scan.finditer(text)}
        if len(longest) == 1:
            return self._within[longest.pop()]
        found: set[str] = set()
        for needle in longest:
            found |= self._within[needle]
        return frozenset(found)


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
