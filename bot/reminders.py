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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import RemindersConfig, RouteConfig
from bot.model import Story
from bot.pipeline.route import route
from bot.release import DIGEST


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
                      routes: Sequence[RouteConfig], today: date) -> StoryPlan:
    """The reminders ``story`` should have now. ``originals``: its delivery rows by target
    (when the post there went out, None until it has);
    ``reminding``: the targets whose channel sends reminders; ``today``: the local date."""
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
        elif story.targets is not None and name not in story.targets:
            target_reasons[name] = f"the story is not approved for {name}"
        elif story.targets is None and not routes_allow(story, name, routes):
            target_reasons[name] = f"the route to {name} does not send reminders"
        else:
            targets.append(name)
    wanted: list[Wanted] = []
    for kd in story.dates:
        for n in config.days_before.get(kd.what, []):
            due = due_time(kd.date, n, config.at, timezone)
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
    return StoryPlan(tuple(keep), None, target_reasons, dates, frozenset(passed),
                     frozenset(early), frozenset(originals))

