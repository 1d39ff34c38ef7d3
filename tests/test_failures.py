"""Failures are loud and easy to recover (issue #14).

- ``herald run --once`` exits 3 when a source failed, 4 when a delivery failed or waits on a
  paused target, 5 for both (it exited 0 when every feed and every delivery failed);
- a target that refuses Herald's credentials (Slack ``invalid_auth``, a Teams webhook's 401,
  an SMTP login refused) pauses instead of killing each delivery on its first try; a probe
  after a while, or ``herald outbox resume``, lifts it; pausing is one statement, safe with
  several workers on PostgreSQL;
- ``herald outbox retry --all | --target | --status`` queues many again at once.

Everything runs against the loopback fakes of tests/fakes (feed server, Slack, Teams
webhook, aiosmtpd), on SQLite and PostgreSQL where the store is involved.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import inspect

from bot.app import Herald
from bot.clock import FixedClock
from bot.digest import DigestJob, parse_period
from bot.dispatch import Dispatcher
from bot.outmail import compose_mail, send_outmail
from bot.pause import PROBE_CAP, PROBE_FIRST, probe_delay
from bot.retry import RetryPolicy
from bot.store import Store
from bot.store.migrate import downgrade, upgrade
from channels import BaseChannel, ChannelContext
from channels.slack import SlackChannel, SlackOptions
from channels.teams import TeamsChannel, TeamsOptions
from tests.builders import item, routing
from tests.conftest import CONFIG_DIR, make_settings
from tests.fakes.slack_server import FakeSlack, running_fake_slack
from tests.fakes.smtp_server import running_smtp_server
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook
from tests.test_cli import FEED, child_env, herald
from tests.test_digest import ca_file, tls  # noqa: F401  (the module's TLS fixture)

POLICY = RetryPolicy(timedelta(seconds=30), timedelta(hours=6), 8)


@pytest.fixture
def slack() -> Any:
    with running_fake_slack(valid_tokens={"xoxb-good"}) as fake:
        yield fake


@pytest.fixture
def teams() -> Any:
    with running_teams_webhook() as fake:
        yield fake


def dispatcher(store: Store, clock: FixedClock, channels: dict[str, BaseChannel],
               owner: str = "w1") -> Dispatcher:
    return Dispatcher(store, channels, clock=clock, policy=POLICY, owner=owner,
                      lease_seconds=300, sleep=lambda s: None)


def slack_channel(fake: FakeSlack, tmp_path: Path, token: str) -> SlackChannel:
    return SlackChannel("staff-slack", SlackOptions(channel="C0NEWS", base_url=fake.base_url),
                        ChannelContext(outbox_dir=tmp_path, environ={"SLACK_BOT_TOKEN": token}))


def teams_channel(fake: FakeTeamsWebhook, tmp_path: Path, url: str) -> TeamsChannel:
    return TeamsChannel("staff-teams", TeamsOptions(), ChannelContext(
        outbox_dir=tmp_path, environ={"TEAMS_WEBHOOK_URL": url}))


# -- the migration ----------------------------------------------------------------------------

def test_0008_adds_target_state_and_goes_back(db_url: str, clock: FixedClock) -> None:
    s = Store.open(db_url)
    try:
        # Rows written by today's code (which needs today's schema: 0015 added a column
        # to stories), then down to 0007 and up again with them in place.
        upgrade(s.engine)
        s.ingest([item(1)], routing(("files",)), clock.now())
        assert "target_state" in inspect(s.engine).get_table_names()
        s.pause_target("files", "refused", clock.now())
        assert list(s.paused_targets()) == ["files"]
        downgrade(s.engine, "0007")
        assert "target_state" not in inspect(s.engine).get_table_names()
        upgrade(s.engine)
        assert s.paused_targets() == {} and len(s.list_deliveries()) == 1
    finally:
        s.close()


# -- pausing, probing, resuming ------------------------------------------------------------------

def test_a_wrong_slack_token_pauses_the_target_and_a_probe_resumes_it(
        store: Store, clock: FixedClock, slack: FakeSlack, tmp_path: Path) -> None:
    store.ingest([item(n) for n in range(1, 4)], routing(("staff-slack",)), clock.now())
    d = dispatcher(store, clock, {"staff-slack": slack_channel(slack, tmp_path, "xoxb-bad")})
    stats = d.run_once()
    # Before issue #14: stats.dead == 3, one call each, every delivery dead.
    assert (stats.sent, stats.failed, stats.dead, stats.held) == (0, 0, 0, 3)
    assert "invalid_auth" in stats.paused["staff-slack"]
    assert len(slack.calls) == 1  # the first refusal stops the rest
    rows = store.list_deliveries()
    assert {(r.status.value, r.attempts) for r in rows} == {("pending", 0)}
    assert all("paused" in (r.last_error or "") for r in rows)
    (pause,) = store.paused_targets().values()
    assert pause.next_probe_at == clock.now() + PROBE_FIRST and pause.probes == 0
    # While paused, nothing is tried until the probe is due.
    clock.advance(minutes=14)
    assert d.run_once().held == 3
    assert len(slack.calls) == 1
    # The probe: one delivery (one call: it looks in the history first), still refused;
    # the next probe waits twice as long.
    clock.advance(minutes=1)
    assert d.run_once().held == 3
    assert len(slack.calls) == 2
    (pause,) = store.paused_targets().values()
    assert pause.probes == 1 and pause.next_probe_at == clock.now() + 2 * PROBE_FIRST
    assert {(r.status.value, r.attempts) for r in store.list_deliveries()} == {("pending", 0)}
    # The token is fixed: the next probe gets through, the target resumes, all go once.
    slack.valid_tokens.add("xoxb-bad")
    clock.advance(minutes=30)
    stats = d.run_once()
    assert (stats.sent, stats.held, stats.paused) == (3, 0, {})
    assert store.paused_targets() == {}
    assert len(slack.posted()) == 3


def test_the_email_target_is_the_digest() -> None:
    from bot.pause import EMAIL
    from bot.release import DIGEST

    assert EMAIL == DIGEST


def test_probe_waits_grow_to_a_cap() -> None:
    assert [probe_delay(n) for n in range(4)] == [
        PROBE_FIRST, 2 * PROBE_FIRST, PROBE_CAP, PROBE_CAP]


def test_a_teams_webhook_answering_401_pauses_the_target(
        store: Store, clock: FixedClock, teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    store.ingest([item(1), item(2)], routing(("staff-teams",)), clock.now())
    stale = teams.url.replace("sig=secret", "sig=stale")
    d = dispatcher(store, clock, {"staff-teams": teams_channel(teams, tmp_path, stale)})
    stats = d.run_once()
    assert (stats.dead, stats.held) == (0, 2)
    assert "401" in stats.paused["staff-teams"] and "stale" not in stats.paused["staff-teams"]
    assert {r.status.value for r in store.list_deliveries()} == {"pending"}
    # A person fixes the URL and resumes the target: both go at the next dispatch.
    fixed = dispatcher(store, clock, {"staff-teams": teams_channel(teams, tmp_path, teams.url)})
    assert store.resume_target("staff-teams", clock.now()) == ["staff-teams"]
    assert fixed.run_once().sent == 2 and len(teams.received) == 2


def test_a_paused_target_holds_back_no_other_target(
        store: Store, clock: FixedClock, slack: FakeSlack, teams: FakeTeamsWebhook,
        tmp_path: Path) -> None:
    store.ingest([item(1), item(2)], routing(("staff-slack", "staff-teams")), clock.now())
    d = dispatcher(store, clock, {"staff-slack": slack_channel(slack, tmp_path, "xoxb-bad"),
                                  "staff-teams": teams_channel(teams, tmp_path, teams.url)})
    stats = d.run_once()
    assert (stats.sent, stats.held) == (2, 2) and list(stats.paused) == ["staff-slack"]


def test_a_worker_start_probes_at_once(store: Store, clock: FixedClock, slack: FakeSlack,
                                       tmp_path: Path) -> None:
    store.ingest([item(1)], routing(("staff-slack",)), clock.now())
    dispatcher(store, clock, {"staff-slack": slack_channel(slack, tmp_path, "xoxb-bad")})\
        .run_once()
    # Restarted with the right token (a secret usually changes with a restart).
    assert store.probe_paused_now(clock.now()) == 1
    stats = dispatcher(store, clock, {"staff-slack": slack_channel(slack, tmp_path,
                                                                   "xoxb-good")}).run_once()
    assert stats.sent == 1 and store.paused_targets() == {}


def test_pausing_and_probing_are_safe_with_several_workers(store: Store,
                                                           clock: FixedClock) -> None:
    """Eight workers meet the refusal at once: one pause, no error; then eight race for
    the due probe and exactly one wins it."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def pause(n: int) -> None:
        try:
            start.wait(10)
            store.pause_target("staff-slack", f"refused ({n})", clock.now())
        except BaseException as exc:  # pragma: no cover - the failure we look for
            errors.append(exc)

    threads = [threading.Thread(target=pause, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    (pause_row,) = store.paused_targets().values()
    assert pause_row.paused_at == clock.now() and pause_row.probes == 0
    # Paused again later by a worker that had claimed before: the first pause stays.
    clock.advance(minutes=5)
    store.pause_target("staff-slack", "refused again", clock.now())
    (again,) = store.paused_targets().values()
    assert again.paused_at == pause_row.paused_at
    assert again.next_probe_at == pause_row.next_probe_at and again.reason == "refused again"

    clock.advance(minutes=15)
    wins: list[bool] = []
    race = threading.Barrier(8)

    def probe() -> None:
        race.wait(10)
        wins.append(store.claim_probe("staff-slack", clock.now(), timedelta(minutes=5)))

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False] * 7 + [True]


# -- email: the digest's mail server refusing the login -----------------------------------------

USER, PASSWORD = "herald", "right-password"


def mail_herald(tmp_path: Path, clock: FixedClock, url: str, ca: Path) -> Herald:
    settings = make_settings(tmp_path, {"digest": {
        "from": "Academy news <news@example.org>", "base_url": "https://herald.example.org",
        "tls_ca_file": str(ca)}}, environ={"SMTP_URL": url, "HERALD_SECRET_KEY": "k" * 40})
    h = Herald(settings, clock=clock)
    h.prepare()
    return h


def test_a_refused_smtp_login_pauses_email_and_keeps_every_message(
        tmp_path: Path, clock: FixedClock, tls: Any) -> None:  # noqa: F811
    ca, context = tls
    with running_smtp_server(implicit_tls=context, users={USER: PASSWORD}) as fake:
        wrong = f"smtps://{USER}:wrong@127.0.0.1:{fake.port}"
        h = mail_herald(tmp_path, clock, wrong, ca_file(ca, tmp_path))
        try:
            for n in range(3):
                assert h.store.queue_mail("confirm", f"p{n}@example.org", compose_mail(
                    "news@example.org", f"p{n}@example.org", "Confirm", "Click.", clock.now()),
                    clock.now(), limit=3, window=timedelta(days=1))
            stats = send_outmail(h)
            # Before issue #14 the batch failed one message and deferred the rest.
            assert (stats.sent, stats.failed, stats.dead, stats.held) == (0, 0, 0, 3)
            assert list(h.store.paused_targets()) == ["digest"]
            rows = h.store.list_outmail()
            assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
            assert "wrong" not in json.dumps(stats.errors)
            # Paused: the next runs do not log in until the probe is due.
            connections = fake.connections
            assert send_outmail(h).held == 3 and fake.connections == connections
            # The digest waits too, and `herald digest send` (force) tries and pauses again.
            h.store.add_subscriber("reader@example.org", domains=None, now=clock.now())
            h.store.ingest([item(1)], h.routing, clock.now())
            period = parse_period("current", "mon 08:00", "Europe/London", clock.now())
            waiting = DigestJob(h).run(period, clock.now())
            assert (waiting.sent, waiting.failed, waiting.held) == (0, 0, 1)
            forced = DigestJob(h).run(period, clock.now(), force=True)
            assert (forced.sent, forced.failed, forced.held) == (0, 0, 1)
            assert fake.messages == []
        finally:
            h.close()
        # The password is fixed (a restart): the probe gets through and everything goes.
        right = f"smtps://{USER}:{quote(PASSWORD)}@127.0.0.1:{fake.port}"
        h = mail_herald(tmp_path, clock, right, ca_file(ca, tmp_path))
        try:
            h.store.probe_paused_now(clock.now())
            assert send_outmail(h).sent == 3
            assert h.store.paused_targets() == {}
            assert DigestJob(h).run(period, clock.now()).sent == 1
        finally:
            h.close()


# -- retry in bulk --------------------------------------------------------------------------------

def test_retry_in_bulk_never_requeues_what_went_or_was_taken_back(
        store: Store, clock: FixedClock) -> None:
    store.ingest([item(n) for n in range(1, 7)], routing(("a", "b")), clock.now())
    claims = store.claim_deliveries("w", clock.now(), timedelta(minutes=5), limit=100)
    by = {(c.delivery.story_id, c.delivery.target): c.delivery.id for c in claims}
    ids = sorted(by.values())
    for n, delivery_id in enumerate(ids):
        if n < 4:
            store.mark_failed(delivery_id, owner="w", error="x", retry_at=None,
                              now=clock.now())  # dead
        elif n < 7:
            store.mark_failed(delivery_id, owner="w", error="x",
                              retry_at=clock.now() + timedelta(hours=1), now=clock.now())
        elif n < 10:
            store.mark_sent(delivery_id, external_id="x", revision=1, now=clock.now())
        else:
            store.mark_retracted(delivery_id, owner="w", taken_back=n % 2 == 0,
                                 detail="merged", now=clock.now())
    statuses = {d.id: d.status.value for d in store.list_deliveries()}
    dead_b = [i for i, s in statuses.items() if s == "dead" and
              next(t for (_, t), v in by.items() if v == i) == "b"]
    assert store.retry_deliveries(clock.now(), target="b", statuses=("dead",)) == len(dead_b)
    assert store.retry_deliveries(clock.now(), statuses=("failed",)) == 3
    assert store.retry_deliveries(clock.now()) == 4 - len(dead_b)
    after = {d.id: d for d in store.list_deliveries()}
    assert sorted(s.status.value for s in after.values()) == sorted(
        ["pending"] * 7 + ["sent"] * 3 + ["retracted", "left"])
    assert all(d.attempts == 0 for d in after.values() if d.status.value == "pending")
    assert store.retry_deliveries(clock.now()) == 0  # nothing failed or dead is left


# -- the command line: exit codes, outbox, resume, retry ------------------------------------------

def flat(text: str) -> str:
    return " ".join(text.split())


def cli_config(tmp_path: Path, *, feeds: dict[str, str], targets: str,
               routes: str) -> Path:
    local = tmp_path / "news.xml"
    local.write_text(FEED, encoding="utf-8")
    sources = "".join(
        f'[[sources]]\nname = "{name}"\nurl = "{url}"\nannounce_backlog = true\n'
        for name, url in {"news": str(local), **feeds}.items())
    config = tmp_path / "herald.toml"
    config.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'herald.db'}"
