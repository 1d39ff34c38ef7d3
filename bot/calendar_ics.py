"""The published stories' key dates as an iCalendar (RFC 5545) that staff subscribe to.

One ``VEVENT`` per key date (``story_dates``): all day (``DTEND`` the next day) when the
text gives no time, else at its time in ``[worker] timezone`` with that zone's
``VTIMEZONE``. Its ``UID`` is stable per (story, what the date marks, its place among the
story's dates of that kind) at the host of ``[digest] base_url``, so a date that moves
stays one event; its ``SEQUENCE`` rises each time what the event shows changes
(``calendar_events``: a fingerprint per UID, ``Store.calendar_versions``), and ``DTSTAMP``
is when that last happened, so the same data always gives the same bytes (and ETag).

Feed text is untrusted: the ``icalendar`` library escapes ``,;\\`` and newlines in text
values and folds long lines, and titles and places are made one line first, so no text
can start a property of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration

from bot.published import Entry, Site, date_line, one_line, what_words
from bot.store._published import EventVersion

PRODID = "-//Herald//Key dates//EN"
#: How often a subscribed client should look again (Outlook and others read these).
REFRESH = timedelta(hours=1)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?:\s*[–—-]\s*(\d{1,2}):(\d{2}))?")


@dataclass(frozen=True)
class CalendarEvent:
    """What one VEVENT shows, before its version is known."""

    uid: str
    story_id: int
    summary: str
    description: str
    day: date
    start: time | None
    end: time | None
    location: str | None
    url: str | None
    categories: tuple[str, ...]

    def fingerprint(self) -> str:
        shown = {k: str(v) if v is not None else None for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def times(at_time: str | None) -> tuple[time | None, time | None]:
    """'09:30–13:00' -> (09:30, 13:00); '14:00' -> (14:00, None); else (None, None). An
    end not after the start is dropped."""
    found = _TIME.fullmatch((at_time or "").strip())
    if not found:
        return None, None
    try:
        start = time(int(found.group(1)), int(found.group(2)))
        end = time(int(found.group(3)), int(found.group(4))) if found.group(3) else None
    except ValueError:
        return None, None
    return start, end if end is not None and end > start else None


def summary_of(what: str, title: str) -> str:
    """'Applications close: <title>'; an event is its title."""
    return title if what == "event" else f"{what_words(what)}: {title}"


def description_of(entry: Entry, site: Site) -> str:
    """Plain text: the summary, every key date of the story, its link and its tags."""
    lines = [entry.summary, ""] if entry.summary else []
    lines += [date_line(kd) for kd in entry.dates]
    if entry.link:
        lines += ["", entry.link]
    tags = [site.label(slug) for _group, slug in entry.tags()]
    if tags:
        lines += ["", "Tags: " + ", ".join(tags)]
    return "\n".join(lines)


def events_of(entries: list[Entry], site: Site) -> list[CalendarEvent]:
    """Every key date of the entries, as events, in a stable order."""
    found: list[CalendarEvent] = []
    for entry in entries:
        seen: dict[str, int] = {}
        description = description_of(entry, site)
        categories = tuple(site.label(slug) for group, slug in entry.tags()
                           if group in ("kind", "domain"))
        for kd in entry.dates:
            seen[kd.what] = seen.get(kd.what, 0) + 1
            start, end = times(kd.at_time)
            found.append(CalendarEvent(
                uid=f"story-{entry.id}-{kd.what}-{seen[kd.what]}@{site.host}",
                story_id=entry.id, summary=summary_of(kd.what, entry.title),
                description=description, day=kd.date, start=start, end=end,
                location=one_line(kd.place) if kd.place else None, url=entry.link,
                categories=categories))
    return sorted(found, key=lambda e: (e.day, e.uid))


def render(events: list[CalendarEvent], versions: dict[str, EventVersion], site: Site,
           name: str) -> bytes:
    """The VCALENDAR: ``versions`` gives each event's SEQUENCE and DTSTAMP."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-caldesc", f"Key dates in the announcements of {site.name}")
    cal.add("x-wr-timezone", site.timezone)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    zone = ZoneInfo(site.timezone)
    for ev in events:
        version = versions[ev.uid]
        vevent = Event()
        vevent.add("uid", ev.uid)
        vevent.add("dtstamp", version.changed_at)
        vevent.add("last-modified", version.changed_at)
        vevent.add("sequence", version.sequence)
        if ev.start is None:
            vevent.add("dtstart", ev.day)
            vevent.add("dtend", ev.day + timedelta(days=1))
            vevent.add("transp", "TRANSPARENT")  # an all-day date does not make one busy
        else:
            vevent.add("dtstart", datetime.combine(ev.day, ev.start, zone))
            if ev.end is not None:
                vevent.add("dtend", datetime.combine(ev.day, ev.end, zone))
        vevent.add("summary", ev.summary)
        vevent.add("description", ev.description)
        if ev.location:
            vevent.add("location", ev.location)
        if ev.url:
            vevent.add("url", ev.url)
        if ev.categories:
            vevent.add("categories", list(ev.categories))
        cal.add_component(vevent)
    timed = [ev.day for ev in events if ev.start is not None]
    if timed:
        cal.add_missing_timezones(first_date=min(timed) - timedelta(days=366),
                                  last_date=max(timed) + timedelta(days=366))
    return cal.to_ical()
