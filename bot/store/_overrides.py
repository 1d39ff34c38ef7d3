"""Comms' overrides of a story (title, summary, key dates, programmes), laid over what its
items say at every compose (``apply_overrides``), so a later poll never undoes them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.errors import StoreError
from bot.model import KeyDate, Tag, TagGroup
from bot.pipeline.story import StoryContent
from bot.store.schema import story_edits as t_edits
from bot.store.schema import story_overrides as t_over

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


def check_key_date(what: str, day: str, at_time: str | None, place: str | None,
                   where: str) -> KeyDate:
    """A key date from form or API fields, or StoreError naming the field and ``where``."""
    what = what.strip()
    if what not in DATE_WHATS:
        raise StoreError(f"{where}: what the date marks must be one of: {', '.join(DATE_WHATS)}")
    try:
        day_value = date.fromisoformat(day.strip())
    except ValueError:
        raise StoreError(f"{where}: {day!r} is not a date (YYYY-MM-DD)") from None
    at_time = (at_time or "").strip() or None
    place = " ".join((place or "").split()) or None
    if at_time is not None and len(at_time) > 32:
        raise StoreError(f"{where}: the time is longer than 32 characters")
    if place is not None and len(place) > 300:
        raise StoreError(f"{where}: the place is longer than 300 characters")
    return KeyDate(what, day_value, "set by comms", at_time, place)


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
