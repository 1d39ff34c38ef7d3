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
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _trie_pattern(needles: Iterable[str]) -> str:
    """A regex matching exactly the needles, longest first at any position."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for needle in needles:
        node = trie
        for ch in needle:
            node = node.setdefault(ch, {})
        node[""] = {}  # a needle ends here

    def emit(node: dict) -> str:  # type: ignore[type-arg]
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
