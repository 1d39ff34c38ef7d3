"""Reminders before key dates (issue #17): which reminders a story should have, and why not.

Planning is a pure function of plain values (:func:`desired_reminders`): for each key date
of a story whose kind ``[reminders] days_before`` names, one reminder per number of days
before it, due at ``[reminders] at`` local time ([worker] timezone) on that day, for each
target that (a) has a delivery row for the story, (b) is not the digest (its "Closing soon"
section is the digest's own), (c) has a channel that sends reminders, and (d) is not
switched off by the routes (a routed story whose every route to that target says
``reminders = false``). A story held, merged away or switched off has none.

What is wanted becomes rows in ``reminders`` through :func:`plan`, which the dispatcher
runs every cycle before it sends (``Store.reconcile_reminders``): rows no longer wanted are
cancelled with why in plain words, new ones planned, cancelled ones wanted again planned
again. Rows are planned rather than computed at send time so that each reminder is sent
once (its row is claimed like an outbox delivery), can be listed before it goes
(``herald reminders``) and keeps why it did not go.

Catching up: when several reminders of one date are due at once (the worker was down, the
target paused), only the latest goes; a reminder first planned more than an hour after its
time (its date came by a merge or an edit: ``bot.store._reminders.LATE``) does not go; an
event's day-of reminder goes an hour before it starts when it starts before ``at`` + 1
hour, and never once it has started.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import RemindersConfig, RouteConfig
from bot.model import KeyDate, Story
from bot.pipeline.route import route
from bot.release import DIGEST

#: How long before an event that starts early in the day its day-of reminder goes.
EVENT_LEAD = timedelta(hours=1)


@dataclass(frozen=True)
class Wanted:
    """One reminder a story should have."""

    story_id: int
    target: str
    what: str
    day: date
    days_before: int
    due_at: datetime

    @property
    def key(self) -> tuple[int, str, str, date, int]:
        return self.story_id, self.target, self.what, self.day, self.days_before


@dataclass(frozen=True)
class StoryPlan:
    """A story's wanted reminders, and why the others it has (or had) are not wanted: a
    reason for the whole story, or per target, or per (what, day)."""

    wanted: tuple[Wanted, ...]
    story_reason: str | None = None
    target_reasons: Mapping[str, str] | None = None
    dates: tuple[tuple[str, date], ...] = ()
    #: (what, day) whose day has passed; (target, what, day, days_before) due before the
    #: original post went out.
    passed: frozenset[tuple[str, date]] = frozenset()
    early: frozenset[tuple[str, str, date, int]] = frozenset()
    #: (what, day) of events already under way; (target, what, day, days_before) due at
    #: the same time as a later reminder of the same date (a worker that was down).
    started: frozenset[tuple[str, date]] = frozenset()
    superseded: frozenset[tuple[str, str, date, int]] = frozenset()
    #: The targets the story has a delivery row for.
    reaching: frozenset[str] = frozenset()

    def why_not(self, target: str, what: str, day: date, days_before: int) -> str:
        """Why a reminder this story has is no longer wanted, in plain words."""
        if self.story_reason:
            return self.story_reason
        if self.target_reasons and target in self.target_reasons:
            return self.target_reasons[target]
        if target not in self.reaching:
            return f"the story no longer goes to {target}"
        if (what, day) in self.passed:
            return "its date passed before it could go"
        if (what, day) in self.started:
            return "the event had started before it could go"
        if (target, what, day, days_before) in self.superseded:
            return "a later reminder of the same date went instead"
        if (target, what, day, days_before) in self.early:
            return "the post itself went out after this reminder's time"
        if (what, day) not in self.dates:
            moved = sorted(d for w, d in self.dates if w == what)
            if moved:
                return f"the date changed to {moved[0]:%a} {moved[0].day} {moved[0]:%b}"
            return "the story no longer has this date"
        return f"no reminder is configured {days_before} days before {what}"


def due_time(day: date, days_before: int, at: str, timezone: str) -> datetime:
    """The UTC moment of ``at`` (local "HH:MM" in ``timezone``) ``days_before`` days before
    ``day``. A time the clocks skip (a spring-forward gap) becomes the next valid minute; a
    time they pass twice, the first."""
    zone = ZoneInfo(timezone)
    hours, minutes = (int(p) for p in at.split(":"))
    local = datetime.combine(day - timedelta(days=days_before), time(hours, minutes),
                             tzinfo=zone)
    for _ in range(24 * 60):
        back = local.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) == local.replace(tzinfo=None):
            return local.astimezone(UTC)
        local = (local.replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=zone)
    return local.astimezone(UTC)  # pragma: no cover - no zone skips a whole day


_START = re.compile(r"^\s*([01]?\d|2[0-3])[:.]([0-5]\d)")


def event_start(kd: KeyDate, timezone: str) -> datetime | None:
    """When an event starts (UTC), where its text gave a time ("09:30–13:00")."""
    m = _START.match(kd.at_time or "") if kd.what == "event" else None
    if m is None:
        return None
    local = datetime.combine(kd.date, time(int(m.group(1)), int(m.group(2))),
                             tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def reminder_due(kd: KeyDate, days_before: int, config: RemindersConfig,
                 timezone: str) -> datetime:
    """When the reminder ``days_before`` ``kd`` goes: ``[reminders] at`` that day, or, on
    the day of an event that starts earlier than an hour after it, an hour before it
    starts (an event at 07:30 is not reminded at 09:00)."""
    due = due_time(kd.date, days_before, config.at, timezone)
    start = event_start(kd, timezone) if days_before == 0 else None
    if start is not None and start - EVENT_LEAD < due:
        return start - EVENT_LEAD
    return due


def routes_allow(story: Story, target: str, routes: Iterable[RouteConfig]) -> bool:
    """False when a routed story reaches ``target`` only by routes that say
    ``reminders = false`` (no matching route at all: the rules say nothing, allowed)."""
    routes = tuple(routes)

    def sends(chosen: Iterable[RouteConfig]) -> bool:
        return bool(route(domains=story.domains, kind=story.kind,
                          programmes=story.programmes, sources=story.sources,
                          routes=chosen, enabled_targets={target}))

    if not sends(routes):
        return True
    return sends(r for r in routes if r.reminders)


def desired_reminders(story: Story, *, merged_into: int | None,
                      originals: Mapping[str, datetime | None], config: RemindersConfig,
                      timezone: str, reminding: Collection[str],
                      routes: Sequence[RouteConfig], today: date,
                      now: datetime | None = None,
                      dead: Collection[str] = ()) -> StoryPlan:
    """The reminders ``story`` should have now. ``originals``: its delivery rows by target
    (when the post there went out, None until it has);
    ``reminding``: the targets whose channel sends reminders; ``today``: the local date;
    ``now``: when several reminders of one date are due at once (a worker that was down),
    only the latest of them is wanted, and an event under way is reminded no more;
    ``dead``: targets where the story's post was given up (nothing to remind of there)."""
    dates = tuple((kd.what, kd.date) for kd in story.dates)
    story_reason = None
    if not config.enabled:
        story_reason = "reminders are switched off in the config"
    elif merged_into is not None:
        story_reason = f"merged into story {merged_into}"
    elif story.hold:
        story_reason = "the story was held"
    elif not story.reminders:
        story_reason = "reminders switched off for this story"
    if story_reason or story.id is None:
        return StoryPlan((), story_reason, None, dates)
    target_reasons: dict[str, str] = {}
    targets: list[str] = []
    for name in sorted(originals):
        if name == DIGEST:
            target_reasons[name] = "the digest shows closing dates itself"
        elif name not in reminding:
            target_reasons[name] = f"{name} does not send reminders"
        elif name in dead:
            target_reasons[name] = f"the post to {name} was given up (see herald outbox)"
        elif story.targets is not None and name not in story.targets:
            target_reasons[name] = f"the story is not approved for {name}"
        elif story.targets is None and not routes_allow(story, name, routes):
            target_reasons[name] = f"the route to {name} does not send reminders"
        else:
            targets.append(name)
    wanted: list[Wanted] = []
    started: set[tuple[str, date]] = set()
    for kd in story.dates:
        start = event_start(kd, timezone)
        if now is not None and start is not None and now >= start:
            started.add((kd.what, kd.date))
            continue
        for n in config.days_before.get(kd.what, []):
            due = reminder_due(kd, n, config, timezone)
            for name in targets:
                wanted.append(Wanted(story.id, name, kd.what, kd.date, n, due))
    keep: list[Wanted] = []
    passed: set[tuple[str, date]] = set()
    early: set[tuple[str, str, date, int]] = set()
    for w in wanted:
        sent_at = originals[w.target]
        if w.day < today:
            passed.add((w.what, w.day))
        elif sent_at is not None and w.due_at < sent_at:
            early.add((w.target, w.what, w.day, w.days_before))
        else:
            keep.append(w)
    superseded: set[tuple[str, str, date, int]] = set()
    if now is not None:
        latest: dict[tuple[str, str, date], Wanted] = {}
        for w in keep:
            group = (w.target, w.what, w.day)
            if w.due_at <= now and (group not in latest or w.due_at > latest[group].due_at):
                latest[group] = w
        superseded = {(w.target, w.what, w.day, w.days_before) for w in keep
                      if w.due_at <= now and latest[(w.target, w.what, w.day)] is not w}
        keep = [w for w in keep if (w.target, w.what, w.day, w.days_before) not in superseded]
    return StoryPlan(tuple(keep), None, target_reasons, dates, passed=frozenset(passed),
                     early=frozenset(early), reaching=frozenset(originals),
                     started=frozenset(started), superseded=frozenset(superseded))

