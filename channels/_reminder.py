"""How a reminder before a key date reads, the same in every place (issue #17): one short
plain-text sentence worded from what the date marks, the thing's name and the days left.

    Applications for the Mary Seacole Programme close this Friday, 18 December — 3 days left
    Applications for the Mary Seacole Programme close today — last day to apply
    The deadline for “Coaching pool: join us” is on Monday 4 January 2027 — 32 days left
    “Leading change masterclass” is today, 09:30–13:00, the Brew House, Preston
    Applications for the Ready Now programme open tomorrow, Thursday 27 August

The day reads "today", "tomorrow, Friday 18 December", "this Friday, 18 December" (within
six days) or "on Friday 18 December" (further; with the year when it is not this year's),
counted from ``today`` (the channel context's clock in the worker's timezone). A date
already gone when the reminder is drawn reads as gone ("closed on …", "passed on …",
"took place on …"), never as "−2 days left".

The thing's name: for applications and deadlines, the label of the story's programme when
it has one that is known and its title names ("the Mary Seacole Programme"); otherwise,
and for events (an event of a programme is not the programme), the story's title in
quotes, cut to :data:`NAME_MAX`. A story without a title reads without a name
("Applications close today — last day to apply"). The date's time and place come from the
story's matching key date; when that is gone (the story changed since the reminder was
planned), the reminder's own ``day`` and ``what`` are used. Everything here is unescaped:
each channel escapes for its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from bot.model import KeyDate, Reminder, Story
from channels._text import fit

__all__ = ["NAME_MAX", "ReminderText", "day_phrase", "long_day", "reminder_text",
           "web_url"]

#: A title longer than this is cut at a word (with "…") so the line stays a line.
NAME_MAX = 100
#: An event's time ("09:30–13:00") is short; anything longer is cut to this.
TIME_MAX = 40
#: Dates whose sentence names the programme, when the story has one (not events).
NAMED_BY_PROGRAMME = frozenset({"applications-open", "applications-close", "deadline"})
#: Within this many days a date reads "this Friday"; further, "on Friday 18 December".
THIS_WEEK = 6
DASH = " — "


@dataclass(frozen=True)
class ReminderText:
    """A reminder's words and the facts they came from (all unescaped)."""

    #: The sentence: "Applications for … close this Friday, 18 December — 3 days left".
    line: str
    #: The thing named in it, as shown ("the Mary Seacole Programme", "“Title”"), or "".
    name: str
    #: The story's title as the original post showed it (cut), or "" when it has none.
    title: str
    what: str
    day: date
    #: Days from today to the date; negative once it is gone.
    days_left: int
    at_time: str | None = None
    place: str | None = None
    #: The story's address when it is a web (http/https) one, else None.
    url: str | None = None

    @property
    def passed(self) -> bool:
        return self.days_left < 0


def long_day(day: date, today: date) -> str:
    """'Friday 18 December', with the year when it is not this year's."""
    text = f"{day:%A} {day.day} {day:%B}"
    return f"{text} {day.year}" if day.year != today.year else text


def day_phrase(day: date, today: date) -> str:
    """When ``day`` is, seen from ``today``: 'today', 'tomorrow, Friday 18 December',
    'this Friday, 18 December' (within six days), 'on Friday 18 December' (further or
    gone)."""
    days = (day - today).days
    if days == 0:
        return "today"
    if days == 1:
        return f"tomorrow, {long_day(day, today)}"
    if 1 < days <= THIS_WEEK:
        return f"this {day:%A}, {day.day} {day:%B}"
    return f"on {long_day(day, today)}"


def web_url(url: str | None) -> str | None:
    """The address when it is an http(s) one (the only kind a post links to)."""
    return url if url and url.startswith(("https://", "http://")) else None


def _matching(story: Story, reminder: Reminder) -> KeyDate | None:
    return next((kd for kd in story.dates
                 if kd.what == reminder.what and kd.date == reminder.day), None)


def _programme_name(story: Story, labels: Mapping[str, str]) -> str:
    """'the Mary Seacole Programme' for a programme label ending in "programme"; 'Ready Now'
    as it is; '' when the story has no programme with a known label that its title names.
    A programme only mentioned in the text ("alumni of the Mary Seacole Programme are
    welcome") is tagged too, but the date is not that programme's: the title decides."""
    title = " ".join(story.title.split()).casefold()
    for slug in story.programmes:
        label = " ".join((labels.get(slug) or "").split())
        if label and label.casefold() in title:
            words = label.split()
            if words[-1].lower() in ("programme", "programmes", "program") \
                    and words[0].lower() != "the":
                return f"the {label}"
            return label
    return ""


def _left(what: str, days: int) -> str:
    """The days-left tail for applications closing and deadlines ('' for other dates)."""
    if what == "applications-close":
        return "last day to apply" if days == 0 else \
            "1 day left" if days == 1 else f"{days} days left"
    if what == "deadline" and days > 0:
        return "1 day left" if days == 1 else f"{days} days left"
    return ""


def _sentence(what: str, name: str, day: date, today: date, extra: str) -> str:
    days = (day - today).days
    when = day_phrase(day, today)
    gone = f"on {long_day(day, today)}"
    of = f" for {name}" if name else ""
    if what == "applications-close":
        line = (f"Applications{of} closed {gone}" if days < 0
                else f"Applications{of} close {when}")
    elif what == "applications-open":
        line = (f"Applications{of} opened {gone}" if days < 0
                else f"Applications{of} open {when}")
    elif what == "deadline":
        line = (f"The deadline{of} passed {gone}" if days < 0
                else f"The deadline{of} is {when}")
    elif what == "event":
        subject = name or "The event"
        line = (f"{subject} took place {gone}" if days < 0
                else f"{subject} is {when}{extra}")
    else:  # a meaning this module does not know: said plainly
        label = what.replace("-", " ").strip().capitalize() or "The date"
        line = (f"{label}{of} was {gone}" if days < 0 else f"{label}{of} is {when}")
    left = _left(what, days) if days >= 0 else ""
    return f"{line}{DASH}{left}" if left else line


def reminder_text(story: Story, reminder: Reminder, today: date,
                  labels: Mapping[str, str] | None = None) -> ReminderText:
    """The words of ``reminder`` for ``story``, seen from ``today`` (the worker's local
    day); ``labels`` maps tag slugs to display labels (ChannelContext.labels)."""
    kd = _matching(story, reminder)
    title = fit(" ".join(story.title.split()), NAME_MAX)
    name = _programme_name(story, labels or {}) if reminder.what in NAMED_BY_PROGRAMME \
        else ""
    if not name and title:
        name = f"\u201c{title}\u201d"
    at_time = fit(" ".join(kd.at_time.split()), TIME_MAX) if kd and kd.at_time else None
    place = fit(" ".join(kd.place.split()), NAME_MAX) if kd and kd.place else None
    extra = "".join(f", {part}" for part in (at_time, place) if part)
    line = _sentence(reminder.what, name, reminder.day, today, extra)
    return ReminderText(line=line, name=name, title=title, what=reminder.what,
                        day=reminder.day, days_left=(reminder.day - today).days,
                        at_time=at_time, place=place, url=web_url(story.url))
