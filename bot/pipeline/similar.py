"""Fuzzy, cross-source merging: is a new item the same announcement as a stored one?

Exact matches (same entry, same canonical URL, same words) are found first by
:mod:`bot.pipeline.dedupe`. This module decides the rest, conservatively: two
announcements in one story are worse than a repeat, so every rule has a veto.

An item is reduced to :class:`Features`: its content words (lowercased, stop
words out, camel-case hashtags split, light plural folding), the years and key
dates it names, the programmes it names, its own URLs and the links it carries
(t.co links expanded, canonical, hub pages left out), its title's words, and whether
its source gave it a date. Then, in this order:

1. **Vetoes** (never merge): both give a key date of the same kind (say
   applications-open) and the dates differ; both name years and share none;
   both name programmes and share none; both name cohorts, intakes or rounds and share
   none ("cohort 17", "cohort 18"); further apart than ``strong_window``.
   Further apart than ``window``, only rule 2 or a shared key date (rule 4) merges.
2. **Link to the other's own page**: one item links to the page the other *is*
   (a tweet whose t.co link expands to the website post) → same announcement.
3. **Shared specific link and similar words**: both link to the same non-hub page
   (a booking page) and their word containment reaches ``link_text_threshold``.
4. **Similar words**: the same key date of the same kind plus ``dated_text_threshold``;
   or containment (shared words over the smaller set) reaches ``text_threshold`` with
   at least ``min_shared_words`` words in common; or ``long_text_threshold`` with
   ``long_min_shared_words`` (two long paraphrases). **Where either item has no date**
   (an undated entry's time is only when it was collected, so the window says
   nothing), similar words alone never merge: they must also have the same title, or
   one must name most of the other's title with words alike beyond
   ``undated_text_threshold`` (rules 2, 3 and the same key date are evidence enough by
   themselves). Key dates are compared by day and month (see :func:`veto`).

This compares two items. Which items a new item is compared with is the store's
part (``bot.store._ingest``): the story's own lead items, never whatever joined it
later, so that similar-enough items cannot chain into one ever-growing story; and a
story of ``max_story_items`` takes no more.

Features are stored with each item (``bot.store._features``): a change here that gives an
item other features (stop words, folding, hubs, ``TEXT_LIMIT``, the URL rules in
``bot.urls``) must bump ``bot.store._features.VERSION``, or stored items keep the old ones.

Thresholds live in ``[merge]`` in config; the defaults and why they are what they
are are in :class:`MergeConfig`. The words of a long post and a short tweet
differ in number, so the measure is containment, not Jaccard.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import chain
from urllib.parse import urlsplit

from bot.model import Item
from bot.pipeline.dates import extract_dates
from bot.pipeline.normalize import url_keys
from bot.urls import canonical_url, is_shortened

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just let me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
get got us via amp rt new find read more click here link today week day join us
""".split())
#: Words too common in announcements to find candidates by (they stay in the word sets that
#: are compared): months and weekdays, and the boilerplate of posts ("visit our website").
INDEX_SKIP = frozenset("""
january february march april june july august september october november december
monday tuesday wednesday thursday friday saturday sunday website information
available contact please visit email details further following register online
""".split())
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)")
_WORD = re.compile(r"[#@]?[\w'’]+")
_YEAR = re.compile(r"\b(20[1-3]\d)\b")


