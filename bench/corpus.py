"""A deterministic feed corpus for the benchmarks: N feeds × M entries, RSS 2.0 and Atom 1.0.

Entries look like an academy's news: a title, a link, an author, a date, and an HTML body
of about 1.8 KB (paragraphs, emphasis, links, a list, now and then a sentence with key
dates), with words the taxonomy tags. Most words come from a large made-up vocabulary, so
unrelated entries share few words, as real announcements do. About one entry in ten is a
cross-post: the same announcement (same link, title and text) published in two or three
feeds, which Herald must merge into one story.

The same ``seed`` gives the same bytes, so two runs (and Herald and reader in one run)
read exactly the same corpus.

``vocabulary`` sets the made-up vocabulary's size: 20,000 words by default; a few hundred
(``python -m bench --vocabulary 300``) make unrelated entries share many words, the case
where likeness chains and merging goes wrong. The corpus knows how many announcements it
holds (``announcements``: a cross-post is one), which is how many stories a right
merging makes of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from itertools import accumulate

SYLLABLES = ("ka", "lo", "mi", "ter", "vo", "san", "del", "ri", "po", "tun", "gal", "be",
             "nor", "shi", "qua", "ze", "mar", "fen", "lis", "dor", "ab", "ul", "cre", "ith",
             "om", "pra", "sel", "vin", "gru", "hap")
#: Real words the taxonomy reacts to, sprinkled into bodies so tagging does its usual work.
DOMAIN_WORDS = ("coaching", "mentoring", "leadership", "cohort", "applications", "programme",
                "workshop", "webinar", "community of practice", "quality improvement",
                "partnership", "network", "collaboration", "feedback", "career", "toolkit",
                "report", "guidance", "vacancy", "secondment", "conference", "register",
                "learning", "training", "improvement", "experiment", "Seacole", "Nye Bevan",
                "capacity building", "wellbeing", "support", "offer", "event", "story")
#: When the corpus is dated: entries spread over the 60 days before this.
BASE = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


@dataclass(frozen=True)
class Entry:
    """One generated announcement."""

    key: str
    title: str
    link: str
    author: str
    published: datetime
    html: str


@dataclass(frozen=True)
class Feed:
    """One generated feed document."""

    path: str
    kind: str  # "rss" or "atom"
    body: bytes
    #: The key of each announcement in the feed (a cross-post's key is the same in every
    #: feed that carries it).
    keys: tuple[str, ...] = ()

    @property
    def content_type(self) -> str:
        return f"application/{self.kind}+xml; charset=utf-8"


class Vocabulary:
    """Made-up words from syllables, drawn with Zipf-like frequencies where short words are
    the common ones (as in English), with English function words between them."""

    FUNCTION_WORDS = ("the", "and", "of", "to", "a", "in", "for", "is", "on", "that", "with",
                      "as", "our", "we", "this", "be", "are", "from", "at", "by", "will")

    def __init__(self, rng: random.Random, size: int = 20_000) -> None:
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
        self.words = sorted(words, key=lambda w: (len(w), w))
        self.cum_weights = list(accumulate(1 / (rank + 20) ** 0.9
                                           for rank in range(len(self.words))))

    def phrase(self, rng: random.Random, n: int) -> str:
        words = rng.choices(self.words, cum_weights=self.cum_weights, k=n)
        for k in range(len(words)):
            if rng.random() < 0.3:
                words[k] = rng.choice(self.FUNCTION_WORDS) + " " + words[k]
        return " ".join(words)


def _sentence(rng: random.Random, vocab: Vocabulary) -> str:
    words = vocab.phrase(rng, rng.randint(8, 15)).split()
    for _ in range(rng.randint(0, 2)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(DOMAIN_WORDS))
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _dates_sentence(rng: random.Random, published: datetime) -> str:
    opens = published + timedelta(days=rng.randint(5, 30))
    closes = opens + timedelta(days=rng.randint(10, 40))
    return (f"Applications open on {opens.day} {MONTHS[opens.month - 1]} {opens.year} and "
            f"close on {closes.day} {MONTHS[closes.month - 1]} {closes.year}.")


def _body(rng: random.Random, vocab: Vocabulary, published: datetime, link: str) -> str:
    paragraphs = []
    for n in range(3):
        sentences = [_sentence(rng, vocab) for _ in range(rng.randint(2, 3))]
        if n == 1 and rng.random() < 0.3:
            sentences.append(_dates_sentence(rng, published))
        text = " ".join(sentences)
        words = text.split(" ")
        at = rng.randrange(1, max(2, len(words) - 3))
        words[at] = f"<strong>{words[at]}</strong>"
        if n == 0:
            words[-2] = f'<a href="{link}">{words[-2]}</a>'
        elif rng.random() < 0.5:
            words[-3] = f'<em>{words[-3]}</em>'
        paragraphs.append("<p>" + " ".join(words) + "</p>")
    items = "".join(f"<li>{vocab.phrase(rng, rng.randint(3, 6))}</li>" for _ in range(3))
    more = f'<p>Read more on <a href="{link}?utm_source=feed">our website</a>.</p>'
    return paragraphs[0] + paragraphs[1] + f"<ul>{items}</ul>" + paragraphs[2] + more


def _entry(rng: random.Random, vocab: Vocabulary, key: str, host: str, n: int) -> Entry:
    published = BASE - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
    slug = "-".join(vocab.phrase(rng, 4).split())
    link = f"https://{host}/news/{published:%Y/%m}/{slug}-{n}"
    title = vocab.phrase(rng, rng.randint(4, 8)).capitalize()
    if rng.random() < 0.4:
        title += " " + rng.choice(DOMAIN_WORDS)
    author = vocab.phrase(rng, 2).title()
    return Entry(key, title, link, author, published, _body(rng, vocab, published, link))


def _rss(feed_no: int, entries: list[Entry]) -> bytes:
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
             f'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
             f"<title>Academy partner {feed_no}</title>\n"
             f"<link>https://site{feed_no}.example.org/</link>\n"
             f"<description>News from partner {feed_no}</description>\n"]
    for e in entries:
        parts.append(
            f"<item>\n<title>{escape(e.title)}</title>\n<link>{escape(e.link)}</link>\n"
            f'<guid isPermaLink="false">{e.key}</guid>\n'
            f"<pubDate>{format_datetime(e.published, usegmt=True)}</pubDate>\n"
            f"<dc:creator>{escape(e.author)}</dc:creator>\n<category>news</category>\n"
            f"<description><![CDATA[{e.html}]]></description>\n</item>\n")
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode()


def _atom(feed_no: int, entries: list[Entry]) -> bytes:
    updated = max((e.published for e in entries), default=BASE)
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n'
             f'<feed xmlns="http://www.w3.org/2005/Atom">\n'
             f"<title>Academy partner {feed_no}</title>\n"
             f'<link rel="alternate" href="https://site{feed_no}.example.org/"/>\n'
             f"<id>https://site{feed_no}.example.org/feed</id>\n"
             f"<updated>{updated.isoformat()}</updated>\n"]
    for e in entries:
        parts.append(
            f"<entry>\n<title>{escape(e.title)}</title>\n"
            f'<link rel="alternate" href="{escape(e.link)}"/>\n'
            f"<id>tag:example.org,2026:{e.key}</id>\n"
            f"<published>{e.published.isoformat()}</published>\n"
            f"<updated>{e.published.isoformat()}</updated>\n"
            f"<author><name>{escape(e.author)}</name></author>\n"
            f'<content type="html">{escape(e.html)}</content>\n</entry>\n')
    parts.append("</feed>\n")
    return "".join(parts).encode()


def generate(feeds: int, entries: int, seed: int = 6, crosspost: float = 0.1,
             vocabulary: int = 20_000) -> list[Feed]:
    """``feeds`` feeds of ``entries`` entries each, over a made-up vocabulary of
    ``vocabulary`` words; every other feed is Atom."""
    rng = random.Random(seed)
    vocab = Vocabulary(rng, vocabulary)
    # Cross-posted announcements: a pool per group of ten feeds, each used by 2-3 of them.
    shared_per_group = max(1, int(entries * crosspost * 10 / 2.5))
    pools: dict[int, list[Entry]] = {}
    out = []
    for f in range(feeds):
        group = f // 10
        if group not in pools:
            prng = random.Random(seed * 1_000_003 + group)
            pools[group] = [_entry(prng, vocab, f"shared-{group}-{k}", "academy.example.org",
                                   k) for k in range(shared_per_group)]
        frng = random.Random(seed * 7919 + f)
        chosen: list[Entry] = []
        used: set[str] = set()
        for j in range(entries):
            if frng.random() < crosspost:
                e = frng.choice(pools[group])
                if e.key not in used:
                    used.add(e.key)
                    chosen.append(e)
                    continue
            chosen.append(_entry(frng, vocab, f"site{f}-{j}", f"site{f}.example.org", j))
        chosen.sort(key=lambda e: e.published, reverse=True)
        kind = "atom" if f % 2 else "rss"
        body = _atom(f, chosen) if kind == "atom" else _rss(f, chosen)
        out.append(Feed(f"/feeds/{f:05d}.{'atom' if kind == 'atom' else 'xml'}", kind, body,
                        tuple(e.key for e in chosen)))
    return out


def announcements(feeds: list[Feed]) -> int:
    """How many announcements the feeds hold: entries, a cross-post counted once."""
    return len({key for feed in feeds for key in feed.keys})
