"""A low-vocabulary stress corpus for merging: many short announcements written with a few
hundred words, in the JSON Lines format ``bench.merge_eval`` reads.

Real announcements share few words with strangers; these share many. Each announcement
is 30-60 words drawn from the vocabulary with the Zipf-like weights of
``bench/corpus.py`` (the first words the common ones); each of its copies (a feed entry
on one of a few sites, or an X post cut at 280 characters) leaves out a tenth of them and
rewords about one in seven, so any two unrelated copies share several words and some
share many. That is where likeness chains: A is like B, B like C, … and, with nothing to
stop it, one story swallows unrelated items. Some entries have no date (a feed without
dates), and some X posts link to the announcement's page.

Seeded: the same arguments give the same corpus.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

SYLLABLES = ("ba", "ko", "ri", "tel", "mun", "sa", "vi", "dor", "pel", "ga", "lu", "fen",
             "zor", "ti", "mab", "nes")
KINDS = ("news", "programme-page", "event-page", "job-advert", "newsletter",
         "resource-page", "blog", "x-post")
START = date(2026, 3, 2)


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """``size`` made-up words of two or three syllables (never a stop word or a month)."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(words)


def corpus(seed: int = 13, announcements: int = 400, entries: int = 2000,
           words: int = 300, sites: int = 6, undated: float = 0.15) -> list[dict[str, Any]]:
    """``entries`` copies of ``announcements`` announcements over ``words`` words."""
    rng = random.Random(seed)
    vocab = vocabulary(rng, words)
    # The weights of bench/corpus.py: Zipf-like, the first words the common ones.
    weights = list(accumulate(1 / (rank + 20) ** 0.9 for rank in range(len(vocab))))
    rows: list[dict[str, Any]] = []
    topics = []
    for a in range(announcements):
        topic = rng.choices(vocab, cum_weights=weights, k=rng.randint(30, 60))
        day = START + timedelta(days=rng.randrange(120))
        topics.append((topic, day, f"https://site0.example.org/news/{'-'.join(topic[:3])}-{a}"))
    # Every announcement has at least two copies; the rest are spread at random.
    owners = [a for a in range(announcements) for _ in range(2)]
    owners += [rng.randrange(announcements) for _ in range(entries - len(owners))]
    rng.shuffle(owners)
    for n, a in enumerate(owners):
        topic, day, page = topics[a]
        site = rng.randrange(sites)
        kind = rng.choice(KINDS)
        # A copy rewords a few of the announcement's words and leaves out a few.
        chosen = [rng.choices(vocab, cum_weights=weights)[0] if rng.random() < 0.15 else w
                  for w in topic if rng.random() < 0.9]
        title = " ".join(chosen[:rng.randint(3, 6)]).capitalize()
        text = " ".join(chosen).capitalize() + "."
        published = day + timedelta(days=rng.randrange(6))
        url = f"https://site{site}.example.org/{kind}/{a}-{n}"
        if kind == "x-post":
            if rng.random() < 0.3:
                text += f" {page}"
            title, url = "", page
        rows.append({
            "id": f"e{n}", "site": f"site{site}", "source": kind, "url": url,
            "title": title, "text": text[:280] if kind == "x-post" else text,
            "published": None if kind != "x-post" and rng.random() < undated
            else published.isoformat(),
            "group": f"a{a}"})
    return rows
