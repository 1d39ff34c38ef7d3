"""Key dates pulled from announcement text, with what each date marks.

"Applications for the next cohorts will open on 27 August" gives
``KeyDate("applications-open", 2026-08-27)``, taking the year the post implies:
the year it was published, or the next one when the day would otherwise fall
well before the post (a December post about "14 January"). Only dates whose
meaning is clear from their sentence are kept: applications-open,
applications-close, deadline and event.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache

from bot.model import KeyDate

MONTHS = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
     ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
     ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], start=1) for name in names}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>20\d\d))?"
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*,?\s+)?"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RELATIVE = re.compile(
    r"\b(?P<rel>today|tonight|tomorrow|tmrw|tmw|"
    r"(?P<which>this|next)\s+(?P<wd>mon|tue|tues|wed|weds|thu|thur|thurs|fri|sat|sun)[a-z]*)\b",
    re.IGNORECASE)
DATE_PATTERNS = (
    re.compile(_WEEKDAY + _DAY + r"\s+(?:of\s+)?" + _MONTH + _YEAR + r"\b", re.IGNORECASE),
    re.compile(_WEEKDAY + _MONTH + r"\s+" + _DAY + _YEAR + r"\b", re.IGNORECASE),
    re.compile(r"\b(?P<year>20\d\d)-(?P<month>\d\d)-(?P<day>\d\d)\b"),
    re.compile(r"\b(?P<day>[0-3]?\d)/(?P<month>[01]?\d)/(?P<year>20\d\d)\b"),
)
#: How far before the post a year-less date may fall and still be this year's.
PAST_SLACK = timedelta(days=60)

APPLY = re.compile(
    r"\b(applications?|apply|applying|places?|registration|register|booking|bookings|"
    r"nominations?|expressions? of interest|enrol\w*|sign[- ]?ups?|cohorts?)\b", re.IGNORECASE)
CLOSE = re.compile(r"\b(clos(e|es|ed|ing)|deadline|ends?|last (chance|day)|no later than)\b",
                   re.IGNORECASE)
CLOSE_JUST_BEFORE = re.compile(r"\b(by|until|before)\s+(\w+day,?\s+)?(the\s+)?$",
                               re.IGNORECASE)
OPEN = re.compile(r"\b(open|opens|opening|reopens?|launch(es)?)\b", re.IGNORECASE)
CLOSING_DATE = re.compile(r"\bclosing date\b", re.IGNORECASE)
DEADLINE = re.compile(r"\b(deadline|due|no later than|submit\w*)\b", re.IGNORECASE)
EVENT = re.compile(
    r"\b(conference|webinar|masterclass|workshop|event|session|celebration|summit|"
    r"festival|seminar|meet[- ]?up|join us|takes? place|taking place|held)\b", re.IGNORECASE)


def _cue(prefix: str, sentence: str) -> str | None:
    """What a date marks, from the words just before it (``prefix``, the text since the
    previous date) and, for the subject, the whole sentence."""
    about_applying = bool(APPLY.search(sentence))
    if CLOSING_DATE.search(prefix):
        return "applications-close"
    if about_applying and (CLOSE.search(prefix) or CLOSE_JUST_BEFORE.search(prefix)):
        return "applications-close"
    if CLOSE.search(prefix[-25:]):
        return "applications-close"  # "Closing Fri 10 April: …", "closes 5pm this Friday"
    if about_applying and OPEN.search(prefix):
        return "applications-open"
    if DEADLINE.search(prefix) or CLOSE_JUST_BEFORE.search(prefix):
        return "deadline"
    if EVENT.search(prefix):
        return "event"
    return None


_DIGIT = re.compile(r"\d")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z#@])|\n+")


def _relative(match: re.Match[str], published: date) -> date | None:
    """"tomorrow", "this Friday", "next Tuesday", from the day the post was published."""
    rel = match.group("rel").lower()
    if rel in ("today", "tonight"):
        return published
    if rel in ("tomorrow", "tmrw", "tmw"):
        return published + timedelta(days=1)
    wd = match.group("wd").lower()[:3]
    target = next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(wd))
    ahead = (target - published.weekday()) % 7
    if match.group("which").lower() == "next" and ahead == 0:
        ahead = 7
    return published + timedelta(days=ahead)


def _to_date(match: re.Match[str], published: date) -> date | None:
    if "rel" in match.re.groupindex:
        return _relative(match, published)
    month_text = match.group("month")
    month = int(month_text) if month_text.isdigit() else MONTHS.get(month_text.lower())
    if not month:
        return None
    day = int(match.group("day"))
    year_text = match.group("year")
    year = int(year_text) if year_text else published.year
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    if not year_text and found < published - PAST_SLACK:
        try:
            found = date(year + 1, month, day)
        except ValueError:
            return None
    return found


#: Every date pattern needs a digit; a relative date needs one of these words. A sentence with
#: neither has no date, and is not searched (most sentences: this is most of the saving).
_MAYBE_RELATIVE = ("today", "tonight", "tomorrow", "tmrw", "tmw", "this", "next")
_MAYBE_RELATIVE_IN = re.compile("|".join(_MAYBE_RELATIVE))  # any of them, as a substring


@lru_cache(maxsize=1024)
def extract_dates(text: str, published_at: datetime) -> tuple[KeyDate, ...]:
    """Dates with a clear meaning in ``text``, in order of appearance, without repeats.
    Cached: merging and story composition ask about the same text."""
    published = published_at.date()
    found: list[KeyDate] = []
    seen: set[tuple[str, date]] = set()
    previous = ""
    for sentence in _SENTENCE.split(text):
        digits = _DIGIT.search(sentence) is not None
        if not digits and not _MAYBE_RELATIVE_IN.search(sentence.casefold()):
            previous = sentence
            continue
        spans: list[tuple[int, re.Match[str]]] = []
        # Every DATE_PATTERNS pattern needs a digit.
        for pattern in (*DATE_PATTERNS, RELATIVE) if digits else (RELATIVE,):
            for m in pattern.finditer(sentence):
                if not any(s <= m.start() < e for s, e in ((x.start(), x.end()) for _, x in spans)):
                    spans.append((m.start(), m))
        ordered = [m for _, m in sorted(spans, key=lambda pair: pair[0])]
        for n, match in enumerate(ordered):
            when = _to_date(match, published)
            if when is None:
                continue
            # The words that belong to this date: those since the previous date, else
            # those up to the next one ("27 August is when applications open").
            prefix = sentence[ordered[n - 1].end() if n else 0: match.start()][-160:]
            after = sentence[match.end(): ordered[n + 1].start() if n + 1 < len(ordered)
                             else len(sentence)][:80]
            what = _cue(prefix, sentence) or (_cue(after, sentence) if not n else None)
            if what is None and "rel" in match.re.groupindex:
                what = "event"  # "See you tmrw!", "this Friday, 12.30": the day it happens
            if what is None and not n and not prefix.strip():
                # "… our webinar on fairer recruitment. Weds 16 Sept, 12-1pm." — a sentence
                # that is just the date takes its meaning from the one before.
                what = _cue(previous[-160:], previous + " " + sentence)
            if what and (what, when) not in seen:
                seen.add((what, when))
                found.append(KeyDate(what, when, " ".join(sentence.split())[:200]))
        previous = sentence
    return tuple(found)
