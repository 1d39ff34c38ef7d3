"""Key dates pulled from announcement text, with what each date marks.

"Applications for the next cohorts will open on 27 August" gives
``KeyDate("applications-open", 2026-08-27)``, taking the year the post implies:
the year it was published, or the next one when the day would otherwise fall
well before the post (a December post about "14 January"). Only dates whose
meaning is clear from their sentence are kept: applications-open,
applications-close, deadline and event.

A weekday alone is read forward from the day of posting: "this Friday", and "on Thursday"
(or "by", "until", "before Thursday"), are the next such day on or after it (the same
day when posted on one); "next Tuesday" is the same, except that posted on a Tuesday it
is a week on. A weekday with its date ("Thursday 24 September", "this Thursday (24
September)") is that date alone. "On Monday" with nothing after it to say what Monday
marks, or in a sentence told in the past ("was held on Monday"), is no key date: news
reports what happened on a day as often as it announces one.

An event also takes its time and place when its sentence (or, when that has no other
date, the sentence just after or before) says them: ``bot.pipeline.timeplace``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

from bot.model import KeyDate
from bot.pipeline.timeplace import find_parts, find_time, join_places

MONTHS = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
     ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
     ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], start=1) for name in names}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH = r"(?P<month>" + _MONTH_NAMES + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>20\d\d))?"
_WEEKDAY = r"(?:(?P<dow>mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*,?\s+)?"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: A weekday's name, whole or cut short; "this month" and "this satisfies" are no weekday.
_WD = (r"(?:monday|mon|tuesday|tues|tue|wednesday|weds|wed|thursday|thurs|thur|thu|friday|"
       r"fri|saturday|sat|sunday|sun)\b\.?")
#: After a weekday, its date: then the date pattern reads both, as one date.
_ANY_MONTH = r"(?:" + _MONTH_NAMES + r")\b\.?"
_DATE_AFTER = (r"(?![\s,(]*(?:the\s+)?[0-3]?\d(?:st|nd|rd|th)?\b(?:\s+(?:of\s+)?"
               + _ANY_MONTH + r"|/[01]?\d\b))(?![\s,(]*" + _ANY_MONTH + r"\s+[0-3]?\d)")
RELATIVE = re.compile(
    r"\b(?P<rel>today|tonight|tomorrow|tmrw|tmw|"
    r"(?P<which>this|next)\s+(?P<wd>" + _WD + r")" + _DATE_AFTER + r"|"
    r"(?:(?<=\bon )|(?<=\bby )|(?<=\buntil )|(?<=\bbefore ))"
    r"(?P<bare>" + "|".join(_WEEKDAYS) + r")\b" + _DATE_AFTER + r")",
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


def _weekday(name: str) -> int:
    """Monday 0 … Sunday 6, from a weekday's name whole or cut short ("Thurs")."""
    start = name.lower()[:3]
    return next(i for i, day in enumerate(_WEEKDAYS) if day.startswith(start))


def _relative(match: re.Match[str], published: date) -> date | None:
    """"tomorrow", "this Friday", "on Thursday", "next Tuesday", from the day the post was
    published: never before it."""
    rel = match.group("rel").lower()
    if rel in ("today", "tonight"):
        return published
    if rel in ("tomorrow", "tmrw", "tmw"):
        return published + timedelta(days=1)
    target = _weekday(match.group("wd") or match.group("bare"))
    ahead = (target - published.weekday()) % 7
    if ahead == 0 and (match.group("which") or "").lower() == "next":
        ahead = 7
    return published + timedelta(days=ahead)


def _month(match: re.Match[str]) -> int | None:
    text = match.group("month")
    return int(text) if text.isdigit() else MONTHS.get(text.lower())


def _year_later(matches: list[re.Match[str]], n: int) -> int | None:
    """The year a year-less date at ``n`` takes from the next date of its sentence that
    gives one ("opens 9 June and closes 29 August 2025": 2025), if it can be that year."""
    month = _month(matches[n])
    for later in matches[n + 1:]:
        if "rel" in later.re.groupindex:
            continue
        if later.group("year"):
            year = int(later.group("year"))
            later_month = _month(later)
            if month and later_month:
                return year if month <= later_month else year - 1
            return None
    return None


def _to_date(match: re.Match[str], published: date, year_hint: int | None = None
             ) -> date | None:
    if "rel" in match.re.groupindex:
        return _relative(match, published)
    month = _month(match)
    if not month:
        return None
    day = int(match.group("day"))
    year_text = match.group("year")
    if not year_text and year_hint is not None:
        try:
            return date(year_hint, month, day)
        except ValueError:
            return None
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
    return _on_its_weekday(match, found, published) if not year_text else found


#: How far from the post a weekday may move a year-less date (the weekday is often wrong).
_WEEKDAY_REACH = (timedelta(days=180), timedelta(days=550))


def _on_its_weekday(match: re.Match[str], found: date, published: date) -> date:
    """A year-less date written with its weekday ("Thursday 24 September") is in the
    year, of those next to the one guessed, where that day is that weekday, if that year
    is near the post (else the weekday is a slip, and the guess stands)."""
    dow = match.groupdict().get("dow")
    if not dow:
        return found
    wanted = _weekday(dow)
    for year in (found.year, found.year - 1, found.year + 1):
        try:
            candidate = found.replace(year=year)
        except ValueError:
            continue
        if candidate.weekday() == wanted and (
                published - _WEEKDAY_REACH[0] <= candidate <= published + _WEEKDAY_REACH[1]):
            return candidate
    return found