@dataclass(frozen=True)
class MergeConfig:
    """How sure Herald must be before it merges two items from different sources."""

    #: Items further apart than this merge on wording only when the evidence is strong
    #: (one links to the other's page, or both give the same key date): a similar post a
    #: month later is a reminder at best, and a new intake at worst.
    window: timedelta = timedelta(days=14)
    #: Reminders ("applications close Friday") come up to a season after the opening
    #: post; with strong evidence they still join it. Beyond this, never.
    strong_window: timedelta = timedelta(days=120)
    #: Share of the smaller item's words found in the other. In tests/data/merge_set.json
    #: no pair of different announcements without a veto reached 0.39; 0.5 keeps a margin.
    text_threshold: float = 0.5
    #: With fewer shared words than this, wording alone is too thin to go on.
    min_shared_words: int = 6
    #: Lower bar when both name the same key date of the same kind (same deadline).
    dated_text_threshold: float = 0.35
    #: Lower bar when both carry the same specific (non-hub) link, e.g. a booking page.
    link_text_threshold: float = 0.3
    #: Two long posts (ours and a partner's) paraphrase each other: a lower share is
    #: enough when very many words are shared. In merge_set.json the different
    #: announcements that shared most words shared 13 (at 0.29), those at 0.35 shared 7;
    #: the held-out set had one at 0.37 with 17 shared, so the bar is 0.4.
    long_text_threshold: float = 0.4
    long_min_shared_words: int = 15
    #: Where either item is undated, similar words merge only with more: the other names
    #: most of one's title (this share of its title's content words, ``title_share``:
    #: the tweet about a page names what the page's title names) and their words reach a
    #: higher bar. On the corpus's train split, of the pairs that passed the word
    #: thresholds with one side undated, the different announcements that named 0.7 of a
    #: title had at most 0.56 containment; the copies mostly 0.7 and more.
    undated_title_share: float = 0.7
    undated_text_threshold: float = 0.6
    #: Candidates looked at per new item (best term overlap first): bounds the cost.
    max_candidates: int = 40
    #: A story's lead items: its first ones (the item that made it, and the first to
    #: join it). A new item joins a story only if it is the same announcement as one of
    #: these, not merely as some item that joined later: otherwise A~B, B~C, C~D… chains
    #: unrelated items into one story, without limit, wherever wording is repetitive.
    #: Two, not one: a terse tweet often comes first, and the website post that joins it
    #: is what the partners' paraphrases and reminders resemble.
    lead_items: int = 2
    #: No announcement has this many copies (a post, its tweets, reminders and partners'
    #: posts are a handful). A story that reaches it is logged and takes no more items:
    #: they make stories of their own (a repeat, never a wrong merge).
    max_story_items: int = 40
    #: Likeness by words alone must stand out from chance: an item that shares as many
    #: words with its own source's other posts (different announcements, as a feed's
    #: entries are) says nothing by sharing them with another source's. Where the words
    #: are all there is, the score must beat the item's ``chance_rank``-th closest
    #: sibling (the third: a reminder or two of the same announcement in the same feed do
    #: not count) by ``chance_margin``; with fewer than ``chance_rank`` + 1 siblings there
    #: is no measure and the thresholds above decide alone. Where a small vocabulary makes
    #: everything alike (bench --vocabulary 300) this is what keeps unrelated items apart.
    chance_margin: float = 0.1
    chance_rank: int = 3
    #: Stored posts of the item's source read for the measure (its newest), besides the
    #: ones the same poll brings.
    chance_siblings: int = 12


@dataclass(frozen=True)
class Features:
    words: frozenset[str]
    years: frozenset[str]
    dates: frozenset[tuple[str, date]]
    own_urls: frozenset[str]
    links: frozenset[str]
    programmes: frozenset[str]
    #: The source gave a publication date (see ``Item.dated``).
    dated: bool = True
    #: The title's content words in order, when it is a real title (a feed entry's, with
    #: at least ``MIN_TITLE_WORDS`` of them); "" otherwise (an X post's is its first line).
    title: str = ""
    #: The cohorts, intakes or rounds it names ("cohort:17", "intake:3"): two that name
    #: only different ones are different announcements, however alike their words.
    cohorts: frozenset[str] = frozenset()