[paths]
taxonomy = "{CONFIG_DIR / 'taxonomy.toml'}"
outbox = "{tmp_path / 'outbox'}"
[tagging]
model = "off"
[http]
allow_networks = ["127.0.0.0/8"]
{sources}
{targets}
{routes}
""", encoding="utf-8")
    return config


FILES = '[[targets]]\nname = "files"\ntype = "file"\n'


def slack_target(slack: FakeSlack) -> str:
    return (f'[[targets]]\nname = "staff-slack"\ntype = "slack"\nchannel = "C0NEWS"\n'
            f'base_url = "{slack.base_url}"\n')


@pytest.mark.slow
def test_run_once_exits_0_when_all_is_well_and_3_when_a_source_failed(
        tmp_path: Path, feed_server: Any) -> None:
    config = cli_config(tmp_path, feeds={}, targets=FILES, routes='[[routes]]\nto = ["files"]')
    herald(tmp_path, "run", "--once", "--config", config, code=0)
    broken = cli_config(tmp_path, feeds={"broken": feed_server.url("/status/500")},
                        targets=FILES, routes='[[routes]]\nto = ["files"]')
    result = herald(tmp_path, "run", "--once", "--config", broken, code=3)
    assert "source broken failed" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_run_once_exits_4_on_a_refused_token_and_recovers(tmp_path: Path,
                                                          slack: FakeSlack) -> None:
    config = cli_config(tmp_path, feeds={}, targets=slack_target(slack),
                        routes='[[routes]]\nto = ["staff-slack"]')
    wrong = child_env(SLACK_BOT_TOKEN="xoxb-wrong")
    result = herald(tmp_path, "run", "--once", "--config", config, env=wrong, code=4)
    said = " ".join(result.stdout.split())
    assert "target staff-slack is paused" in said and "invalid_auth" in said
    assert "herald outbox resume staff-slack" in said and "xoxb-wrong" not in said
    # `herald outbox` names the pause; --json carries it on each row of the target.
    table = " ".join(herald(tmp_path, "outbox", "--config", config, env=wrong).stdout.split())
    assert "target staff-slack is paused" in table and "invalid_auth" in table
    rows = [r for r in json.loads(herald(tmp_path, "outbox", "--json", "--config", config,
                                         env=wrong).stdout) if r["target"] == "staff-slack"]
    assert {r["status"] for r in rows} == {"pending"} and {r["attempts"] for r in rows} == {0}
    assert all("invalid_auth" in r["target_paused"]["reason"] for r in rows)
    # Run again, still wrong: one probe call, not one per delivery; still exit 4.
    calls = len(slack.calls)
    herald(tmp_path, "run", "--once", "--config", config, env=wrong, code=4)
    assert len(slack.calls) == calls + 1
    # Resume by hand; resuming what is not paused says so.
    resumed = herald(tmp_path, "outbox", "resume", "staff-slack", "--config", config, env=wrong)
    assert "resumed staff-slack" in resumed.stdout
    again = herald(tmp_path, "outbox", "resume", "--all", "--config", config, env=wrong, code=1)
    assert "no target is paused" in again.stderr
    # The token fixed: everything goes out, once, and the run exits 0.
    right = child_env(SLACK_BOT_TOKEN="xoxb-good")
    herald(tmp_path, "run", "--once", "--config", config, env=right, code=0)
    assert len(slack.posted()) == len(rows) == 3


@pytest.mark.slow
def test_run_once_exits_5_when_sources_and_deliveries_failed(
        tmp_path: Path, slack: FakeSlack, feed_server: Any) -> None:
    config = cli_config(tmp_path, feeds={"broken": feed_server.url("/status/404")},
                        targets=slack_target(slack), routes='[[routes]]\nto = ["staff-slack"]')
    herald(tmp_path, "run", "--once", "--config", config,
           env=child_env(SLACK_BOT_TOKEN="xoxb-wrong"), code=5)


@pytest.mark.slow
def test_run_once_exits_1_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    config = cli_config(tmp_path, feeds={}, targets=FILES, routes='[[routes]]\nto = ["files"]')
    env = child_env(DATABASE_URL="postgresql+psycopg://herald@127.0.0.1:9/none")
    result = herald(tmp_path, "run", "--once", "--config", config, env=env, code=1)
    assert "database" in result.stderr
    assert "Exit codes" in herald(tmp_path, "run", "--help").stdout


@pytest.mark.slow
def test_outbox_of_a_paused_target_shows_its_probe_time_and_retry_says_why_not(
        tmp_path: Path, slack: FakeSlack) -> None:
    config = cli_config(tmp_path, feeds={}, targets=slack_target(slack),
                        routes='[[routes]]\nto = ["staff-slack"]')
    wrong = child_env(SLACK_BOT_TOKEN="xoxb-wrong", COLUMNS="200")
    herald(tmp_path, "run", "--once", "--config", config, env=wrong, code=4)
    rows = [r for r in json.loads(herald(tmp_path, "outbox", "--json", "--config", config,
                                         env=wrong).stdout) if r["target"] == "staff-slack"]
    assert len(rows) == 3
    # Every waiting row, the one whose send met the refusal included, says why it waits.
    assert all(r["last_error"].startswith("waiting: staff-slack is paused") for r in rows)
    # "next try" is when the worker probes the target (before: the time of the pause).
    probe = rows[0]["target_paused"]["next_try"]  # e.g. 2026-12-03T07:47:30.558452Z
    shown = probe[:10] + " " + probe[11:19] + "Z"
    table = herald(tmp_path, "outbox", "--config", config, env=wrong).stdout
    slack_lines = [line for line in table.splitlines() if "staff-slack" in line
                   and "pending" in line]
    assert len(slack_lines) == 3 and all(shown in line for line in slack_lines), table
    # Retrying a pending delivery says what it is and what can be retried (before:
    # "changed meanwhile; look again").
    refused = herald(tmp_path, "outbox", "retry", str(rows[0]["id"]), "--config", config,
                     env=wrong, code=1)
    said = flat(refused.stderr)
    assert f"delivery {rows[0]['id']} is pending" in said
    assert "only failed or dead deliveries can be retried" in said
    assert "meanwhile" not in said


@pytest.mark.slow
def test_outbox_retry_selectors(tmp_path: Path, slack: FakeSlack) -> None:
    config = cli_config(tmp_path, feeds={}, targets=FILES + slack_target(slack),
                        routes='[[routes]]\nto = ["files", "staff-slack"]')
    slack.fail_next.extend([(200, {"ok": False, "error": "channel_not_found"}, {})] * 3)
    env = child_env(SLACK_BOT_TOKEN="xoxb-good")
    herald(tmp_path, "run", "--once", "--config", config, env=env, code=4)
    refused = herald(tmp_path, "outbox", "retry", "--config", config, env=env, code=2)
    assert "--all" in refused.stderr
    assert "no target named 'nowhere'" in herald(
        tmp_path, "outbox", "retry", "--target", "nowhere", "--config", config, env=env,
        code=2).stderr
    herald(tmp_path, "outbox", "retry", "--status", "sent", "--config", config, env=env, code=2)
    none = herald(tmp_path, "outbox", "retry", "--target", "files", "--config", config, env=env)
    assert "0 deliveries queued again" in none.stdout  # the files went: nothing to retry
    some = herald(tmp_path, "outbox", "retry", "--target", "staff-slack", "--status", "dead",
                  "--config", config, env=env)
    assert "3 deliveries queued again" in some.stdout
    herald(tmp_path, "run", "--once", "--config", config, env=env, code=0)
    assert len(slack.posted()) == 3
    assert "0 deliveries queued again" in herald(
        tmp_path, "outbox", "retry", "--all", "--config", config, env=env).stdout
