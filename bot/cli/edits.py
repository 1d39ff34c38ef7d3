"""``herald stories edit`` and ``herald stories history``: comms' edits of a collected story
from the terminal (the web app's edit page, for scripts), kept through later polls and
recorded with who and when."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer

from bot.cli._base import ConfigOpt, JsonOpt, _escape, out, stories_app, with_herald
from bot.model import KeyDate
from bot.store._overrides import check_key_date

StoryArg = Annotated[int, typer.Argument(metavar="STORY_ID", help="The story's id.")]


#: After WHAT:DAY: a time (a range too: 09:30-13:00), then the place after a colon.
_TIME_PLACE = re.compile(r"(\d{1,2}:\d{2}(?:\s*[-–]\s*\d{1,2}:\d{2})?)(?::(.*))?", re.S)


def _key_date(value: str, n: int) -> KeyDate:
    """``WHAT:YYYY-MM-DD[:TIME[:PLACE]]``, e.g. ``event:2026-09-24:09:30-13:00:Preston``;
    checked as every edit path checks it (a time that is not one: exit 2, naming it)."""
    what, _, rest = value.partition(":")
    day, _, rest = rest.partition(":")
    at_time, place = None, None
    if rest:
        # A time holds a colon itself (09:30): the place follows it.
        m = _TIME_PLACE.fullmatch(rest)
        at_time, place = (m.group(1), m.group(2)) if m else (rest, None)
    return check_key_date(what, day, at_time, place, f"--date {n + 1}")


@stories_app.command("edit")
def stories_edit(story_id: StoryArg,
                 by: Annotated[str, typer.Option("--by", help="Who is editing it.")] = "cli",
                 title: Annotated[str | None, typer.Option(help="A new title.")] = None,
                 summary: Annotated[str | None, typer.Option(help="A new summary.")] = None,
                 date: Annotated[list[str] | None, typer.Option(
                     "--date", help="A key date WHAT:YYYY-MM-DD[:HH:MM[-HH:MM][:PLACE]] (24-hour "
                                    "time); repeat for several. Given, they replace the "
                                    "story's key dates.")]
                 = None,
                 no_dates: Annotated[bool, typer.Option(
                     "--no-dates", help="Remove every key date.")] = False,
                 programme: Annotated[list[str] | None, typer.Option(
                     "--programme", help="A programme slug; repeat for several. Given, they "
                                         "replace the story's programmes.")] = None,
                 no_programmes: Annotated[bool, typer.Option(
                     "--no-programmes", help="Remove every programme.")] = False,
                 config: ConfigOpt = None) -> None:
    """Edit a story's title, summary, key dates or programmes; kept through later polls."""
    programmes = [] if no_programmes else (programme or None)

    def go(h: Any) -> Any:
        # Read the dates inside with_herald: a bad one is one line naming it, not a trace.
        dates = [] if no_dates else (
            [_key_date(v, n) for n, v in enumerate(date)] if date else None)
        return h.store.edit_story(story_id, by=by, ctx=h.routing, now=h.clock.now(),
                                  title=title, summary=summary, dates=dates,
                                  programmes=programmes)

    stats = with_herald(config, go)
    changed = "changed" if stats.updated_stories else "unchanged (nothing new)"
    out.print(f"story {story_id} {changed}")


@stories_app.command("history")
def stories_history(story_id: StoryArg, config: ConfigOpt = None,
                    json_out: JsonOpt = False) -> None:
    """Every change made to a story by hand: when, who, what, before and after."""
    rows = with_herald(config, lambda h: (h.store.get_story(story_id),
                                          h.store.story_history(story_id))[1])
    if json_out:
        typer.echo(json.dumps([{"field": r.field, "before": r.before, "after": r.after,
                                "by": r.by, "at": r.at.isoformat(),
                                "announcement_id": r.announcement_id} for r in rows], indent=2))
        return
    if not rows:
        out.print(f"story {story_id} has no changes by hand")
    for r in rows:
        out.print(_escape(f"{r.at:%Y-%m-%d %H:%M}Z {r.by}: {r.field}: "
                          f"{r.before or '—'} → {r.after or '—'}"))
