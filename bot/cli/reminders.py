"""``herald reminders``: the reminders before key dates, planned and (with ``--all``) past."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bot.cli._base import ConfigOpt, JsonOpt, _escape, app, fail, out, with_herald
from bot.durations import parse_duration
from bot.model import Reminder, ReminderStatus
from bot.shapes import ReminderOut, ReminderRowOut, dump

_WAITING = (ReminderStatus.PLANNED.value, ReminderStatus.IN_FLIGHT.value,
            ReminderStatus.FAILED.value)


def reminder_line(r: Reminder, title: str, zone: ZoneInfo) -> str:
    """"Fri 11 Dec 09:00  story 12 Mary Seacole Programme  → slack-news  applications-close
    Fri 18 Dec (7 days before)  planned"; a cancelled one says why."""
    due = r.due_at.astimezone(zone)
    before = "that day" if r.days_before == 0 else (
        "1 day before" if r.days_before == 1 else f"{r.days_before} days before")
    line = (f"{due:%a %d %b %Y %H:%M}  story {r.story_id} {title}  → {r.target}  "
            f"{r.what} {r.day:%a %d %b} ({before})  {r.status.value}")
    if r.last_error and r.status is not ReminderStatus.PLANNED:
        line += f": {r.last_error}"
    return line


@app.command("reminders")
def reminders(config: ConfigOpt = None,
              due: Annotated[str, typer.Option(
                  "--due", help="Planned reminders due within this long, e.g. 7d, 36h.")]
              = "7d",
              show_all: Annotated[bool, typer.Option(
                  "--all", help="Every reminder in every state: sent, and cancelled with "
                                "why.")] = False,
              as_json: JsonOpt = False) -> None:
    """The reminders before stories' key dates: due time (local), story, target, which date,
    and where each stands."""
    try:
        window = parse_duration(due)
    except ValueError as exc:
        raise fail(f"--due: {exc}", 2) from None

    def read(h: Any) -> tuple[list[Reminder], dict[int, str], str]:
        now: datetime = h.clock.now()
        found = h.store.list_reminders() if show_all else h.store.list_reminders(
            due_before=now + window, statuses=_WAITING)
        ids = sorted({r.story_id for r in found})
        titles = {s.id: s.title for s in h.store.list_stories(ids=ids)} if ids else {}
        return found, titles, h.settings.config.worker.timezone

    found, titles, timezone = with_herald(config, read)
    if as_json:
        print(dump(ReminderRowOut(**ReminderOut.of(r).model_dump(), story_id=r.story_id,
                                  story_title=titles.get(r.story_id, ""))
                   for r in found))
        return
    if not found:
        out.print("No reminders" + ("." if show_all else f" due within {due}."))
        return
    zone = ZoneInfo(timezone)
    for r in found:
        out.print(_escape(reminder_line(r, titles.get(r.story_id, ""), zone)),
                  soft_wrap=True)
