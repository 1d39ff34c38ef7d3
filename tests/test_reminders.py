"""Reminders before key dates (issue #17): planning, the reconcile, the gate, once-only
sending across runs and crashes, on SQLite and PostgreSQL, with the injected clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.clock import FixedClock
from bot.config import RemindersConfig, RouteConfig
from bot.dispatch import Dispatcher
from bot.errors import TransientSendError
from bot.model import Delivery, KeyDate, Reminder, ReminderStatus, Story
from bot.remind_dispatch import ReminderSender
from bot.reminders import desired_reminders, due_time
from bot.retry import RetryPolicy
from bot.store import Store
from channels import BaseChannel, ChannelContext, NoOptions, SendResult
from tests.builders import item, routing

POLICY = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=3)
TZ = "Europe/London"
CLOSE = date(2026, 9, 7)  # a Monday; the clock starts on Thu 20 Aug 2026, 09:00 UTC


class RemindingChannel(BaseChannel):
    """A channel that sends reminders and records them (loadable as
    ``type = "tests.test_reminders:RemindingChannel"``)."""

    name: ClassVar[str] = "reminding"
    supports_reminders: ClassVar[bool] = True

    def __init__(self, target: str = "rec", options: Any = None,
                 context: ChannelContext | None = None) -> None:
        super().__init__(target, options or NoOptions(), context or ChannelContext(Path(".")))
        self.sent: list[int] = []
        self.reminded: list[tuple[int, str | None, bool]] = []
        self.failures: list[BaseException] = []
        self.crash_after_send = False
        self.on_render: Any = None

    def render(self, story: Story) -> dict[str, Any]:
        return {"story_id": story.id}

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        self.sent.append(delivery.id)
        return SendResult(external_id=f"post-{delivery.id}")

    def render_reminder(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        if self.on_render is not None:
            self.on_render()
        return {"story_id": story.id, "what": reminder.what}

    def send_reminder(self, payload: dict[str, Any], *, reminder: Reminder,
                      original: Delivery, reclaimed: bool = False) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.reminded.append((reminder.id, original.external_id, reclaimed))
        if self.crash_after_send:
            raise SystemExit("worker died between the send and the commit")
        return SendResult(external_id=f"{original.external_id}/reminder-{reminder.id}")


class Rig:
    """A store with one story routed to ``rec``, its channel and the two senders."""

    def __init__(self, store: Store, clock: FixedClock, *,
                 routes: list[RouteConfig] | None = None, owner: str = "w1") -> None:
        self.store, self.clock = store, clock
        self.routes = routes or [RouteConfig(to=["rec"])]
        self.ctx = routing(("rec",), [r.model_dump() for r in self.routes])
        self.channel = RemindingChannel("rec")
        self.config = RemindersConfig()
        self.owner = owner

    def story(self, n: int = 1, dates: tuple[KeyDate, ...] = (
            KeyDate("applications-close", CLOSE),)) -> int:
        self.store.ingest([item(n)], self.ctx, self.clock.now())
        sid = max(s.id or 0 for s in self.store.list_stories())
        self.store.edit_story(sid, by="comms", ctx=self.ctx, now=self.clock.now(),
                              dates=list(dates))
        return sid

    def deliver(self) -> int:
        return Dispatcher(self.store, {"rec": self.channel}, clock=self.clock, policy=POLICY,
                          owner=self.owner, sleep=lambda s: None).run_once().sent

    def sender(self, owner: str | None = None) -> ReminderSender:
        return ReminderSender(self.store, {"rec": self.channel}, clock=self.clock,
                              policy=POLICY, owner=owner or self.owner, config=self.config,
                              timezone=TZ, routes=self.routes, lease_seconds=300)

    def rows(self, sid: int | None = None) -> list[Reminder]:
        return self.store.list_reminders(story_ids=None if sid is None else [sid])


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# -- planning as plain values ---------------------------------------------------------

def story(**kw: Any) -> Story:
    base: dict[str, Any] = dict(
        id=7, title="Mary Seacole Programme", summary="", url=None, kind="news", tags=(),
        dates=(KeyDate("applications-close", CLOSE), KeyDate("event", date(2026, 9, 24)),
               KeyDate("published", date(2026, 9, 1))),
        items=(), first_seen=at(CLOSE, 0), updated_at=at(CLOSE, 0))
    base.update(kw)
    return Story(**base)


def plan(s: Story, *, originals: dict[str, datetime | None] | None = None,
         config: RemindersConfig | None = None, routes: list[RouteConfig] | None = None,
         merged_into: int | None = None, today: date = date(2026, 8, 20)) -> Any:
    return desired_reminders(
        s, merged_into=merged_into, originals=originals or {"slack": None, "digest": None,
                                                            "files": None},
        config=config or RemindersConfig(), timezone=TZ, reminding={"slack"},
        routes=routes or [RouteConfig(to=["slack", "files"])], today=today)


def test_offsets_at_the_local_time_only_for_configured_kinds() -> None:
    p = plan(story())
    got = sorted((w.what, w.days_before, w.due_at, w.target) for w in p.wanted)
    # 09:00 in London is 08:00 UTC in summer; a "published" date has no reminders.
    assert got == [("applications-close", 1, at(date(2026, 9, 6), 8), "slack"),
                   ("applications-close", 7, at(date(2026, 8, 31), 8), "slack"),
                   ("event", 0, at(date(2026, 9, 24), 8), "slack")]
    # The digest and a channel that sends no reminders get none, and say why.
    assert "digest" in p.why_not("digest", "event", date(2026, 9, 24), 0)
    assert p.why_not("files", "event", date(2026, 9, 24), 0) == \
        "files does not send reminders"


def test_the_time_across_a_change_of_the_clocks() -> None:
    # British Summer Time ends on Sun 25 Oct 2026: 09:00 is 08:00 UTC before, 09:00 after.
    assert due_time(date(2026, 10, 25), 1, "09:00", TZ) == at(date(2026, 10, 24), 8)
    assert due_time(date(2026, 10, 26), 0, "09:00", TZ) == at(date(2026, 10, 26), 9)
    # 01:30 on Sun 29 Mar 2026 does not exist in London: the next valid minute, 02:00 BST.
    assert due_time(date(2026, 3, 29), 0, "01:30", TZ) == \
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_switched_off_held_merged_and_config_off_have_none_and_say_why() -> None:
    day = (CLOSE, "applications-close")
    cases = {"reminders switched off for this story": plan(story(reminders=False)),
             "the story was held": plan(story(hold=True)),
             "merged into story 12": plan(story(), merged_into=12),
             "reminders are switched off in the config":
                 plan(story(), config=RemindersConfig(enabled=False))}
    for reason, p in cases.items():
        assert p.wanted == ()
        assert p.why_not("slack", day[1], day[0], 7) == reason


def test_a_route_switches_reminders_off_and_approved_stories_keep_them() -> None:
    off = [RouteConfig(to=["slack"], reminders=False)]
    p = plan(story(), routes=off)
    assert p.wanted == ()
    assert p.why_not("slack", "event", date(2026, 9, 24), 0) == \
        "the route to slack does not send reminders"
    # Another route to the same target with reminders on wins.
    assert plan(story(), routes=[*off, RouteConfig(to=["slack"])]).wanted
    # Comms approved it for slack: the routes do not decide.
    assert plan(story(targets=("slack",)), routes=off).wanted
    assert plan(story(targets=("files",)), routes=off).wanted == ()


def test_a_changed_date_or_a_passed_one_says_so() -> None:
    p = plan(story(dates=(KeyDate("applications-close", date(2026, 12, 18)),)))
    assert p.why_not("slack", "applications-close", CLOSE, 7) == \
        "the date changed to Fri 18 Dec"
    late = plan(story(), today=date(2026, 9, 8))
    assert all(w.what == "event" for w in late.wanted)
    assert late.why_not("slack", "applications-close", CLOSE, 1) == \
        "its date passed before it could go"
    sent_late = plan(story(), originals={"slack": at(date(2026, 9, 2), 10)})
    assert {w.days_before for w in sent_late.wanted if w.what == "applications-close"} == {1}
    assert sent_late.why_not("slack", "applications-close", CLOSE, 7) == \
        "the post itself went out after this reminder's time"


# -- the store: plan, gate, send ------------------------------------------------------

def test_a_reminder_goes_once_at_its_time_in_the_posts_thread(store: Store,
                                                               clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    assert rig.deliver() == 1
    stats = rig.sender().run_once()
    assert stats.planned == 2 and stats.sent == 0  # planned, not yet due
    assert [(r.days_before, r.status) for r in rig.rows(sid)] == [
        (7, ReminderStatus.PLANNED), (1, ReminderStatus.PLANNED)]
    clock._now = at(date(2026, 8, 31), 8) - timedelta(minutes=1)
    assert rig.sender().run_once().sent == 0  # not before its time
    clock.advance(minutes=1)
    assert rig.sender().run_once().sent == 1
    assert rig.sender().run_once().sent == 0  # once
    assert rig.sender(owner="w2").run_once().sent == 0  # once across workers
    (rid, original, reclaimed), = rig.channel.reminded
    assert original == f"post-{store.list_deliveries('sent')[0].id}" and not reclaimed
    first = rig.rows(sid)[0]
    assert first.status is ReminderStatus.SENT and first.external_id.endswith(f"-{rid}")


def test_no_reminder_before_the_original_post_and_none_for_a_late_one(
        store: Store, clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    clock._now = at(date(2026, 8, 31), 9)  # the 7-day reminder is due; the post is not out
    assert rig.sender().run_once().sent == 0
    assert rig.deliver() == 1  # the post goes out after the reminder's time
    stats = rig.sender().run_once()
    assert stats.sent == 0 and stats.cancelled == 1
    seven = next(r for r in rig.rows(sid) if r.days_before == 7)
    assert seven.status is ReminderStatus.CANCELLED
    assert seven.last_error == "the post itself went out after this reminder's time"
    clock._now = at(date(2026, 9, 6), 8)
    assert rig.sender().run_once().sent == 1  # the 1-day one still goes


def test_hold_cancels_and_letting_it_go_plans_again(store: Store, clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    rig.deliver()
    rig.sender().run_once()
    store.set_hold(sid, True, rig.ctx, clock.now())
    assert rig.sender().run_once().cancelled == 2
    assert {(r.status, r.last_error) for r in rig.rows(sid)} == {
        (ReminderStatus.CANCELLED, "the story was held")}
    store.set_hold(sid, False, rig.ctx, clock.now())
    assert rig.sender().run_once().planned == 2
    assert {r.status for r in rig.rows(sid)} == {ReminderStatus.PLANNED}


def test_held_between_claim_and_send_is_not_reminded(store: Store,
                                                      clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    rig.deliver()
    clock._now = at(date(2026, 8, 31), 9)
    rig.channel.on_render = lambda: store.set_hold(sid, True, rig.ctx, clock.now())
    assert rig.sender().run_once().sent == 0 and rig.channel.reminded == []
    rig.channel.on_render = None
    rig.sender().run_once()
    assert {r.status for r in rig.rows(sid)} == {ReminderStatus.CANCELLED}


def test_a_changed_date_cancels_the_old_and_plans_the_new(store: Store,
                                                          clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    rig.deliver()
    clock._now = at(date(2026, 8, 31), 9)
    assert rig.sender().run_once().sent == 1  # the 7-day one went
    new = date(2026, 12, 18)
    store.edit_story(sid, by="comms", ctx=rig.ctx, now=clock.now(),
                     dates=[KeyDate("applications-close", new)])
    stats = rig.sender().run_once()
    assert stats.cancelled == 1 and stats.planned == 2
    rows = {(r.day, r.days_before): r for r in rig.rows(sid)}
    assert rows[(CLOSE, 7)].status is ReminderStatus.SENT  # sent rows are never touched
    assert rows[(CLOSE, 1)].status is ReminderStatus.CANCELLED
    assert rows[(CLOSE, 1)].last_error == "the date changed to Fri 18 Dec"
    assert rows[(new, 7)].due_at == at(date(2026, 12, 11), 9)  # GMT by then
    assert rows[(new, 1)].status is ReminderStatus.PLANNED


def test_merging_away_cancels_the_merged_storys_reminders(store: Store,
                                                          clock: FixedClock) -> None:
    rig = Rig(store, clock)
    keep, other = rig.story(1), rig.story(2)
    rig.deliver()
    rig.sender().run_once()
    store.merge_stories(keep, other, rig.ctx, clock.now())
    rig.sender().run_once()
    assert {(r.status, r.last_error) for r in rig.rows(other)} == {
        (ReminderStatus.CANCELLED, f"merged into story {keep}")}


def test_a_passed_date_cancels_instead_of_a_stale_reminder(store: Store,
                                                           clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    rig.deliver()
    rig.sender().run_once()
    clock._now = at(date(2026, 9, 8), 9)  # the worker was down past the date
    stats = rig.sender().run_once()
    assert stats.sent == 0 and stats.cancelled == 2
    assert {r.last_error for r in rig.rows(sid)} == {"its date passed before it could go"}


def test_a_crash_after_the_send_is_reclaimed_when_the_lease_ends(
        store: Store, clock: FixedClock) -> None:
    rig = Rig(store, clock)
    rig.story()
    rig.deliver()
    clock._now = at(date(2026, 8, 31), 9)
    rig.channel.crash_after_send = True
    with pytest.raises(SystemExit):
        rig.sender().run_once()
    rig.channel.crash_after_send = False
    assert rig.sender(owner="w2").run_once().sent == 0  # the lease still holds
    clock.advance(minutes=6)
    assert rig.sender(owner="w2").run_once().sent == 1
    assert [reclaimed for _, _, reclaimed in rig.channel.reminded] == [False, True]


def test_a_failure_retries_then_dies(store: Store, clock: FixedClock) -> None:
    rig = Rig(store, clock)
    sid = rig.story()
    rig.deliver()
    clock._now = at(date(2026, 8, 31), 9)
    rig.channel.failures = [TransientSendError("HTTP 503")] * 3
    assert rig.sender().run_once().failed == 1
    assert rig.sender().run_once().failed == 0  # not due again yet
    clock.advance(hours=2)
    rig.sender().run_once()
    clock.advance(hours=2)
    assert rig.sender().run_once().dead == 1
    seven = next(r for r in rig.rows(sid) if r.days_before == 7)
    assert seven.status is ReminderStatus.DEAD and seven.attempts == 3


# -- the command line ------------------------------------------------------------------

@pytest.mark.slow
def test_herald_reminders_lists_them_and_stories_json_carries_them(tmp_path: Path) -> None:
    import json

    from bot.clock import SystemClock
    from tests.conftest import ROOT
    from tests.test_cli import child_env, herald, write_workspace

    write_workspace(tmp_path, targets='[[targets]]\nname = "rec"\n'
                    'type = "tests.test_reminders:RemindingChannel"\n',
                    routes='[[routes]]\nto = ["rec"]\n')
    env = child_env(PYTHONPATH=str(ROOT))  # the test channel lives in tests/

    def run(*args: str) -> str:
        return herald(tmp_path, *args, env=env).stdout

    run("run", "--once")
    s = Store.open(f"sqlite:///{tmp_path / 'var' / 'herald.db'}")
    try:
        sid = s.list_stories()[0].id or 0
        today = SystemClock().now().date()  # the command line runs on the real clock
        s.edit_story(sid, by="comms", ctx=routing(("rec",)), now=SystemClock().now(),
                     dates=[KeyDate("deadline", today + timedelta(days=5))])
    finally:
        s.close()
    run("run", "--once")  # plans them (the summary names reminders only when some went)
    listed = run("reminders", "--due", "30d")
    assert f"story {sid}" in listed and "deadline" in listed and "planned" in listed
    rows = json.loads(run("reminders", "--all", "--json"))
    assert {(r["story_id"], r["what"], r["days_before"]) for r in rows} >= {
        (sid, "deadline", 1)}
    stories = json.loads(run("stories", "--json"))
    mine = next(x for x in stories if x["id"] == sid)
    assert mine["reminders_on"] is True
    assert {r["days_before"] for r in mine["reminders"]} == {1}
    assert all(not x["reminders"] for x in stories if x["id"] != sid)
