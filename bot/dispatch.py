"""The dispatcher: claim due deliveries, render each story for its target, send, record.

Each delivery is claimed with a lease before the send and marked sent after it,
so a worker that dies in between leaves a row that another worker reclaims when
the lease runs out (``reclaimed=True`` lets the channel check whether the first
attempt got through). Failures are recorded with the reason and the next try
from :mod:`bot.retry`; one target's failure does not stop the others. Sends to
one target are spaced by its channel's ``rate_per_sec``.

No retry storms: each delivery is tried at most once per run, and a target that
answers with a rate limit (429 and Retry-After) gets no more calls in that run: its
other claims go back unattempted, due when the limit ends (``deferred`` in the stats,
the reason kept on the row for ``herald outbox``). Being told to wait is not a failed
attempt: the rate-limited claim itself goes back the same way, so no 429 storm ever makes
a delivery dead.

What may go is the release gate's answer (:mod:`bot.release`), asked by the claim and again
by the lease renewal just before each send. Claims marked ``retract`` take back a
merged-away story's message: deleted where the channel can (``chat.delete``), otherwise
recorded as ``left`` with the reason, for ``herald outbox`` to show; comms' "delete from
Slack" of a sent announcement is the same claim. A sent announcement comms corrected is an
update where the channel can edit (Slack), and a correction post naming the original where
it cannot (Teams, files: :mod:`bot.corrections`). After a first send the live post's
address is kept where the channel gives one (Slack's ``chat.getPermalink``).

A target that refuses Herald's credentials (``TargetAuthError``) pauses (:mod:`bot.pause`):
the claim goes back uncounted, its other claims too, and no run sends to it while it is
paused, save one probe delivery when its probe is due; a probe that gets through resumes
it. ``held`` in the stats counts the deliveries that were due but wait for a paused target.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.corrections import correction_payload
from bot.durations import humanize
from bot.errors import (
    ChannelError,
    HeraldError,
    RateLimited,
    TargetAuthError,
    TransientSendError,
)
from bot.model import Delivery, Story
from bot.pause import PROBE_HOLD, refused, waiting_reason
from bot.retry import RetryPolicy
from bot.store import Store
from bot.store._outbox import Claim
from channels import BaseChannel

log = logging.getLogger("herald.dispatch")


@dataclass
class DispatchStats:
    sent: int = 0
    updated: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # not tried, or rate-limited: their target asked us to wait
    retracted: int = 0  # merged-away stories' messages taken back
    left: int = 0  # ... that their target could not take back
    held: int = 0  # due, but their target is paused (it refused Herald's credentials)
    errors: list[str] = field(default_factory=list)
    #: Targets paused at the end of the run, and why.
    paused: dict[str, str] = field(default_factory=dict)


def _correcting(claim: Claim, channel: BaseChannel) -> bool:
    """A correction of a message sent before, to a channel that cannot edit it: a new post
    that names the original (comms corrected a sent announcement)."""
    d = claim.delivery
    return (d.correction is not None and d.sent_at is not None and not claim.retract
            and not channel.supports_update)


class Dispatcher:
    """Sends what the outbox holds, through the channels of the configured targets."""

    def __init__(self, store: Store, channels: Mapping[str, BaseChannel], *, clock: Clock,
                 policy: RetryPolicy, owner: str, lease_seconds: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep,
                 stop: threading.Event | None = None) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.policy = policy
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.sleep = sleep
        self.stop = stop or threading.Event()
        self._last_send: dict[str, float] = {}
        self._paused: dict[str, datetime] = {}  # target -> until when it asked us to wait
        #: Targets paused for refused credentials: target -> why.
        self._held: dict[str, str] = {}
        self._probing: set[str] = set()

    def run_once(self, batch: int = 20) -> DispatchStats:
        """Claim and send due deliveries until none are left (or a stop is asked). Claims
        come in small batches, and each lease is renewed just before its send."""
        stats = DispatchStats()
        self._paused = {}
        self._held = {name: p.reason for name, p in self.store.paused_targets().items()
                      if name in self.channels}
        for name in list(self._held):
            if not self.stop.is_set():
                self._probe(name, stats)
        while not self.stop.is_set():
            targets = [t for t in self.channels
                       if t not in self._paused and t not in self._held]
            if not targets:
                break
            claims = self.store.claim_deliveries(
                self.owner, self.clock.now(), timedelta(seconds=self.lease_seconds),
                limit=batch, targets=targets, updatable=self.updatable)
            if not claims:
                break
            stories = {s.id: s for s in self.store.list_stories(
                ids=sorted({c.delivery.story_id for c in claims})) if s.id is not None}
            for n, claim in enumerate(claims):
                if self.stop.is_set():
                    self.store.release(self.owner, [c.delivery.id for c in claims[n:]],
                                       now=self.clock.now())
                    break
                held = self._held.get(claim.delivery.target)
                if held is not None:  # paused by an earlier claim of this batch
                    self.store.defer(self.owner, [claim.delivery.id], self.clock.now(),
                                     now=self.clock.now(), reason=waiting_reason(
                                         claim.delivery.target, held))
                    continue
                until = self._paused.get(claim.delivery.target)
                if until is not None:
                    stats.deferred += self.store.defer(
                        self.owner, [claim.delivery.id], until, now=self.clock.now(),
                        reason=f"waiting: {claim.delivery.target} rate-limited us until "
                               f"{until:%Y-%m-%d %H:%M:%S}Z")
                    continue
                self._send_one(claim, stories, stats)
        if stats.deferred:
            log.info("%d deliveries wait for rate limits to end: %s", stats.deferred,
                     ", ".join(f"{t} until {u:%H:%M:%S}Z" for t, u in self._paused.items()))
        stats.paused = dict(self._held)
        stats.held = self.store.count_due(self.clock.now(), sorted(self._held))
        return stats

    def _probe(self, target: str, stats: DispatchStats) -> None:
        """Try one delivery to a paused target when its probe is due (one worker wins it):
        through, the target resumes; refused again, the next probe waits longer."""
        now = self.clock.now()
        if not self.store.claim_probe(target, now, PROBE_HOLD):
            return
        claims = self.store.claim_deliveries(
            self.owner, now, timedelta(seconds=self.lease_seconds), limit=1,
            targets=[target], updatable=self.updatable)
        if not claims:
            return  # nothing to try it with: the next run that has something probes
        stories = {s.id: s for s in self.store.list_stories(ids=[claims[0].delivery.story_id])
                   if s.id is not None}
        self._probing.add(target)
        try:
            done = self._send_one(claims[0], stories, stats)
        finally:
            self._probing.discard(target)
        if done:
            self.store.resume_target(target, self.clock.now())
            self._held.pop(target, None)
            log.info("target %s answered again: resumed", target)

    @property
    def updatable(self) -> list[str]:
        """Targets whose channel shows a story's later changes on the message it sent."""
        return [name for name, ch in self.channels.items() if ch.supports_update]

    def _throttle(self, target: str, channel: BaseChannel) -> None:
        if channel.rate_per_sec <= 0:
            return
        gap = 1.0 / channel.rate_per_sec
        last = self._last_send.get(target)
        if last is not None:
            wait = last + gap - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_send[target] = time.monotonic()

    def _send_one(self, claim: Claim, stories: Mapping[int, Story],
                  stats: DispatchStats) -> bool:
        """Send one claim; True when it went through (sent, updated or retracted)."""
        delivery = claim.delivery
        channel = self.channels[delivery.target]
        story = stories.get(delivery.story_id)
        started = time.monotonic()
        try:
            if story is None:
                raise TransientSendError("story not found", target=delivery.target)
            payload = channel.render(story)
            self._throttle(delivery.target, channel)
            if not self.store.renew_lease(delivery.id, self.owner, self.clock.now(),
                                          timedelta(seconds=self.lease_seconds),
                                          retract=claim.retract):
                log.warning("delivery %s may no longer go (lease ran out, or held, merged "
                            "or embargoed since its claim)", delivery.id)
                self.store.release(self.owner, [delivery.id], now=self.clock.now())
                return False
            if claim.retract:
                self._retract(claim, channel, stats)
                return True
            if claim.update and channel.supports_update:
                result = channel.update(payload, delivery=delivery)
            elif _correcting(claim, channel):
                result = channel.send(correction_payload(
                    payload, delivery.correction or "", delivery.sent_at),
                    delivery=delivery, reclaimed=False)
            else:
                result = channel.send(payload, delivery=delivery, reclaimed=claim.reclaimed)
        except ChannelError as exc:
            self._failed(claim, exc, stats, story)
            return False
        except HeraldError as exc:
            self._failed(claim, TransientSendError(str(exc), target=delivery.target), stats,
                         story)
            return False
        except Exception as exc:  # a bug in a channel must not stop the other targets
            log.exception("channel %s crashed on delivery %s", channel.identity(), delivery.id)
            self._failed(claim, TransientSendError(f"{type(exc).__name__}: {exc}",
                                                   target=delivery.target), stats, story)
            return False
        else:
            shown = result.revision if result.revision is not None else story.revision
            correcting = _correcting(claim, channel)
            self.store.mark_sent(delivery.id, external_id=result.external_id,
                                 revision=shown, now=self.clock.now())
            if not claim.update and not correcting:
                self._remember_link(channel, delivery, result.external_id)
            if claim.update or correcting:
                stats.updated += 1
            else:
                stats.sent += 1
            log.info("%s story %s to %s in %s%s", "updated" if claim.update else "sent",
                     delivery.story_id, channel.redacted(), humanize(time.monotonic() - started),
                     f" ({result.detail})" if result.detail else "")
            return True

    def _remember_link(self, channel: BaseChannel, delivery: Delivery,
                       external_id: str | None) -> None:
        """Keep the live post's address where the channel gives one (Slack's
        ``chat.getPermalink``), asked here in the worker, never by a web request. A failure
        only costs the link: the post went out."""
        find = getattr(channel, "permalink", None)
        if find is None or not external_id:
            return
        try:
            link = find(external_id)
        except Exception as exc:  # the post is out; the link is a convenience
            log.info("no permalink for delivery %s: %s", delivery.id, exc)
            return
        if link:
            self.store.set_permalink(delivery.id, link)

    def _retract(self, claim: Claim, channel: BaseChannel, stats: DispatchStats) -> None:
        """Take back a merged-away story's message, or record that its target cannot."""
        delivery = claim.delivery
        now = self.clock.now()
        if not channel.supports_delete:
            self.store.mark_retracted(
                delivery.id, owner=self.owner, taken_back=False, now=now,
                detail=f"left in {delivery.target}: {channel.name} cannot delete a message "
                       f"(story {delivery.story_id} was merged into another)")
            stats.left += 1
            return
        result = channel.delete(delivery=delivery)
        self.store.mark_retracted(delivery.id, owner=self.owner, taken_back=True, now=now,
                                  detail=result.detail)
        stats.retracted += 1
        log.info("took back story %s's message from %s", delivery.story_id,
                 channel.redacted())

    def _failed(self, claim: Claim, error: ChannelError, stats: DispatchStats,
                story: Story | None) -> None:
        delivery = claim.delivery
        now = self.clock.now()
        if isinstance(error, TargetAuthError):
            # The target refused our credentials: it pauses, and this delivery waits with
            # its attempt not counted (it did nothing wrong; a long pause must not use up
            # its tries). It is due at once for when the target resumes.
            reason = str(error)
            refused(self.store, delivery.target, reason, now,
                    probing=delivery.target in self._probing)
            self._held[delivery.target] = reason
            self.store.defer(self.owner, [delivery.id], now, now=now,
                             reason=waiting_reason(delivery.target, reason))
            return
        if isinstance(error, RateLimited):
            # Being told to wait is not a failed attempt: give the claim back, due when
            # the limit ends, and send nothing more to this target in this run.
            wait = error.retry_after if error.retry_after is not None else 60.0
            until = now + timedelta(seconds=max(1.0, wait))
            self._paused[delivery.target] = until
            stats.deferred += self.store.defer(
                self.owner, [delivery.id], until, now=now,
                reason=f"waiting: {delivery.target} rate-limited us ({error}) until "
                       f"{until:%Y-%m-%d %H:%M:%S}Z")
            log.info("delivery %s to %s: rate-limited, due again in %s (%s)", delivery.id,
                     delivery.target, humanize(until - now), f"{until:%H:%M:%S}Z")
            return
        retry_at = self.policy.decide(error, delivery.attempts, now)
        reason = f"{type(error).__name__}: {error}"
        if (claim.update or _correcting(claim, self.channels[delivery.target])) \
                and story is not None:
            self.store.mark_update_failed(delivery.id, owner=self.owner, error=reason,
                                          retry_at=retry_at, revision=story.revision, now=now)
        else:
            self.store.mark_failed(delivery.id, owner=self.owner, error=reason,
                                   retry_at=retry_at, now=now)
        if retry_at is None:
            stats.dead += 1
        else:
            stats.failed += 1
        stats.errors.append(f"delivery {delivery.id} to {delivery.target}: {reason}")
        log.warning("delivery %s to %s failed (attempt %s): %s; %s", delivery.id,
                    delivery.target, delivery.attempts, reason,
                    f"next try {retry_at:%Y-%m-%d %H:%M:%S}Z" if retry_at else "dead")
