"""The steps of a lifecycle walk: what the academy, comms, the worker and time do.

Each step is a function ``(walk) -> str`` that does one thing through Herald's own code and
returns a line for the walk's log. A refusal that Herald explains (``StoreError``, a
draft it will not take) is part of the walk, logged, not a failure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.digest import DigestJob, parse_period
from bot.errors import HeraldError
from bot.queue import Draft
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from bot.web import actions
from tests.fakes._loopback import DROP, DROP_AFTER_PROCESSING
from tests.fakes.slack_server import ratelimited
from tests.fakes.teams_webhook import throttled
from tests.lifecycle_feeds import EVENTS, NEWS, Entry, X, marker
from tests.lifecycle_oracle import Oracle
from tests.lifecycle_world import Killed, KillingChannel, ScriptedSender, World

BACKLOG_AGE = timedelta(days=10)  # well past the default announce window of three days
SEND_DELAYS = (None, timedelta(minutes=20), timedelta(hours=2), timedelta(days=1),
               timedelta(days=3))
CLOCK_STEPS = (timedelta(minutes=1), timedelta(minutes=6), timedelta(minutes=40),
               timedelta(hours=3), timedelta(hours=20), timedelta(days=2))


@dataclass
class Walk:
    world: World
    oracle: Oracle
    rng: random.Random
    first_poll_done: bool = False
    drained: bool = False  # set by a clean dispatch that left nothing due
    collected: bool = False
    ann_words: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (url, words)

    @property
    def store(self) -> Any:
        return self.world.store

    @property
    def now(self) -> Any:
        return self.world.clock.now()

    # -- what the database holds (to choose what to act on) ---------------------------------

    def live_stories(self) -> list[int]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(t_stories.c.id).where(
                t_stories.c.merged_into.is_(None)).order_by(t_stories.c.id)).scalars())

    def story_items(self, story_id: int) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(t_items).where(t_items.c.story_id == story_id)
                                     .order_by(t_items.c.id)))

    def sent_stories(self) -> set[int]:
        with self.store.engine.connect() as conn:
            return set(conn.execute(select(t_deliveries.c.story_id).where(
                t_deliveries.c.status == "sent")).scalars())

    def nothing_due(self) -> bool:
        c = t_deliveries.c
        now = self.now
        with self.store.engine.connect() as conn:
            waiting = conn.execute(select(func.count()).select_from(t_deliveries).where(
                (c.status == "in_flight")
                | (c.status.in_(["pending", "failed"]) & (c.next_attempt_at <= now))
                # an edit or a retraction of a posted message waiting out a rate limit
                | (c.external_id.is_not(None) & (c.next_attempt_at > now)))).scalar_one()
        return waiting == 0


# -- the academy publishes; the worker collects -------------------------------------------

def _collect(walk: Walk, what: str) -> str:
    w = walk.world
    w.publish()
    if not walk.first_poll_done:
        # The sources are new: each already has a couple of old entries (a backlog).
        walk.first_poll_done = True
    w.clock.advance(seconds=30)  # a poll takes time (and a source is read once an instant)
    stats = w.herald.collect(all_enabled=True)
    walk.collected = True
    return f"{what}; collected: {stats.polled} polled, {stats.errors} errors, " \
           f"{len(stats.ingest.new_stories)} new stories"


def collect_new(walk: Walk) -> str:
    pub, o = walk.world.publisher, walk.oracle
    made = []
    if not walk.first_poll_done:
        for source in (NEWS, EVENTS):
            for _ in range(2):
                e = pub.entry(source, walk.now - BACKLOG_AGE - timedelta(hours=walk.rng.randint(
                    0, 48)), backlog=True)
                o.backlog.add((source, e.guid))
                made.append(e)
    for _ in range(walk.rng.randint(1, 2)):
        source = walk.rng.choice((NEWS, NEWS, EVENTS))
        link = None
        if source == NEWS and walk.ann_words and walk.rng.random() < 0.25:
            # The website publishes comms' announcement at the URL comms gave it.
            link = walk.ann_words[walk.rng.choice(sorted(walk.ann_words))][0]
        made.append(pub.entry(source, walk.now - timedelta(minutes=5), link=link))
    for e in made:
        o.markers[e.marker] = (e.source, e.guid)
    return _collect(walk, "published " + ", ".join(f"{e.guid}{' (backlog)' if e.backlog else ''}"
                                                   f"{' at ' + e.link if '/ann/' in e.link else ''}"
                                                   for e in made))


def collect_edit(walk: Walk) -> str:
    pub = walk.world.publisher
    fresh: list[Entry] = [e for src in (NEWS, EVENTS) for e in pub.entries[src] if not e.backlog]
    if not fresh:
        return collect_new(walk)
    # Edits of stories whose last send failed find the lost-answer cases more often.
    failed = _stories_with_failed_sends(walk)
    favoured = [e for e in fresh if walk.oracle.story_of_item(e.source, e.guid) in failed]
    e = walk.rng.choice(favoured if favoured and walk.rng.random() < 0.6 else fresh)
    pub.edit(e)
    return _collect(walk, f"edited {e.guid}")


def collect_echo(walk: Walk) -> str:
    if not walk.ann_words:
        return collect_new(walk)
    ann_id = walk.rng.choice(sorted(walk.ann_words))
    url, words = walk.ann_words[ann_id]
    echo = walk.world.publisher.echo(ann_id, url, words, walk.now - timedelta(minutes=2))
    walk.oracle.markers[echo.marker] = (X, echo.guid)
    walk.oracle.pending_echoes.append((echo.guid, ann_id))
    return _collect(walk, f"X post {echo.guid} about announcement {ann_id}")


def _stories_with_failed_sends(walk: Walk) -> set[int]:
    with walk.store.engine.connect() as conn:
        return set(conn.execute(select(t_deliveries.c.story_id).where(
            t_deliveries.c.last_error.is_not(None))).scalars())


# -- comms ---------------------------------------------------------------------------------

def announce(walk: Walk) -> str:
    """Compose, submit and approve an announcement with targets and a send time."""
    w, rng = walk.world, walk.rng
    pub = w.publisher
    n = pub.next_n()
    news = [e for e in pub.entries[NEWS] if not e.backlog]
    if news and rng.random() < 0.3:
        url = rng.choice(news).link  # comms announce what the website already has
    else:
        url = f"https://academy.example.org/ann/{n}"
    choices = ["slack", "teams", "digest"]
    targets = [t for t in choices if rng.random() < 0.5] or [rng.choice(choices)]
    if not w.digest_routed:
        targets = [t for t in targets if t != "digest"] or ["slack"]
    delay = rng.choice(SEND_DELAYS)
    send_at = walk.now + delay if delay else None
    words = pub_words(n)
    draft = Draft(title=f"{marker(n).capitalize()} {words[:60]}", body=words, url=url,
                  kind="news", domains=rng.choice([[], ["learning-capacity"]]),
                  targets=targets, send_at=send_at)
    store = w.store
    ann = store.create_announcement(draft, w.editor.user.id, walk.now)
    ann = actions.submit(w.ctx, w.editor, ann)
    try:
        ann = actions.approve(w.ctx, w.approver, ann)
    except HeraldError as exc:
        return f"announcement {ann.id} not approved: {exc}"
    due = send_at or walk.now
    walk.oracle.approved(ann.id, marker(n), frozenset(targets), due)
    walk.ann_words[ann.id] = (url, words)
    return (f"announcement {ann.id} approved for {','.join(targets)} due "
            f"{due:%a %d %H:%M} at {url} -> story {ann.story_id}")


def pub_words(n: int) -> str:
    from tests.lifecycle_feeds import words

    return words(n + 20_000, 12)


def hold(walk: Walk) -> str:
    stories = [s for s in walk.live_stories() if s not in walk.oracle.held]
    if not stories:
        return "hold: nothing to stop"
    sid = walk.rng.choice(stories)
    walk.store.set_hold(sid, True, walk.world.herald.routing, walk.now)
    walk.oracle.held[sid] = walk.now
    return f"stopped story {sid}"


def release(walk: Walk) -> str:
    held = [s for s in sorted(walk.oracle.held) if s in walk.live_stories()]
    if not held:
        return hold(walk)
    sid = walk.rng.choice(held)
    walk.store.set_hold(sid, False, walk.world.herald.routing, walk.now)
    del walk.oracle.held[sid]
    return f"let story {sid} go again"


def merge(walk: Walk) -> str:
    rng, o = walk.rng, walk.oracle
    live = walk.live_stories()
    if len(live) < 2:
        return "merge: fewer than two stories"
    sent = walk.sent_stories() & set(live)
    waiting = [walk.oracle.story_of_item("comms", f"announcement-{a.ann_id}")
               for a in o.approvals.values() if a.due > walk.now]
    waiting = [s for s in waiting if s in live]
    if sent and waiting and rng.random() < 0.5:
        pair = [rng.choice(sorted(sent)), rng.choice(waiting)]
        if pair[0] == pair[1]:
            pair = rng.sample(live, 2)
    elif len(sent) >= 2 and rng.random() < 0.4:
        pair = rng.sample(sorted(sent), 2)
    else:
        pair = rng.sample(live, 2)
    rng.shuffle(pair)
    keep, other = pair
    try:
        walk.store.merge_stories(keep, other, walk.world.herald.routing, walk.now)
    except HeraldError as exc:
        return f"merge {other} into {keep} refused: {exc}"
    o.held.pop(other, None)
    return f"merged story {other} into {keep}"


def split(walk: Walk) -> str:
    candidates = [s for s in walk.live_stories() if len(walk.story_items(s)) >= 2]
    if not candidates:
        return "split: no story with two items"
    sid = walk.rng.choice(candidates)
    items = walk.story_items(sid)
    # Comms split out what was collected (not an old entry of a new feed: whether that is
    # announced after a split is not what this walk asks).
    backlog = walk.oracle.backlog
    feed_items = [i for i in items if i.source_kind != "queue" and i.url
                  and (i.source, i.source_item_id) not in backlog]
    pick = walk.rng.choice(feed_items if feed_items and walk.rng.random() < 0.85
                           else [i for i in items if i.url
                                 and (i.source, i.source_item_id) not in backlog])
    try:
        new_id, _ = walk.store.split_item(sid, pick.url, walk.world.herald.routing, walk.now)
    except HeraldError as exc:
        return f"split {pick.url} out of story {sid} refused: {exc}"
    walk.oracle.pending_echoes = [(g, a) for g, a in walk.oracle.pending_echoes
                                  if g != pick.source_item_id]
    return f"split {pick.source}:{pick.source_item_id} out of story {sid} -> story {new_id}"


# -- the worker sends -------------------------------------------------------------------------

def dispatch(walk: Walk) -> str:
    stats = walk.world.dispatcher().run_once()
    walk.drained = not stats.failed and not stats.deferred and not stats.dead \
        and walk.nothing_due()
    return f"dispatch: {stats.sent} sent, {stats.updated} updated, {stats.failed} failed"


def dispatch_faults(walk: Walk) -> str:
    """Lost answers (Slack posts, the answer never comes), dropped connections, one 429."""
    w, rng = walk.world, walk.rng
    slack_faults = [rng.choice([DROP_AFTER_PROCESSING, DROP_AFTER_PROCESSING, DROP,
                                ratelimited(2)]) for _ in range(rng.randint(1, 3))]
    teams_faults = [rng.choice([DROP, throttled(3)]) for _ in range(rng.randint(0, 2))]
    w.slack.fail_next[:] = slack_faults
    w.teams.fail_next[:] = teams_faults
    stats = w.dispatcher().run_once()
    w.slack.fail_next.clear()
    w.teams.fail_next.clear()
    names = [f if isinstance(f, str) else str(f[0]) for f in slack_faults]
    return f"dispatch with faults (slack {names}, teams {len(teams_faults)}): " \
           f"{stats.sent} sent, {stats.failed} failed, {stats.deferred} deferred"


def storm(walk: Walk) -> str:
    """A target answers 429 to every call for a while; the worker keeps trying as its
    limit runs out."""
    w = walk.world
    # Something new to send: news goes to Slack and Teams.
    e = w.publisher.entry(NEWS, walk.now - timedelta(minutes=5))
    walk.oracle.markers[e.marker] = (e.source, e.guid)
    fresh = _collect(walk, f"published {e.guid}")
    target = walk.rng.choice(["slack", "teams"])
    fake = w.slack if target == "slack" else w.teams
    answer = ratelimited(2) if target == "slack" else throttled(2)
    for _ in range(10):
        fake.fail_next[:] = [answer]
        w.dispatcher().run_once()
        w.clock.advance(seconds=5)
    fake.fail_next.clear()
    return f"{fresh}; then a 429 storm on {target} (10 runs)"


def dispatch_kill(walk: Walk) -> str:
    """The worker is killed mid-dispatch: after its claim and before a send (any target),
    or after a Slack post and before recording it (Slack finds its own message later)."""
    w = walk.world
    d = w.dispatcher()
    target = walk.rng.choice(["slack", "teams"])
    when = walk.rng.choice(["before", "after"]) if target == "slack" else "before"
    d.channels = {**d.channels, target: KillingChannel(d.channels[target], when)}
    try:
        stats = d.run_once()
    except Killed as exc:
        w.restart_worker()
        return f"dispatch killed ({target}): {exc}"
    return f"dispatch (the kill on {target} never came): {stats.sent} sent"


# -- the digest ----------------------------------------------------------------------------

def _period(walk: Walk, which: str) -> Any:
    cfg = walk.world.herald.settings.config.digest
    return parse_period(which, cfg.schedule, cfg.timezone, walk.now)


def digest(walk: Walk) -> str:
    which = walk.rng.choice(["current", "current", "last"])
    period = _period(walk, which)
    job = DigestJob(walk.world.herald)
    fault = walk.rng.choice(["none", "none", "drop", "kill"])
    smtp = walk.world.smtp
    real = job.sender
    if fault == "drop":
        def drop() -> None:
            smtp.fail_data[:] = ["DROP"]
        job.sender = lambda: ScriptedSender(real(), drop)  # type: ignore[method-assign]
    elif fault == "kill":
        def die() -> None:
            raise Killed("digest worker killed before its first send")
        job.sender = lambda: ScriptedSender(real(), die)  # type: ignore[method-assign]
    try:
        stats = job.run(period, walk.now)
    except Killed:
        walk.world.restart_worker()
        return f"digest {period.key} ({which}): killed before its first send"
    finally:
        smtp.fail_data.clear()
    return f"digest {period.key} ({which}, fault {fault}): {stats.sent} sent, " \
           f"{stats.empty} empty, {stats.failed} failed"


def digest_race(walk: Walk) -> str:
    """Worker A claims the period's digests and stalls past its lease; worker B claims and
    sends them; then A's SMTP connection drops."""
    w = walk.world
    period = _period(walk, "current")
    for _ in range(2):  # new readers: their digests for this period are not sent yet
        n = w.publisher.next_n()
        w.store.add_subscriber(f"reader{n}@example.org", domains=None, now=walk.now)
    job = DigestJob(w.herald)
    real = job.sender
    lease = w.herald.settings.config.worker.lease
    other: dict[str, Any] = {}

    def stall_then_drop() -> None:
        w.clock.advance(seconds=lease.total_seconds() + 60)
        other["stats"] = DigestJob(w.second).run(period, w.clock.now())
        w.smtp.fail_data[:] = ["DROP"]

    job.sender = lambda: ScriptedSender(real(), stall_then_drop)  # type: ignore[method-assign]
    try:
        stats = job.run(period, walk.now)
    finally:
        w.smtp.fail_data.clear()
    b = other.get("stats")
    return f"digest race {period.key}: A {stats.sent} sent {stats.failed} failed; " \
           f"B {b.sent if b else 0} sent"


# -- time ------------------------------------------------------------------------------------

def tick(walk: Walk) -> str:
    step = walk.rng.choice(CLOCK_STEPS)
    walk.world.clock.advance(seconds=step.total_seconds())
    return f"clock +{step} -> {walk.now:%a %d %b %H:%M}"


#: Each step and its weight.
STEPS = (
    (collect_new, 3.0), (collect_edit, 2.0), (collect_echo, 1.5), (announce, 2.0),
    (hold, 0.8), (release, 0.6), (merge, 1.2), (split, 0.6), (dispatch, 3.0),
    (dispatch_faults, 1.5), (storm, 0.5), (dispatch_kill, 0.8), (digest, 1.0),
    (digest_race, 0.7), (tick, 2.5),
)