_NUMBER_WORDS = {w: str(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_ORDINALS = {w: str(n) for n, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
    "twelfth".split())}
_GROUP_WORDS = ("cohort", "intake", "round", "wave")
_GROUP = r"(" + "|".join(_GROUP_WORDS) + r")s?"
_COHORTS = re.compile(
    r"\b" + _GROUP + r"\s+(?:no\.?\s*)?(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\b"
    r"|\b(\d{1,3})(?:st|nd|rd|th)\s+" + _GROUP + r"\b"
    r"|\b(" + "|".join(_ORDINALS) + r")\s+" + _GROUP + r"\b", re.IGNORECASE)


def _ordinal(word: str) -> str:
    """An ordinal as the regex matched it, any case, → its key in ``_ORDINALS``: the
    regex's any-case matching also takes "ſ" for "s" and "ı" or "İ" for "i"."""
    return word.lower().replace("ſ", "s").replace("ı", "i").replace("i\u0307", "i")


def cohorts_of(text: str) -> frozenset[str]:
    """"cohort 17", "Cohort Two", "the 15th cohort", "second intake" → {"cohort:17", …}."""
    if text.isascii():
        # Every match names one of the group words; in ASCII text the regex's any-case
        # matching is plain lowercasing, so a text without them is not searched.
        lowered = text.lower()
        if not any(word in lowered for word in _GROUP_WORDS):
            return frozenset()
    return cohorts_searched(text)


def cohorts_searched(text: str) -> frozenset[str]:
    """``cohorts_of`` without its shortcut: the regex over the whole text."""
    found = set()
    for m in _COHORTS.finditer(text):
        if m.group(1):
            number = m.group(2).lower()
            found.add(f"{m.group(1).lower()}:{_NUMBER_WORDS.get(number, number)}")
        elif m.group(3):
            found.add(f"{m.group(4).lower()}:{int(m.group(3))}")
        else:
            found.add(f"{m.group(6).lower()}:{_ORDINALS[_ordinal(m.group(5))]}")
    return frozenset(found)


def _fold(word: str) -> str:
    word = word.strip("'’").lower()
    if word.endswith("'s") or word.endswith("’s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words_of(text: str) -> frozenset[str]:
    """Content words: no stop words, no URLs, hashtags split at capitals, plurals folded."""
    text = unicodedata.normalize("NFKC", re.sub(r"https?://\S+", " ", text))
    # Each distinct token once: words repeat.
    return frozenset(chain.from_iterable(map(_token_words, set(_WORD.findall(text)))))


#: Tokens whose content words are remembered: the bench corpus of 40 feeds × 50 entries
#: has 24,500 distinct tokens (6.3 MB remembered), the labelled corpus 8,699. At 16,384
#: the bench corpus thrashed the cache (56,851 misses in two passes against 24,500) and
#: ``words_of`` took 1.7 times as long.
TOKENS_KEPT = 32_768


@lru_cache(maxsize=TOKENS_KEPT)
def _token_words(token: str) -> tuple[str, ...]:
    """The content words of one token (cached: words repeat from text to text)."""
    if token.startswith("@"):
        return ()  # handles differ from the names the website uses
    parts = _CAMEL.split(token.lstrip("#")) if token.startswith("#") else [token]
    words = []
    for part in parts:
        for piece in part.replace("_", " ").split():
            w = _fold(piece)
            if (len(w) > 2 or w.isdigit()) and w not in STOPWORDS:
                words.append(w)
    return tuple(words)


def is_hub(url: str) -> bool:
    """A page too general to identify one announcement: a home, section or tag page."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        return True
    hubs = {"news", "events", "blog", "programmes", "programme", "tag", "tags", "category",
            "about", "contact", "apply", "courses", "search", "home", "index.html"}
    return len(segments) == 1 and segments[0].lower() in hubs


#: A title of fewer content words ("Newsletter", "Events") names no one announcement.
MIN_TITLE_WORDS = 3


def title_key(item: Item) -> str:
    """The title's content words in order, or "" (see ``Features.title``)."""
    if item.source_kind == "x":
        return ""
    text = unicodedata.normalize("NFKC", re.sub(r"https?://\S+", " ", item.title))
    words = [w for token in _WORD.findall(text) for w in _token_words(token)]
    return " ".join(words) if len(words) >= MIN_TITLE_WORDS else ""


#: Only the start of a long text is compared: copies of an announcement share their opening,
#: and the cost of a comparison stays bounded.
TEXT_LIMIT = 6000


#: "1 to 3 June", "1-3 June": a range of days, of which key dates read only the last.
_RANGE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|—|to|until)\s*(\d{1,2})"
                    r"(?:st|nd|rd|th)?\s+([A-Za-z]{3})[a-z]*\b")
_MONTHS = {m: n for n, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}


