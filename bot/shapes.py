"""The JSON shapes of what Herald shows scripts: one model per thing, used by the web app's
JSON API (its response models, so the OpenAPI schema) and by the command line's ``--json``
(``dump``). A story, a delivery or a feed reads the same from either face.

Times are ISO 8601 in UTC (``2026-08-20T09:00:00Z``); a feed's address is redacted (no
password, no secret query value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from bot.durations import format_duration
from bot.model import Delivery, Reminder, ReminderStatus, Story
from bot.urls import redact_url

if TYPE_CHECKING:
    from bot.store import SourceRow, TargetPause


class TargetPausedOut(BaseModel):
    """A target paused because it refused Herald's credentials (``bot.pause``)."""

    since: datetime
    reason: str
    next_try: datetime | None = Field(description="when the worker tries one delivery again")


class DeliveryOut(BaseModel):
    id: int
    story_id: int
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    external_id: str | None = Field(description="the message's id at the target (Slack: "
                                                 "channel:ts), once sent")
    release_at: datetime | None = Field(description="not sent before this time")
    target_paused: TargetPausedOut | None = Field(
        default=None, description="set while the delivery's target is paused (it refused "
                                  "Herald's credentials)")

    @classmethod
    def of(cls, d: Delivery, paused: TargetPause | None = None) -> DeliveryOut:
        return cls(id=d.id, story_id=d.story_id, target=d.target, status=d.status.value,
                   attempts=d.attempts, next_attempt_at=d.next_attempt_at, sent_at=d.sent_at,
                   last_error=d.last_error, external_id=d.external_id,
                   release_at=d.release_at,
                   target_paused=TargetPausedOut(since=paused.paused_at, reason=paused.reason,
                                                 next_try=paused.next_probe_at)
                   if paused else None)


class TagOut(BaseModel):
    group: str
    slug: str
    reason: str
    manual: bool


class KeyDateOut(BaseModel):
    what: str
    date: date
    at_time: str | None
    place: str | None
    passed: bool = Field(description="the date is before today (in the worker's timezone)")


class ReminderOut(BaseModel):
    """A reminder before a story's key date at one target (issue #17)."""

    id: int
    target: str
    what: str = Field(description="the key date's kind, e.g. applications-close")
    day: date = Field(description="the key date")
    days_before: int
    due_at: datetime
    status: str = Field(description="planned, in_flight, sent, failed, dead or cancelled")
    reason: str | None = Field(description="why it was cancelled, or its last error")

    @classmethod
    def of(cls, r: Reminder) -> ReminderOut:
        return cls(id=r.id, target=r.target, what=r.what, day=r.day,
                   days_before=r.days_before, due_at=r.due_at, status=r.status.value,
                   reason=r.last_error)


class ReminderRowOut(ReminderOut):
    """A reminder with its story, as ``herald reminders --json`` lists it."""

    story_id: int
    story_title: str


class ItemOut(BaseModel):
    source: str
    url: str | None
    title: str
    published_at: datetime


class StoryOut(BaseModel):
    id: int
    title: str
    summary: str
    url: str | None
    kind: str
    held: bool
    revision: int
    first_seen: datetime
    updated_at: datetime
    tags: list[TagOut]
    dates: list[KeyDateOut]
    items: list[ItemOut]
    deliveries: list[DeliveryOut]
    reminders_on: bool = Field(default=True, description="comms have not switched off "
                                                          "this story's reminders")
    reminders: list[ReminderOut] = Field(
        default_factory=list, description="its reminders not yet sent (planned, in flight "
                                          "or failed), soonest first")

    @classmethod
    def of(cls, s: Story, deliveries: Iterable[Delivery], today: date,
           reminders: Iterable[Reminder] = ()) -> StoryOut:
        """``today`` decides which key dates have passed; ``reminders``: the story's
        (only those still to go are shown)."""
        return cls(id=s.id or 0, title=s.title, summary=s.summary, url=s.url, kind=s.kind,
                   held=s.hold, revision=s.revision, first_seen=s.first_seen,
                   updated_at=s.updated_at,
                   tags=[TagOut(group=t.group.value, slug=t.slug, reason=t.reason,
                                manual=t.manual) for t in s.tags],
                   dates=[KeyDateOut(what=d.what, date=d.date, at_time=d.at_time,
                                     place=d.place, passed=d.date < today) for d in s.dates],
                   items=[ItemOut(source=i.source, url=i.url, title=i.title,
                                  published_at=i.published_at) for i in s.items],
                   deliveries=[DeliveryOut.of(d) for d in deliveries],
                   reminders_on=s.reminders,
                   reminders=[ReminderOut.of(r) for r in reminders if r.status in _TO_GO])


#: The reminders a story shows: those still to go.
_TO_GO = (ReminderStatus.PLANNED, ReminderStatus.IN_FLIGHT, ReminderStatus.FAILED)


def stories_out(stories: Sequence[Story], deliveries: Mapping[int, list[Delivery]],
                today: date, reminders: Mapping[int, list[Reminder]] | None = None
                ) -> list[StoryOut]:
    """Stories with their deliveries (``Store.deliveries_for``) and reminders
    (``reminders_by_story``)."""
    return [StoryOut.of(s, deliveries.get(s.id or 0, []), today,
                        (reminders or {}).get(s.id or 0, [])) for s in stories]


def reminders_by_story(found: Iterable[Reminder]) -> dict[int, list[Reminder]]:
    """Reminders grouped by story, in the order given."""
    grouped: dict[int, list[Reminder]] = {}
    for r in found:
        grouped.setdefault(r.story_id, []).append(r)
    return grouped


class FeedOut(BaseModel):
    name: str
    origin: str = Field(description="config (the config file) or database (feeds add, "
                                    "the web app)")
    type: str
    url: str = Field(description="redacted: no password or secret query value")
    every: str
    enabled: bool
    paused: bool
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None
    last_error: str | None
    error_count: int
    display_name: str | None = Field(default=None, description="what people call the "
                                     "feed; null: its name")
    last_error_plain: str | None = Field(default=None, description="last_error in plain "
                                         "words")
    warnings: list[str] = Field(default_factory=list, description="what the last changed "
                                "poll skipped, ignored or cut: bad items, hostile HTML")

    @classmethod
    def of(cls, r: SourceRow) -> FeedOut:
        from bot.sources.plain import plain_error

        return cls(name=r.name, origin=r.origin, type=r.kind, url=redact_url(r.url),
                   every=format_duration(r.every), enabled=r.enabled, paused=r.paused,
                   last_polled_at=r.last_polled_at, last_ok_at=r.last_ok_at,
                   next_poll_at=r.next_poll_at, last_error=r.last_error,
                   error_count=r.error_count, display_name=r.display_name,
                   last_error_plain=plain_error(r.last_error).words if r.last_error
                   else None, warnings=r.warnings)


def dump(shapes: Iterable[BaseModel]) -> str:
    """A list of shapes as the command line's ``--json`` prints it."""
    return json.dumps([s.model_dump(mode="json") for s in shapes], indent=2,
                      ensure_ascii=False)
