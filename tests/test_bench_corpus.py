"""The benchmark's corpus: its count of announcements, and the small-vocabulary variant."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from bench.corpus import announcements, generate


def test_announcements_count_a_cross_post_once() -> None:
    feeds = generate(20, 30)
    keys = Counter(k for f in feeds for k in f.keys)
    assert sum(keys.values()) == 20 * 30
    shared = [k for k, n in keys.items() if n > 1]
    assert shared and all(k.startswith("shared-") for k in shared)
    assert announcements(feeds) == len(keys) == 20 * 30 - sum(n - 1 for n in keys.values())
    # Every key is in its feed's bytes (RSS guid or Atom id).
    assert all(k.encode() in f.body for f in feeds for k in f.keys)


def test_the_default_vocabulary_gives_the_same_bytes_as_before() -> None:
    # The corpus of bench/RESULTS.md: --vocabulary left at its default changes nothing.
    digest = hashlib.sha256(b"".join(f.body for f in generate(30, 20))).hexdigest()
    assert digest.startswith("ec4e07e487490782")


def test_a_small_vocabulary_shares_its_words() -> None:
    def words(feeds: list) -> Counter[str]:  # type: ignore[type-arg]
        text = b" ".join(f.body for f in feeds).decode()
        return Counter(re.findall(r"\b[a-z]{4,}\b", re.sub(r"<[^>]+>", " ", text)))

    small, large = generate(10, 20, vocabulary=300), generate(10, 20)
    assert announcements(small) == announcements(large)  # same cross-posts
    assert len(words(small)) < len(words(large)) / 3
