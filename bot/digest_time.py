"""The digest and time: a story's key date beside its title with the days left, the mark
of a story whose deadlines and events are all gone, and the two sections that lead the
email, "Closing soon" and "Opening soon".

``today`` is always the local date in ``[digest] timezone``, from the injected clock. The
key date is channels._post's (the next date to come of the ones the kind cares most
about), so a story whose applications closed but whose event is next week is not closed:
its key date is the event. A story is *passed* only when no date of it is still to come
and one of its deadlines or events is gone; a story whose only date was the opening of
applications is not (applications opened, nothing closed). All text returned here is
plain: the templates escape it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from bot.model import KeyDate, Story
from bot.text import one_line
from channels._post import CALENDAR, date_text, key_date, when

#: The dates "Closing soon" lists and whose countdown reads "n days left".
CLOSING = ("applications-close", "deadline")
#: The mark beside the title of a story whose last deadline or event has gone.
PASSED_MARK = {"applications-close": "Closed", "deadline": "Closed", "event": "Took place"}
#: How far ahead a key date shows its days left, and "Closing soon" looks, by default.
WINDOW = timedelta(days=14)
SOON_MAX = 10


def http_link(url: str | None) -> str | None:
    """A story's URL if it is http(s); anything else (javascript:, data:) is no link."""
    return url if url and url.startswith(("https://", "http://")) else None


def days_left(kd: KeyDate, today: date) -> str:
    """'today', 'tomorrow', then '3 days left' for a closing date or 'in 3 days' for an
    opening or an event; '' for a date gone."""
    n = (kd.date - today).days
    if n < 0:
        return ""
    if n <= 1:
        return "today" if n == 0 else "tomorrow"
    return f"{n} days left" if kd.what in CLOSING else f"in {n} days"


def within(kd: KeyDate, today: date, window: timedelta) -> bool:
    """Whether ``kd`` is from today to ``window`` ahead (both ends included)."""
    return 0 <= (kd.date - today).days <= window.days


def key_date_text(story: Story, today: date, window: timedelta = WINDOW) -> str:
    """'📅 Applications close Fri 18 Dec — 3 days left' (the count only within ``window``),
    '📅 Applications closed Mon 7 Sep' for a date gone, '' for a story without dates."""
    kd = key_date(story, today)
    if kd is None:
        return ""
    line = f"{CALENDAR} {date_text(kd, today)}"
    return f"{line} — {days_left(kd, today)}" if within(kd, today, window) else line


def passed_mark(story: Story, today: date) -> str:
    """'Closed' or 'Took place' when the story's key date is gone (so no date of it is to
    come) and it had a deadline or an event, by the latest of those; '' otherwise."""
    kd = key_date(story, today)
    if kd is None or kd.date >= today:
        return ""
    gone = [d for d in story.dates if d.what in PASSED_MARK]
    return PASSED_MARK[max(gone, key=lambda d: d.date).what] if gone else ""


@dataclass(frozen=True)
class SoonEntry:
    """One line of "Closing soon" or "Opening soon"."""

    when: str
    day: date
    what: str
    title: str
    url: str | None
    #: An event's time and place, when its text gave them: "09:30–13:00, Preston".
    at: str = ""
    #: "3 days left", "tomorrow", "today" (Closing soon only).
    left: str = ""


def _entry(story: Story, kd: KeyDate, today: date, left: str = "") -> SoonEntry:
    at = ", ".join(part for part in (kd.at_time, kd.place) if part)
    return SoonEntry(when(kd.date, today), kd.date, kd.what.replace("-", " ").capitalize(),
                     one_line(story.title), http_link(story.url), one_line(at), left)


def _sorted(entries: Iterable[SoonEntry], limit: int) -> tuple[SoonEntry, ...]:
    return tuple(sorted(entries, key=lambda e: (e.day, e.title))[:limit])


def closing_soon(stories: Iterable[Story], today: date, window: timedelta = WINDOW,
                 allowed: Callable[[Story], bool] = lambda _s: True,
                 limit: int = SOON_MAX) -> tuple[SoonEntry, ...]:
    """Applications closing and deadlines from today to ``window`` ahead, soonest first,
    each with its days left, of the stories ``allowed`` lets the digest remind."""
    return _sorted((_entry(s, kd, today, days_left(kd, today))
                    for s in stories if allowed(s)
                    for kd in s.dates if kd.what in CLOSING and within(kd, today, window)),
                   limit)


def opening_soon(stories: Iterable[Story], today: date,
                 limit: int = SOON_MAX) -> tuple[SoonEntry, ...]:
    """Applications opening and events (any date that is not a closing one) from today
    on, soonest first: a date gone by is not "soon", whatever it marks."""
    return _sorted((_entry(s, kd, today) for s in stories
                    for kd in s.dates if kd.what not in CLOSING and kd.date >= today), limit)
