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
DATE_PATTERNS = (
    re.compile(_WEEKDAY + _DAY + r"\s+(?:of\s+)?" + _MONTH + _YEAR + r"\b", re.IGNORECASE),
    re.compile(_WEEKDAY + _MONTH + r"\s+" + _DAY + _YEAR + r"\b", re.IGNORECASE),
    re.compile(r"\b(?P<year>20\d\d)-(?P<month>\d\d)-(?P<day>\d\d)\b"),
    re.compile(r"\b(?P<day>[0-3]?\d)/(?P<month>[01]?\d)/(?P<year>20\d\d)\b"),
)
#: How far before the post a year-less date may fall and still be this year's.
PAST_SLACK = timedelta(days=60)

_APPLY = r"(applications?|apply|places?|registration|register|booking|bookings|nominations?|" \
         r"expressions? of interest|enrol\w*|sign[- ]?ups?|cohorts?)"
CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("applications-close", re.compile(
        _APPLY + r"\b.{0,60}\b(clos\w*|deadline|until|by|ends?|last (chance|day))\b"
        r"|\b(clos\w*|deadline|last (chance|day)).{0,60}" + _APPLY
        + r"|\bclosing date\b", re.IGNORECASE)),
    ("applications-open", re.compile(
        _APPLY + r"\b.{0,60}\bopen\w*|\bopen\w*\b.{0,60}" + _APPLY, re.IGNORECASE)),
    ("deadline", re.compile(r"\b(deadline|due|no later than|submit\w*)\b", re.IGNORECASE)),
    ("event", re.compile(
        r"\b(conference|webinar|masterclass|workshop|event|session|celebration|summit|"
        r"festival|seminar|meet[- ]?up|join us|takes? place|taking place|held)\b",
        re.IGNORECASE)),
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z#@])|\n+")


def _to_date(match: re.Match[str], published: date) -> date | None:
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


def extract_dates(text: str, published_at: datetime) -> tuple[KeyDate, ...]:
    """Dates with a clear meaning in ``text``, in order of appearance, without repeats."""
    published = published_at.date()
    found: list[KeyDate] = []
    seen: set[tuple[str, date]] = set()
    for sentence in _SENTENCE.split(text):
        spans: list[tuple[int, re.Match[str]]] = []
        for pattern in DATE_PATTERNS:
            for m in pattern.finditer(sentence):
                if not any(s <= m.start() < e for s, e in ((x.start(), x.end()) for _, x in spans)):
                    spans.append((m.start(), m))
        for _, match in sorted(spans, key=lambda pair: pair[0]):
            when = _to_date(match, published)
            if when is None:
                continue
            context = sentence[max(0, match.start() - 120): match.end() + 40]
            for what, cue in CUES:
                if cue.search(context):
                    if (what, when) not in seen:
                        seen.add((what, when))
                        found.append(KeyDate(what, when, " ".join(sentence.split())[:200]))
                    break
    return tuple(found)
