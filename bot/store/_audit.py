"""Comms' edits of a collected story (title, summary, key dates, programmes), kept as
overrides that every compose applies, and the audit trail of every change.

An override lives in ``story_overrides`` and is laid over what the story's items say each time
the story is composed (``apply_overrides``, called by the ingest's compose), so a later poll
never undoes it, as manual tags already work. Every change, tags included, writes one
``story_edits`` row per field: before, after, by whom, when. A change readers see (title,
summary, key dates, programmes) raises the story's revision, so a channel that edits what it
sent (Slack) shows it on the message already posted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from bot.errors import InvalidEdit, StoreError
from bot.model import KeyDate, TagGroup
from bot.store._edits import EditsMixin
from bot.store._ingest import IngestStats, RoutingContext
from bot.store._overrides import (
    _overrides,
    clean_key_date,
    dates_to_json,
    edit_text,
    record_edit,
    shown_dates,
)
from bot.store.schema import story_edits as t_edits
from bot.store.schema import story_overrides as t_over

TEXT_MAX = {"title": 300, "summary": 4000}


@dataclass(frozen=True)
class StoryEdit:
    """One row of a story's history."""

    id: int
    story_id: int
    announcement_id: int | None
    field: str
    before: str | None
    after: str | None
    by: str
    at: datetime


class AuditMixin(EditsMixin):

    def edit_story(self, story_id: int, *, by: str, ctx: RoutingContext, now: datetime,
                   title: str | None = None, summary: str | None = None,
                   dates: list[KeyDate] | None = None,
                   programmes: list[str] | None = None) -> IngestStats:
        """Set what is given (None: left as it is) as comms' override of the story. The
        values are compared with what the story shows now: only a real change is kept and
        recorded, and it raises the story's revision (readers see it). Text loses its
        control characters; a value Herald cannot keep (an empty title, a key date's time
        that is not 24-hour "09:30" or "09:30–13:00") is InvalidEdit naming the field."""
        known = ctx.taxonomy.slugs("programme")
        for p in programmes or ():
            if p not in known:
                raise StoreError(f"programme {p!r} is not one of: {', '.join(known)}")
        values: dict[str, str] = {}
        for name, text in (("title", title), ("summary", summary)):
            if text is None:
                continue
            # Without control characters (a title on one line): no NUL for PostgreSQL, no
            # escape, bell or stray CR LF for a post, a card, a calendar or a page.
            text = edit_text(text, lines=name == "summary")
            if not text:
                raise InvalidEdit(f"the {name} is empty")
            if len(text) > TEXT_MAX[name]:
                raise InvalidEdit(f"the {name} is longer than {TEXT_MAX[name]} characters")
            values[name] = text
        if dates is not None:  # whichever way they came (API, form, CLI), checked here too
            dates = [clean_key_date(d, f"key date {n + 1}") for n, d in enumerate(dates)]
        stats = IngestStats()
        with self.engine.begin() as conn:
            self._story_row(conn, story_id)
            shown = self._stored_content(
                conn, self._story_row(conn, story_id))
            changed: list[tuple[str, str, str, str]] = []  # field, stored, before, after
            for name, text in values.items():
                if getattr(shown, name) != text:
                    changed.append((name, text, getattr(shown, name), text))
            if dates is not None:
                new = tuple(sorted(dict.fromkeys(dates), key=lambda d: (d.date, d.what)))
                old = shown.dates
                if shown_dates(new) != shown_dates(old):
                    changed.append(("dates", dates_to_json(new), shown_dates(old),
                                    shown_dates(new)))
            if programmes is not None:
                new_p = list(dict.fromkeys(programmes))
                old_p = [t.slug for t in shown.tags if t.group is TagGroup.PROGRAMME]
                if sorted(new_p) != sorted(old_p):
                    changed.append(("programmes", json.dumps(new_p),
                                    ", ".join(old_p) or "(none)", ", ".join(new_p) or "(none)"))
            if not changed:
                return stats
            for name, stored, before, after in changed:
                conn.execute(delete(t_over).where(t_over.c.story_id == story_id,
                                                  t_over.c.field == name))
                conn.execute(t_over.insert().values(story_id=story_id, field=name,
                                                    value=stored, set_by=by, set_at=now))
                record_edit(conn, story_id, name, before, after, by, now)
            self._recompose(conn, story_id, False, ctx, now, stats,
                            force_revision=True)
        return stats

    def story_history(self, story_id: int) -> list[StoryEdit]:
        """Every recorded change of a story, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t_edits).where(t_edits.c.story_id == story_id)
                                .order_by(t_edits.c.at.desc(), t_edits.c.id.desc())).all()
        return [StoryEdit(r.id, r.story_id, r.announcement_id, r.field, r.before, r.after,
                          r.by, r.at) for r in rows]

    def story_overrides(self, story_id: int) -> dict[str, str]:
        """The fields comms set by hand on a story, and who set them."""
        with self.engine.connect() as conn:
            return {f: r.set_by for f, r in _overrides(conn, story_id).items()}