#: Every date pattern needs a digit; a relative date needs one of these words. A sentence with
#: neither has no date, and is not searched (most sentences: this is most of the saving).
#: "day" stands for every weekday's whole name.
_MAYBE_RELATIVE = ("today", "tonight", "tomorrow", "tmrw", "tmw", "this", "next", "day")
_MAYBE_RELATIVE_IN = re.compile("|".join(_MAYBE_RELATIVE))  # any of them, as a substring
#: A sentence told in the past: its "on Monday" is a day gone by, not one to come.
_PAST = re.compile(r"\b(was|were|had|did|took|spoke|said|announced|launched|met|attended|"
                   r"celebrated|hosted|visited|yesterday|ago|earlier|last)\b", re.IGNORECASE)


@dataclass
class _Found:
    """One date read from a sentence, before its time and place are looked for."""

    date: KeyDate
    sentence: int  # its index in the text's sentences
    # Both whole, not cut to a length: a cut could leave half a name ("Pres" of Preston).
    before: str  # the words since the previous date in the sentence
    after: str  # the words up to the next date in the sentence
    alone: bool  # the only date in its sentence


@lru_cache(maxsize=1024)
def extract_dates(text: str, published_at: datetime) -> tuple[KeyDate, ...]:
    """Dates with a clear meaning in ``text``, in order of appearance, without repeats;
    events with their time and place when the text gives them. Cached: merging and story
    composition ask about the same text."""
    published = published_at.date()
    found: list[_Found] = []
    sentences = _SENTENCE.split(text)
    dated: set[int] = set()  # the sentences that hold a date
    previous = ""
    for index, sentence in enumerate(sentences):
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
        if ordered:
            dated.add(index)
        for n, match in enumerate(ordered):
            hint = (_year_later(ordered, n) if "rel" not in match.re.groupindex
                    and not match.group("year") else None)
            when = _to_date(match, published, hint)
            if when is None:
                continue
            # The words that belong to this date: those since the previous date, else
            # those up to the next one ("27 August is when applications open").
            before = sentence[ordered[n - 1].end() if n else 0: match.start()]
            after = sentence[match.end(): ordered[n + 1].start() if n + 1 < len(ordered)
                             else len(sentence)]
            prefix = before[-160:]
            if "rel" in match.re.groupindex and match.group("bare"):
                # "on Thursday": only with its cue just before, and not in a past story.
                what = None if _PAST.search(sentence) else _cue(prefix, sentence)
            else:
                what = _cue(prefix, sentence) or (_cue(after[:80], sentence) if not n else None)
                if what is None and "rel" in match.re.groupindex:
                    what = "event"  # "See you tmrw!", "this Friday, 12.30": the day it happens
            if what is None and not n and not prefix.strip() and "rel" not in match.re.groupindex:
                # "… our webinar on fairer recruitment. Weds 16 Sept, 12-1pm." — a sentence
                # that is just the date takes its meaning from the one before.
                what = _cue(previous[-160:], previous + " " + sentence)
            if (what is None and "rel" not in match.re.groupindex and not _PAST.search(sentence)
                    and find_time(after[:40]) is not None):
                # "Breakfast on Thursday 24 September, 8am to 9am": a day with its hours is
                # when something happens.
                what = "event"
            if what:
                found.append(_Found(KeyDate(what, when, " ".join(sentence.split())[:200]),
                                    index, before, after, len(ordered) == 1))
        previous = sentence
    return _without_repeats(_with_time_and_place(found, sentences, dated))


def _without_repeats(found: list[KeyDate]) -> tuple[KeyDate, ...]:
    """The first of each (what, date), with the time and place of a later mention when the
    first has none."""
    kept: dict[tuple[str, date], KeyDate] = {}
    for kd in found:
        first = kept.setdefault((kd.what, kd.date), kd)
        if first is not kd and (first.at_time is None or first.place is None):
            kept[kd.what, kd.date] = replace(first, at_time=first.at_time or kd.at_time,
                                             place=first.place or kd.place)
    return tuple(kept.values())


def _with_time_and_place(found: list[_Found], sentences: list[str],
                         dated: set[int]) -> list[KeyDate]:
    """Each event with the time and place its own words give, else those of the sentence
    after it (or before it, for a date that opens its sentence) when that sentence has no
    date of its own and the event is the only date in its sentence. Words before and after
    the date that disagree give neither: no place beats a wrong one."""
    out: list[KeyDate] = []
    for f in found:
        if f.date.what != "event":
            out.append(f.date)
            continue
        at_time = _agreed(find_time(f.after), find_time(f.before))
        parts = [find_parts(f.after), find_parts(f.before)]
        venue, town, online = (_agreed(a, b) for a, b in zip(*parts, strict=True))
        if f.alone:
            # The sentence after; the one before only when the date opens its sentence
            # ("… our webinar on fair pay. Weds 16 Sept, 12-1pm.").
            near = [sentences[i] for i in (f.sentence + 1, f.sentence - 1)
                    if 0 <= i < len(sentences) and i not in dated
                    and (i > f.sentence or not f.before.strip())]
            for other in near:
                at_time = at_time or find_time(other)
                more = find_parts(other)
                if not venue and (more[0] or (more[1] and not town)):
                    venue, town = more[0], town or more[1]
                online = online or more[2]
        out.append(replace(f.date, at_time=at_time, place=join_places(venue, town, online)))
    return out


def _agreed(a: str | None, b: str | None) -> str | None:
    """One answer from two places to look: either, or both when they are the same."""
    return a if b is None or a == b else b if a is None else None
