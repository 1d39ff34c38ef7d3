"""Slack, Teams and SMTP misbehaving through whole dispatch runs: 429 storms, 5xx, a
connection reset before or after the server acted, permanent refusals. Nothing is lost,
nothing is posted twice where the channel can tell (Slack), each delivery is tried at
most once per run, a rate-limited target gets no more calls until its limit ends, and
the attempts and the next try are there to see in ``herald outbox --json``.

Every channel is the real one, over real HTTP or SMTP to the loopback fakes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Herald
from bot.clock import FixedClock
from bot.digest import DigestJob, period_from_start
from bot.dispatch import Dispatcher
from bot.model import Delivery
from bot.retry import RetryPolicy
from bot.store import Store
from channels import BaseChannel, ChannelContext
from channels.slack import SlackChannel, SlackOptions
from channels.teams import TeamsChannel, TeamsOptions
from tests.builders import item, routing
from tests.conftest import make_settings
from tests.fakes.slack_server import (
    DROP,
    DROP_AFTER_PROCESSING,
    NOT_IN_CHANNEL_TOKEN,
    FakeSlack,
    ratelimited,
    running_fake_slack,
    server_error,
)
from tests.fakes.smtp_server import running_smtp_server
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook, throttled
from tests.fakes.teams_webhook import server_error as teams_error
from tests.workers import herald, worker_env, write_config

POLICY = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=8)
SLACK, TEAMS = "staff-slack", "staff-teams"


@pytest.fixture
def slack(clock: FixedClock) -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        # Message times agree with the test clock: history is searched from a delivery's
        # creation time.
        fake.state.ts_base = int(clock.now().timestamp())
        yield fake


@pytest.fixture
def teams() -> Iterator[FakeTeamsWebhook]:
    with running_teams_webhook() as fake:
        yield fake


def slack_channel(fake: FakeSlack, tmp_path: Path, token: str = "xoxb-good") -> SlackChannel:
    return SlackChannel(SLACK, SlackOptions(channel="C0NEWS", base_url=fake.base_url),
                        ChannelContext(outbox_dir=tmp_path,
                                       environ={"SLACK_BOT_TOKEN": token}))


def teams_channel(fake: FakeTeamsWebhook, tmp_path: Path) -> TeamsChannel:
    return TeamsChannel(TEAMS, TeamsOptions(), ChannelContext(
        outbox_dir=tmp_path, environ={"TEAMS_WEBHOOK_URL": fake.url}))


def dispatcher(store: Store, clock: FixedClock, channels: dict[str, BaseChannel]
               ) -> Dispatcher:
    return Dispatcher(store, channels, clock=clock, policy=POLICY, owner="w1",
                      lease_seconds=300, sleep=lambda s: None)


def by_status(store: Store) -> dict[str, list[Delivery]]:
    found: dict[str, list[Delivery]] = {}
    for d in store.list_deliveries():
        found.setdefault(d.status.value, []).append(d)
    return found


def settle(d: Dispatcher, store: Store, clock: FixedClock, *, step: timedelta,
           rounds: int = 12) -> int:
    """Run the dispatcher, moving the clock on, until nothing is left to send (bounded);
    returns the number of runs."""
    for n in range(1, rounds + 1):
        d.run_once()
        if set(by_status(store)) <= {"sent", "dead"}:
            return n
        clock.advance(seconds=step.total_seconds())
    raise AssertionError(f"still not settled after {rounds} runs: {by_status(store)}")


# ------------------------------------------------------------------------------- Slack


def test_slack_429_storm_one_call_per_run_and_every_story_once(
        store: Store, clock: FixedClock, slack: FakeSlack, tmp_path: Path) -> None:
    store.ingest([item(n) for n in range(1, 6)], routing((SLACK,)), clock.now())
    slack.fail_next.extend([ratelimited(20)] * 3)  # a storm: three 429s in a row
    d = dispatcher(store, clock, {SLACK: slack_channel(slack, tmp_path)})

    stats = d.run_once()
    # One call found the limit; the other four were not tried, and all five wait for its
    # end. Being told to wait is not a failed attempt: no attempt is counted.
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert (stats.failed, stats.deferred, stats.sent) == (0, 5, 0)
    rows = by_status(store)
    assert "failed" not in rows and len(rows["pending"]) == 5
    (limited,) = [r for r in rows["pending"] if "429" in r.last_error]
    until = limited.next_attempt_at
    assert clock.now() + timedelta(seconds=20) <= until <= clock.now() + timedelta(seconds=21)
    for waiting in rows["pending"]:
        assert waiting.attempts == 0 and waiting.next_attempt_at == until
        assert "rate-limited us" in waiting.last_error

    assert d.run_once().sent == 0  # not due: no call at all
    assert len(slack.calls_to("chat.postMessage")) == 1

    settle(d, store, clock, step=timedelta(seconds=25))  # two more 429s, then all five go
    posted = slack.posted()
    assert len(posted) == 5
    assert len({m["metadata"]["event_payload"]["delivery_id"] for m in posted}) == 5
    assert len(slack.calls_to("chat.postMessage")) == 3 + 5  # each 429 cost one call
    assert {d.status.value for d in store.list_deliveries()} == {"sent"}


def test_slack_5xx_and_resets_lose_nothing_and_post_nothing_twice(
        store: Store, clock: FixedClock, slack: FakeSlack, tmp_path: Path) -> None:
    store.ingest([item(n) for n in range(1, 5)], routing((SLACK,)), clock.now())
    # 500; the answer lost after Slack posted; a reset before it did; 503.
    slack.fail_next.extend([server_error(500), DROP_AFTER_PROCESSING, DROP,
                            server_error(503)])
    d = dispatcher(store, clock, {SLACK: slack_channel(slack, tmp_path)})

    first = d.run_once()
    assert first.failed == 4 and first.sent == 0
    assert len(slack.calls_to("chat.postMessage")) == 4  # once each, no retry inside
    assert len(slack.posted()) == 1  # the one whose answer was lost did go out
    for row in by_status(store)["failed"]:
        assert row.attempts == 1 and row.next_attempt_at > clock.now()
    assert d.run_once().failed == 0 and len(slack.calls_to("chat.postMessage")) == 4

    settle(d, store, clock, step=timedelta(minutes=1))
    posted = slack.posted()
    ids = Counter(m["metadata"]["event_payload"]["delivery_id"] for m in posted)
    assert len(ids) == 4 and set(ids.values()) == {1}
    # The lost answer was found in the channel's history and adopted, not posted again.
    assert len(slack.calls_to("chat.postMessage")) == 4 + 3
    assert {(d.status.value, d.attempts) for d in store.list_deliveries()} == {("sent", 2)}


def test_slack_permanent_refusal_is_dead_at_once_and_never_retried(
        store: Store, clock: FixedClock, slack: FakeSlack, tmp_path: Path) -> None:
    store.ingest([item(1)], routing((SLACK,)), clock.now())
    d = dispatcher(store, clock, {SLACK: slack_channel(slack, tmp_path,
                                                        token=NOT_IN_CHANNEL_TOKEN)})
    assert d.run_once().dead == 1
    for _ in range(3):
        clock.advance(hours=2)
        d.run_once()
    (dead,) = store.list_deliveries()
    assert dead.status.value == "dead" and dead.attempts == 1
    assert "not_in_channel" in dead.last_error and NOT_IN_CHANNEL_TOKEN not in dead.last_error
    assert len(slack.calls_to("chat.postMessage")) == 1 and slack.posted() == []


# ------------------------------------------------------------------------------- Teams


def test_teams_throttling_5xx_and_a_reset_lose_nothing(
        store: Store, clock: FixedClock, teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    store.ingest([item(n) for n in range(1, 5)], routing((TEAMS,)), clock.now())
    teams.fail_next.extend([throttled(7), throttled(7), teams_error(502), DROP])
    d = dispatcher(store, clock, {TEAMS: teams_channel(teams, tmp_path)})

    stats = d.run_once()
    assert (stats.failed, stats.deferred) == (0, 4) and len(teams.requests) == 1
    assert d.run_once().sent == 0 and len(teams.requests) == 1  # waiting out Retry-After

    settle(d, store, clock, step=timedelta(minutes=1))
    titles = Counter(card["body"][0]["text"] for card in teams.cards)
    assert len(titles) == 4 and set(titles.values()) == {1}
    # Four faults, four cards: each fault cost one request, nothing more.
    assert len(teams.requests) == 4 + 4
    assert {d.status.value for d in store.list_deliveries()} == {"sent"}


def test_teams_reset_after_the_card_was_taken_repeats_it_a_known_limit(
        store: Store, clock: FixedClock, teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    """A Workflows webhook answers with no id to look up later, so a reset after it took
    the card cannot be told from one before: the retry posts the card again. This is the
    one window where a story can appear twice (DESIGN.md, "Teams"); the test pins it."""
    store.ingest([item(1)], routing((TEAMS,)), clock.now())
    teams.fail_next.append(DROP_AFTER_PROCESSING)
    d = dispatcher(store, clock, {TEAMS: teams_channel(teams, tmp_path)})
    settle(d, store, clock, step=timedelta(minutes=1))
    assert len(teams.cards) == 2
    (row,) = store.list_deliveries()
    assert (row.status.value, row.attempts) == ("sent", 2)


# -------------------------------------------------------------------------------- SMTP

PERIOD = period_from_start(date(2026, 8, 17), "mon 08:00", "Europe/London")
IN_PERIOD = datetime(2026, 8, 19, 12, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 8, 24, 9, 0, tzinfo=UTC)


def test_smtp_resets_mid_batch_lose_no_digest(tmp_path: Path) -> None:
    with running_smtp_server() as smtp:
        clock = FixedClock(SENT_AT)
        settings = make_settings(tmp_path, {"digest": {
            "from": "Academy news <news@example.org>",
            "base_url": "https://herald.example.org"}}, environ={
            "HERALD_SECRET_KEY": "k", "SMTP_URL": smtp.url(query="starttls=off")})
        h = Herald(settings, clock=clock)
        try:
            h.prepare()
            when = IN_PERIOD
            h.store.ingest([item(1, text="A masterclass on coaching and learning in Preston.",
                                 published_at=when, collected_at=when)], h.routing, now=when)
            people = [f"person{n}@example.org" for n in range(4)]
            for address in people:
                h.store.add_subscriber(address, domains=None, now=IN_PERIOD)
            # The first message is taken and then the connection drops before the reply;
            # the second connection drops before the message is taken.
            smtp.fail_data.extend([DROP_AFTER_PROCESSING, DROP])
            first = DigestJob(h).run(PERIOD, clock.now())
            assert (first.sent, first.failed) == (2, 2), first.errors
            assert all("connection lost" in e for e in first.errors), first.errors
            early = DigestJob(h).run(PERIOD, clock.now())  # nothing due: no storm
            assert early.sent == 0 and early.failed == 0
            clock.advance(minutes=15)
            later = DigestJob(h).run(PERIOD, clock.now())
            assert (later.sent, later.failed) == (2, 0)
            rows = h.store.list_digests(PERIOD.key)
        finally:
            h.close()
        assert {r.status for r in rows} == {"sent"}
        for address in people:
            got = smtp.to(address)
            assert got, address  # nobody lost
            # The message taken before the reset arrives twice, with the same Message-ID
            # (derived from subscriber and period), so mail clients show it once.
            assert len({m.parsed()["Message-ID"] for m in got}) == 1


# -------------------------------------------------------------- visible in the outbox


@pytest.mark.slow
def test_outbox_json_shows_attempts_and_the_next_try_without_a_retry_storm(
        tmp_path: Path, slack: FakeSlack) -> None:
    feed = tmp_path / "news.xml"
    from tests.workers import rss

    feed.write_bytes(rss("news", range(1, 4)))
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'herald.db'}",
                          sources={"news": str(feed)},
                          targets=[{"name": SLACK, "type": "slack", "channel": "C0NEWS",
                                    "base_url": slack.base_url}])
    env = worker_env(SLACK_BOT_TOKEN="xoxb-good")
    slack.fail_next.extend([ratelimited(600)] * 5)
    started = datetime.now(UTC)
    first = herald(config, "run", "--once", env=env)
    assert first.returncode == 0, first.stderr
    again = herald(config, "run", "--once", env=env)  # at once: nothing is due
    assert again.returncode == 0, again.stderr
    assert len(slack.calls_to("chat.postMessage")) == 1

    shown = herald(config, "outbox", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows: list[dict[str, Any]] = json.loads(shown.stdout)
    assert len(rows) == 3
    # Nothing failed: the 429 is not an attempt; all three wait for the limit to end.
    waiting = [r for r in rows if r["status"] == "pending"]
    assert len(waiting) == 3
    (limited,) = [r for r in waiting if "429" in r["last_error"]]
    next_try = datetime.fromisoformat(limited["next_attempt_at"])
    assert next_try >= started + timedelta(seconds=600)
    for row in waiting:
        assert row["attempts"] == 0 and row["next_attempt_at"] == limited["next_attempt_at"]
        assert "rate-limited" in row["last_error"]
    table = herald(config, "outbox", env=env)
    assert "rate-limited" in table.stdout and "429" in table.stdout