def with_range_starts(text: str, dates: frozenset[tuple[str, date]]
                      ) -> frozenset[tuple[str, date]]:
    """Key dates with the first day of each range whose last day they hold: a reminder
    that "the conference starts Monday 1 June" names the first day of "1 to 3 June"."""
    if not dates:
        return dates
    more = set(dates)
    for m in _RANGE.finditer(text):
        first, last, month = int(m.group(1)), int(m.group(2)), _MONTHS.get(
            m.group(3).lower())
        if month is None or not 0 < first < last:
            continue
        more.update((what, d.replace(day=first)) for what, d in dates
                    if d.month == month and d.day == last)
    return frozenset(more)


def features(item: Item, programmes: Iterable[str] = ()) -> Features:
    text = f"{item.title}\n{item.text[:TEXT_LIMIT]}"
    links = set()
    for link in item.links:
        target = canonical_url(link.target)
        if target and not is_shortened(target) and not is_hub(target):
            links.add(target)
    own = url_keys(item)
    return Features(
        words=words_of(text),
        years=frozenset(_YEAR.findall(text)),
        dates=with_range_starts(text, frozenset(
            (d.what, d.date) for d in extract_dates(text, item.published_at))),
        own_urls=frozenset(u for u in own if not is_hub(u)),
        links=frozenset(links - own),
        programmes=frozenset(programmes),
        dated=item.dated,
        title=title_key(item),
        cohorts=cohorts_of(text),
    )


def containment(a: frozenset[str], b: frozenset[str]) -> tuple[float, int]:
    if not a or not b:
        return 0.0, 0
    shared = len(a & b)
    return shared / min(len(a), len(b)), shared


def days_of(dates: frozenset[tuple[str, date]]) -> frozenset[tuple[str, int, int]]:
    """Key dates as (kind, month, day), without their years: see :func:`veto`."""
    return frozenset((what, d.month, d.day) for what, d in dates)


def veto(a: Features, b: Features) -> str | None:
    """Why two items must not be merged, or None.

    Key dates are compared by day and month, not year: a text rarely writes the year of a
    date ("closes 30 October"), so its year is a guess from when the item was published,
    which for an undated page is only when it was collected, and a post and the page it
    restates then disagree by a year. The years a text does write are compared by the
    years veto (this year's conference and last year's name different years)."""
    days_a, days_b = days_of(a.dates), days_of(b.dates)
    if days_a and days_b and not {d[1:] for d in days_a} & {d[1:] for d in days_b}:
        return "no key date in common"
    kinds_a = {what for what, _, _ in days_a}
    for what in kinds_a & {what for what, _, _ in days_b}:
        if not {d for d in days_a if d[0] == what} & {d for d in days_b if d[0] == what}:
            return f"different {what} dates"
    if a.years and b.years and not a.years & b.years:
        return "different years"
    if a.programmes and b.programmes and not a.programmes & b.programmes:
        return "different programmes"
    if a.cohorts and b.cohorts and not a.cohorts & b.cohorts:
        return "different cohorts"
    return None


def title_share(a: Features, b: Features) -> float:
    """How much of one item's title the other's words hold (the higher of the two ways;
    0.0 where neither has a real title): a post restating a page names what the page's
    title names ("Shaping Places for Well-being programme" in the tweet about it)."""
    best = 0.0
    for one, other in ((a, b), (b, a)):
        words = one.title.split()
        if words:
            best = max(best, sum(w in other.words for w in words) / len(words))
    return best


def links_to_page(a: Features, b: Features) -> bool:
    """One item links to the page the other is (a tweet linking to the website post)."""
    return bool(a.links & b.own_urls or b.links & a.own_urls)


