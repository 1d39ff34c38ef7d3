"""Reminders before key dates (issue #17): rows in ``reminders``, one per (story, target,
key date, days before), planned by :mod:`bot.reminders` and sent through the outbox like
deliveries; and each story's switch (``stories.reminders``), which comms turn off and on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine, Row

from bot.errors import StoreError
from bot.model import Reminder, ReminderStatus
from bot.store._overrides import record_edit
from bot.store.schema import reminders as t_reminders
from bot.store.schema import stories as t_stories


def row_to_reminder(r: Row[Any]) -> Reminder:
    """A ``reminders`` row as the model's Reminder."""
    return Reminder(id=r.id, story_id=r.story_id, target=r.target, what=r.what, day=r.day,
                    days_before=r.days_before, due_at=r.due_at,
                    status=ReminderStatus(r.status), attempts=r.attempts,
                    next_attempt_at=r.next_attempt_at, external_id=r.external_id,
                    last_error=r.last_error, sent_at=r.sent_at)


class RemindersMixin:
    engine: Engine

    def list_reminders(self, *, story_ids: Sequence[int] | None = None,
                       due_before: datetime | None = None,
                       statuses: Sequence[str] | None = None) -> list[Reminder]:
        """Reminders, soonest first: of some stories, due before a time, in some states."""
        c = t_reminders.c
        query = select(t_reminders).order_by(c.due_at, c.story_id, c.target, c.id)
        if story_ids is not None:
            query = query.where(c.story_id.in_(list(story_ids)))
        if due_before is not None:
            query = query.where(c.due_at < due_before)
        if statuses is not None:
            query = query.where(c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return [row_to_reminder(r) for r in conn.execute(query)]

    def set_story_reminders(self, story_id: int, on: bool, *, by: str,
                            now: datetime) -> bool:
        """Switch a story's reminders on or off (kept in its history); True when it changed.
        Off, its planned reminders are cancelled by the next planning (bot.reminders)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(t_stories.c.reminders).where(
                t_stories.c.id == story_id)).first()
            if row is None:
                raise StoreError(f"no story {story_id}")
            if bool(row.reminders) == on:
                return False
            conn.execute(update(t_stories).where(t_stories.c.id == story_id)
                         .values(reminders=on, updated_at=now))
            record_edit(conn, story_id, "reminders", "on" if row.reminders else "off",
                        "on" if on else "off", by, now)
        return True
