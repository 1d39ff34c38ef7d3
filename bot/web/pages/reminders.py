"""A story's reminders on its page (issue #17): the per-story switch
(``POST /stories/{id}/reminders``, kept in the story's history) and the reminders the worker
planned for it, each with its target, key date, when it goes and how it went.

The page only flips ``stories.reminders``; the worker's planner (:mod:`bot.reminders`)
cancels a story's planned reminders on its next round when the switch is off, and plans them
again when it is back on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot.model import Delivery, Reminder, Story
from bot.release import DIGEST
from bot.web.app import NOTICES, RowId, WebContext
from bot.web.blocking import FormBody
from bot.web.pages._common import _str, back, posted

router = APIRouter(include_in_schema=False)

#: A key date's meaning (``story_dates.what``) as the panel says it.
WHAT_WORDS = {"applications-open": "Applications open",
              "applications-close": "Applications close",
              "deadline": "Deadline", "event": "Event"}


@dataclass(frozen=True)
class ReminderRow:
    """One reminder as the panel shows it: the words, and the times for ``| when``."""

    reminder: Reminder
    date_words: str  # "Applications close Fri 18 Dec"
    before_words: str  # "7 days before", "on the day"


def date_words(what: str, day: date, today: date) -> str:
    """"Applications close Fri 18 Dec" (with the year when it is not this year's)."""
    year = "" if day.year == today.year else f" {day.year}"
    label = WHAT_WORDS.get(what, what.replace("-", " ").capitalize())
    return f"{label} {day:%a} {day.day} {day:%b}{year}"


def before_words(days: int) -> str:
    if days == 0:
        return "on the day"
    return f"{days} day{'' if days == 1 else 's'} before"


def why_none(ctx: WebContext, story: Story, deliveries: list[Delivery], today: date) -> str:
    """In plain words, why a story has no reminders (the first reason that holds)."""
    if not ctx.herald.settings.config.reminders.enabled:
        return ("Reminders are turned off for the whole site "
                "([reminders] enabled = false in the config).")
    if not story.reminders:
        return "Reminders are off for this story."
    if not any(d.date >= today for d in story.dates):
        return "This story has no key dates to come, so there is nothing to remind of."
    if story.hold:
        return "The story is stopped from being posted, so nothing reminds of it."
    if not any(d.sent_at is not None and d.target != DIGEST for d in deliveries):
        return ("The story has not been sent anywhere yet: reminders are planned once it "
                "is posted.")
    return ("None planned: no route sends reminders for this story's dates, or the worker "
            "has not planned them yet (it does within a minute).")


def reminders_panel(ctx: WebContext, story: Story, deliveries: list[Delivery],
                    today: date) -> dict[str, Any]:
    """What the story page's "Reminders" panel needs (``_reminders.html.j2``)."""
    assert story.id is not None
    found = ctx.store.list_reminders(story_ids=[story.id])
    rows = [ReminderRow(r, date_words(r.what, r.day, today), before_words(r.days_before))
            for r in found]
    return {"reminder_rows": rows, "reminders_on": story.reminders,
            "reminders_site_on": ctx.herald.settings.config.reminders.enabled,
            "reminders_none": "" if rows else why_none(ctx, story, deliveries, today)}


@router.post("/stories/{story_id}/reminders")
def story_reminders(request: Request, form: FormBody, story_id: RowId) -> Response:
    """The switch: the checkbox ``reminders`` ticked is on, left out is off."""
    ctx, session, form = posted(request, form)
    on = _str(form, "reminders") == "on"
    changed = ctx.store.set_story_reminders(story_id, on, by=session.user.email,
                                            now=ctx.now())
    if not changed:
        return back(f"/stories/{story_id}", "reminders-unchanged")
    return back(f"/stories/{story_id}", "reminders-on" if on else "reminders-off")


NOTICES.update({
    "reminders-on": "Reminders on for this story: the worker plans them on its next round.",
    "reminders-off": "Reminders off for this story. Planned reminders are cancelled within "
                     "a minute.",
    "reminders-unchanged": "Reminders unchanged: the switch was already that way.",
})