def same_announcement(a: Features, b: Features, cfg: MergeConfig,
                      apart: timedelta = timedelta(0),
                      chance: Callable[[], float] | None = None) -> tuple[bool, str]:
    """Whether two items announce the same thing, and the reason either way; ``apart`` is
    how far apart they were published. ``chance``: how alike ``a`` is to its own source's
    other posts (see :func:`chance_level`), asked only where words decide, alone or with
    a shared key date."""
    apart = abs(apart)
    if apart > cfg.strong_window:
        return False, "too far apart"
    why_not = veto(a, b)
    if why_not:
        return False, why_not
    if links_to_page(a, b):
        return True, "one links to the other's page"
    score, shared = containment(a.words, b.words)
    same_date = (bool(days_of(a.dates) & days_of(b.dates))
                 and score >= cfg.dated_text_threshold and shared >= 4)
    if same_date and chance is not None and score < chance() + cfg.chance_margin:
        # A closing date shared by two of a trust's job adverts, with the same boilerplate,
        # is a coincidence of the calendar: their words must say more than chance too.
        same_date = False
    if apart > cfg.window:
        if same_date:
            return True, f"same key date and similar words ({score:.2f}), weeks apart"
        return False, "weeks apart, and no link or key date in common"
    if a.links & b.links and score >= cfg.link_text_threshold and shared >= 3:
        return True, f"same link and similar words ({score:.2f})"
    if same_date:
        return True, f"same key date and similar words ({score:.2f})"
    similar = (shared >= cfg.min_shared_words and score >= cfg.text_threshold) or (
        shared >= cfg.long_min_shared_words and score >= cfg.long_text_threshold)
    if similar and not (a.dated and b.dated):
        # Undated entries were "published" when collected: one poll of a feed gives them
        # all the same time, so the window is no evidence, and two pages about one
        # programme share most of their words. With one side undated the window says as
        # little (chosen on the corpus's dev split: precision 1.000 against 0.972 when
        # only two undated items needed more).
        if a.title and a.title == b.title:
            return True, f"same title and similar words ({score:.2f}, {shared} shared), undated"
        named = title_share(a, b)
        if not (named >= cfg.undated_title_share and score >= cfg.undated_text_threshold):
            return False, "one is undated, and similar words alone are not enough"
        if chance is not None and score < chance() + cfg.chance_margin:
            return False, (f"no more alike ({score:.2f}) than to its own source's other "
                           f"posts, undated")
        return True, (f"names the other's title ({named:.2f}) and similar words "
                      f"({score:.2f}, {shared} shared), undated")
    if similar and chance is not None:
        level = chance()
        if score < level + cfg.chance_margin:
            return False, (f"no more alike ({score:.2f}) than to its own source's other "
                           f"posts ({level:.2f})")
    if similar:
        return True, f"similar words ({score:.2f}, {shared} shared)"
    return False, f"not similar enough ({score:.2f}, {shared} shared)"


def chance_level(words: frozenset[str], siblings: Iterable[frozenset[str]],
                 rank: int) -> float:
    """How alike a text is to unrelated ones of the same source: its ``rank``-th highest
    containment among its ``siblings``' words (0.0 with fewer than ``rank`` + 1 of them:
    too few to tell chance from a reminder)."""
    scores = sorted((containment(words, s)[0] for s in siblings if s), reverse=True)
    return scores[rank - 1] if len(scores) > rank else 0.0


def index_terms(f: Features, limit: int = 24,
                common: Callable[[str], bool] | None = None) -> list[str]:
    """The terms an item is filed under for finding candidates: its links and own URLs,
    its title's words, and its longest words (long words are the rarer ones), at most
    ``limit``.

    ``common`` says which words not to file under: the taxonomy's own words
    ("leadership", "programme", "collaboration") are long but in every other
    announcement, so each lookup would scan most of the window for them."""
    terms = [f"u:{u}"[:64] for u in sorted(f.own_urls | f.links)]
    wanted = limit - len(terms)
    # The title's words first: a short post about a long page repeats what the page's
    # title names ("100 Leaders", "heart"), rarely its longest words.
    title = [w for w in dict.fromkeys(f.title.split()) if w not in INDEX_SKIP]
    for word in title:
        if wanted > 0 and not (common and common(word)):
            terms.append(word)
            wanted -= 1
    if wanted > 0:
        # Longest first, asking ``common`` only until enough words are taken.
        # (Two sorts in C, alphabetical then stably by length: no key function per word.)
        for word in sorted(sorted(f.words - INDEX_SKIP - set(title)), key=len,
                           reverse=True):
            if not (common and common(word)):
                terms.append(word)
                wanted -= 1
                if not wanted:
                    break
    return [t[:64] for t in terms]
