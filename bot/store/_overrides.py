"""Comms' overrides of a story (title, summary, key dates, programmes), laid over what its
items say at every compose (``apply_overrides``), so a later poll never undoes them."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.errors import InvalidEdit
from bot.model import KeyDate, Tag, TagGroup
from bot.pipeline.story import StoryContent
from bot.store.schema import story_edits as t_edits
from bot.store.schema import story_overrides as t_over
from bot.text import clean_text, one_line

#: What a key date may mark (bot.pipeline.dates reads the same four from text).
DATE_WHATS = ("applications-open", "applications-close", "deadline", "event")


def dates_to_json(dates: tuple[KeyDate, ...] | list[KeyDate]) -> str:
    return json.dumps([{"what": d.what, "date": d.date.isoformat(), "at_time": d.at_time,
                        "place": d.place} for d in dates])


def dates_from_json(value: str) -> tuple[KeyDate, ...]:
    return tuple(KeyDate(d["what"], date.fromisoformat(d["date"]), "set by comms",
                         d.get("at_time"), d.get("place")) for d in json.loads(value))


def shown_dates(dates: tuple[KeyDate, ...] | list[KeyDate]) -> str:
    """Key dates as one line of text for the history: ``event 2026-09-24 09:30 (Preston)``."""
    return "; ".join(" ".join(filter(None, (d.what, d.date.isoformat(), d.at_time,
                                            f"({d.place})" if d.place else None)))
                     for d in dates) or "(none)"


#: What bot.text.clean_text leaves that no edit may keep either: C1 controls (CSI, NEL…)
#: and lone surrogates (which no database can store).
_MORE_CONTROL = re.compile(r"[\x80-\x9f\ud800-\udfff]")
#: A key date's time as Herald writes the ones it reads (bot.pipeline.timeplace.find_time):
#: 24-hour "09:30", or a range "09:30–13:00" ("-" too).
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?:\s*[-–]\s*(\d{1,2}):(\d{2}))?")
PLACE_MAX = 300


def edit_text(text: str, *, lines: bool = False) -> str:
    """Comms' text without control characters: one line (a title, a place, a time), or
    with its line breaks (``lines``: a summary; CR LF read as one)."""
    text = clean_text(_MORE_CONTROL.sub("", text))
    return text if lines else one_line(text)


def _time(value: str, where: str) -> str:
    """``value`` as "09:30" or "09:30–13:00", or InvalidEdit naming ``where``."""
    m = _TIME.fullmatch(value)
    parts = [int(g) for g in m.groups() if g is not None] if m else []
    hours, minutes = parts[0::2], parts[1::2]
    if not m or any(h > 23 for h in hours) or any(n > 59 for n in minutes):
        raise InvalidEdit(f"{where}: the time (at_time) {value!r} is not a 24-hour time "
                          "such as 09:30 or 09:30–13:00")
    times = [f"{h:02d}:{n:02d}" for h, n in zip(hours, minutes, strict=True)]
    if len(times) == 2 and times[0] >= times[1]:
        raise InvalidEdit(f"{where}: the time (at_time) {value!r} ends before it starts")
    return "–".join(times)


def clean_key_date(kd: KeyDate, where: str) -> KeyDate:
    """A key date comms set, checked and cleaned: what it marks one of DATE_WHATS, its time
    24-hour (else InvalidEdit naming ``where`` and the field), its place one line without
    control characters. The store's last line for every edit path (API, form, CLI)."""
    what = kd.what.strip()
    if what not in DATE_WHATS:
        raise InvalidEdit(f"{where}: what the date marks must be one of: "
                          f"{', '.join(DATE_WHATS)}")
    at_time = edit_text(kd.at_time or "") or None
    place = edit_text(kd.place or "") or None
    if at_time is not None:
        at_time = _time(at_time, where)
    if place is not None and len(place) > PLACE_MAX:
        raise InvalidEdit(f"{where}: the place is longer than {PLACE_MAX} characters")
    return KeyDate(what, kd.date, "set by comms", at_time, place)


def check_key_date(what: str, day: str, at_time: str | None, place: str | None,
                   where: str) -> KeyDate:
    """A key date from form, API or CLI fields, or InvalidEdit naming the field and
    ``where``."""
    try:
        day_value = date.fromisoformat(day.strip())
    except ValueError:
        raise InvalidEdit(f"{where}: {edit_text(day)!r} is not a date (YYYY-MM-DD)") from None
    return clean_key_date(KeyDate(what, day_value, "set by comms", at_time, place), where)


def _overrides(conn: Connection, story_id: int) -> dict[str, Any]:
    return {r.field: r for r in conn.execute(
        select(t_over).where(t_over.c.story_id == story_id))}


def apply_overrides(conn: Connection, story_id: int, content: StoryContent) -> StoryContent:
    """``content`` with comms' overrides of this story laid over it (none: unchanged)."""
    found = _overrides(conn, story_id)
    if not found:
        return content
    changes: dict[str, Any] = {}
    if "title" in found:
        changes["title"] = found["title"].value
    if "summary" in found:
        changes["summary"] = found["summary"].value
    if "dates" in found:
        changes["dates"] = tuple(sorted(dates_from_json(found["dates"].value),
                                        key=lambda d: (d.date, d.what)))
    if "programmes" in found:
        row = found["programmes"]
        rules = {t.slug: t for t in content.tags if t.group is TagGroup.PROGRAMME}
        chosen = [replace(rules[s], manual=True) if s in rules
                  else Tag(TagGroup.PROGRAMME, s, f"set by {row.set_by}", True)
                  for s in json.loads(row.value)]
        changes["tags"] = (*(t for t in content.tags if t.group is not TagGroup.PROGRAMME),
                           *chosen)
    return replace(content, **changes)


def record_edit(conn: Connection, story_id: int, field: str, before: str | None,
                after: str | None, by: str, now: datetime,
                announcement_id: int | None = None) -> None:
    """One row of the audit trail (nothing when the value did not change)."""
    if before == after:
        return
    conn.execute(t_edits.insert().values(
        story_id=story_id, announcement_id=announcement_id, field=field,
        before=None if before is None else before[:4000],
        after=None if after is None else after[:4000], by=by, at=now))
