"""Sending reminders (issue #17): plan, then claim due reminders and send them.

Each cycle first plans (:mod:`bot.reminders`: rows wanted, rows cancelled with why), then
claims due reminders like the outbox claims deliveries (a lease, the attempt counted, an
expired lease handed out ``reclaimed``). The gate is asked at the claim and again at the
lease renewal just before each send, so a story held between the two is not reminded. A
reminder goes to the target's channel (``render_reminder``, ``send_reminder``) with the
story's original delivery there (Slack replies in its thread). Failures retry with the
worker's policy; a rate limit or refused credentials give the claim back uncounted (a
target paused by :mod:`bot.pause` is skipped); one target's failure never stops another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.clock import Clock, local_date
from bot.config import RemindersConfig, RouteConfig
from bot.errors import ChannelError, RateLimited, TargetAuthError, TransientSendError
from bot.model import Delivery, Story
from bot.pause import refused, waiting_reason
from bot.reminders import StoryPlan, Wanted, desired_reminders
from bot.retry import RetryPolicy
from bot.store import Store
from bot.store._reminders import ReminderClaim
from channels import BaseChannel

log = logging.getLogger("herald.reminders")


@dataclass
class ReminderStats:
    planned: int = 0
    cancelled: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    #: Due, but their target is paused (it refused Herald's credentials).
    held: int = 0
    errors: list[str] = field(default_factory=list)


class ReminderSender:
    """Plans and sends the reminders of the configured targets."""

    def __init__(self, store: Store, channels: Mapping[str, BaseChannel], *, clock: Clock,
                 policy: RetryPolicy, owner: str, config: RemindersConfig, timezone: str,
                 routes: Sequence[RouteConfig], lease_seconds: float = 300.0,
                 stop: threading.Event | None = None) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.policy = policy
        self.owner = owner
        self.config = config
        self.timezone = timezone
        self.routes = tuple(routes)
        self.lease = timedelta(seconds=lease_seconds)
        self.stop = stop or threading.Event()

    @property
    def reminding(self) -> list[str]:
        """The targets whose channel sends reminders."""
        return [n for n, ch in self.channels.items() if ch.supports_reminders]

    def plan(self) -> ReminderStats:
        """Bring every candidate story's reminder rows up to date (one reconcile)."""
        now = self.clock.now()
        today = local_date(now, self.timezone)
        ids = self.store.reminder_candidates(today)
        stats = ReminderStats()
        if not ids:
            return stats
        states = self.store.reminder_states(ids)
        stories = {s.id: s for s in self.store.list_stories(ids=ids) if s.id is not None}
        plans: dict[int, StoryPlan] = {}
        wanted: list[Wanted] = []
        for sid in ids:
            story, state = stories.get(sid), states.get(sid)
            if story is None or state is None:
                continue
            plan = desired_reminders(
                story, merged_into=state.merged_into,
                originals=state.originals, config=self.config,
                timezone=self.timezone, reminding=self.reminding, routes=self.routes,
                today=today, now=now, dead=state.dead)
            plans[sid] = plan
            wanted.extend(plan.wanted)

        def why_not(sid: int, target: str, what: str, day: date, n: int) -> str:
            plan = plans.get(sid)
            return plan.why_not(target, what, day, n) if plan else "the story is gone"

        done = self.store.reconcile_reminders(list(plans), wanted, why_not, now)
        stats.planned, stats.cancelled = done.planned, done.cancelled
        return stats

    def run_once(self, batch: int = 20) -> ReminderStats:
        """Plan, then send what is due until nothing is left (or a stop is asked)."""
        stats = self.plan()
        paused = set(self.store.paused_targets())
        waiting: set[str] = set()
        while not self.stop.is_set():
            targets = [t for t in self.reminding if t not in paused and t not in waiting]
            if not targets:
                break
            now = self.clock.now()
            claims = self.store.claim_reminders(self.owner, now, self.lease,
                                                local_date(now, self.timezone), limit=batch,
                                                targets=targets)
            if not claims:
                break
            ids = sorted({c.reminder.story_id for c in claims})
            stories = {s.id: s for s in self.store.list_stories(ids=ids) if s.id is not None}
            originals = {(d.story_id, d.target): d
                         for ds in self.store.deliveries_for(ids).values() for d in ds
                         if not d.retract}
            for n, claim in enumerate(claims):
                target = claim.reminder.target
                if self.stop.is_set():
                    self.store.defer_reminders(self.owner, [c.reminder.id for c in claims[n:]],
                                               self.clock.now(), self.clock.now())
                    break
                if target in paused or target in waiting:
                    stats.deferred += self.store.defer_reminders(
                        self.owner, [claim.reminder.id], self.clock.now(), self.clock.now())
                    continue
                self._send_one(claim, stories.get(claim.reminder.story_id),
                               originals.get((claim.reminder.story_id, target)), stats,
                               paused, waiting)
        now = self.clock.now()
        stopped = sorted(set(self.store.paused_targets()) & set(self.reminding))
        stats.held = self.store.count_due_reminders(now, local_date(now, self.timezone),
                                                    stopped)
        return stats

    def _send_one(self, claim: ReminderClaim, story: Story | None,
                  original: Delivery | None, stats: ReminderStats, paused: set[str],
                  waiting: set[str]) -> None:
        reminder = claim.reminder
        channel = self.channels[reminder.target]
        try:
            if story is None or original is None:
                raise TransientSendError("story or its original post not found",
                                         target=reminder.target)
            payload = channel.render_reminder(story, reminder)
            now = self.clock.now()
            if not self.store.renew_reminder_lease(reminder.id, self.owner, now, self.lease,
                                                   local_date(now, self.timezone)):
                log.info("reminder %s may no longer go (held, merged, switched off or its "
                         "lease ran out since its claim)", reminder.id)
                self.store.defer_reminders(self.owner, [reminder.id], now, now)
                return
            result = channel.send_reminder(payload, reminder=reminder, original=original,
                                           reclaimed=claim.reclaimed)
        except ChannelError as exc:
            self._failed(claim, exc, stats, paused, waiting)
        except Exception as exc:  # a bug in a channel must not stop the other targets
            log.exception("channel %s crashed on reminder %s", channel.identity(),
                          reminder.id)
            self._failed(claim, TransientSendError(f"{type(exc).__name__}: {exc}",
                                                   target=reminder.target), stats, paused,
                         waiting)
        else:
            self.store.mark_reminder_sent(reminder.id, external_id=result.external_id,
                                          now=self.clock.now())
            stats.sent += 1
            log.info("reminded of story %s (%s %s) in %s", reminder.story_id, reminder.what,
                     reminder.day, channel.redacted())

    def _failed(self, claim: ReminderClaim, error: ChannelError, stats: ReminderStats,
                paused: set[str], waiting: set[str]) -> None:
        reminder = claim.reminder
        now = self.clock.now()
        if isinstance(error, TargetAuthError):
            refused(self.store, reminder.target, str(error), now, probing=False)
            paused.add(reminder.target)
            stats.deferred += self.store.defer_reminders(
                self.owner, [reminder.id], now, now,
                reason=waiting_reason(reminder.target, str(error)))
            return
        if isinstance(error, RateLimited):
            wait = error.retry_after if error.retry_after is not None else 60.0
            until = now + timedelta(seconds=max(1.0, wait))
            waiting.add(reminder.target)
            stats.deferred += self.store.defer_reminders(
                self.owner, [reminder.id], until, now,
                reason=f"waiting: {reminder.target} rate-limited us until "
                       f"{until:%Y-%m-%d %H:%M:%S}Z")
            return
        retry_at = self.policy.decide(error, reminder.attempts, now)
        reason = f"{type(error).__name__}: {error}"
        self.store.mark_reminder_failed(reminder.id, owner=self.owner, error=reason,
                                        retry_at=retry_at, now=now)
        if retry_at is None:
            stats.dead += 1
        else:
            stats.failed += 1
        stats.errors.append(f"reminder {reminder.id} to {reminder.target}: {reason}")
        log.warning("reminder %s to %s failed (attempt %s): %s", reminder.id,
                    reminder.target, reminder.attempts, reason)
