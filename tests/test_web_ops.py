"""Operations and accounts around the web app: /healthz, /readyz, /metrics, `herald users` on the
command line (argon2 hashes, never the password), the first-run setup link, and secrets
that never appear in any page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from bot.app import Herald
from bot.cli import app as cli
from bot.clock import FixedClock
from bot.config import collector_stale
from bot.passwords import verify_password
from bot.store import Store
from bot.web import create_app
from tests.conftest import CONFIG_DIR, make_settings
from tests.fakes.slack_server import running_fake_slack
from tests.web_helpers import (
    ADMIN,
    APPROVER,
    BASE,
    COOKIE,
    EDITOR,
    PASSWORD,
    Web,
    make_web,
)

METRICS_TOKEN = "metrics-token-SECRET-0123456789"


@pytest.fixture
def web(tmp_path: Path, clock: FixedClock) -> Iterator[Web]:
    w = make_web(tmp_path, clock, environ={"HERALD_METRICS_TOKEN": METRICS_TOKEN})
    yield w
    w.close()


# -- /healthz ---------------------------------------------------------------------------------

def test_healthz_is_liveness_and_readyz_needs_a_recent_heartbeat(web: Web) -> None:
    """Issue #14: /healthz answered 503 with no worker beating, so an orchestrator probing
    the web process restarted it because the *worker* was down. /healthz is liveness now
    (200, saying plainly that no worker beats); /readyz carries the old verdict."""
    c = web.client()
    r = c.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["worker"] == "not beating" and body["worker_heartbeat_age_seconds"] is None
    assert body["collector"] == "stale" and body["collector_cycle_age_seconds"] is None
    assert any("no worker is beating" in p for p in body["problems"])
    ready = c.get("/readyz")
    assert ready.status_code == 503 and ready.json() == body
    web.store.beat("worker-1", web.clock.now())
    web.store.collected("worker-1", web.clock.now())
    web.clock.advance(seconds=30)
    for path in ("/healthz", "/readyz"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert r.json() == {"status": "ok", "database": "ok", "worker": "beating",
                            "worker_heartbeat_age_seconds": 30.0, "collector": "ok",
                            "collector_cycle_age_seconds": 30.0, "paused_targets": [],
                            "problems": []}
    web.clock.advance(minutes=2)  # [web] heartbeat_stale = 2 minutes
    r = c.get("/healthz")
    assert r.status_code == 200 and r.json()["worker"] == "not beating"
    assert r.json()["worker_heartbeat_age_seconds"] == 150.0
    assert "the last beat was 150 s ago" in r.json()["problems"][0]
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "degraded"


def test_healthz_reports_a_collector_stuck_while_its_worker_still_beats(web: Web) -> None:
    # Defect 11 of issue #12: a worker whose collect cycle never ends (a feed server
    # trickling its headers) kept beating, and the health check stayed green.
    c = web.client()
    web.store.collected("worker-1", web.clock.now())
    for _ in range(11):  # the worker beats on; its cycle never finishes
        web.clock.advance(minutes=1)
        web.store.beat("worker-1", web.clock.now())
    r = c.get("/readyz")
    assert r.status_code == 503  # default [web] collector_stale: 10 minutes
    body = r.json()
    assert (body["status"], body["worker"], body["collector"]) == ("degraded", "beating",
                                                                   "stale")
    assert body["worker_heartbeat_age_seconds"] == 0.0
    assert body["collector_cycle_age_seconds"] == 660.0
    assert body["problems"] == ["the collector is stuck: no collect cycle finished in 600 s"]
    assert c.get("/healthz").status_code == 200  # the web process itself is fine
    web.store.collected("worker-1", web.clock.now())  # a cycle finishes
    r = c.get("/readyz")
    assert r.status_code == 200 and r.json()["collector"] == "ok"
    # Another worker's finished cycle counts too, like its heartbeat.
    web.clock.advance(minutes=11)
    web.store.beat("worker-2", web.clock.now())
    web.store.collected("worker-2", web.clock.now() - timedelta(minutes=1))
    r = c.get("/readyz")
    assert r.status_code == 200 and r.json()["collector_cycle_age_seconds"] == 60.0


def test_a_paused_target_shows_in_health_and_metrics_without_failing_readiness(
        web: Web) -> None:
    web.store.beat("worker-1", web.clock.now())
    web.store.collected("worker-1", web.clock.now())
    web.store.pause_target("files", "TargetAuthError: refused", web.clock.now())
    r = web.client().get("/readyz")
    assert r.status_code == 200  # the worker is fine: a person must fix a secret
    assert r.json()["paused_targets"] == ["files"]
    assert r.json()["problems"] == ["target files is paused: TargetAuthError: refused"]
    metrics = web.client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert 'herald_target_paused{target="files"} 1' in metrics.text
    web.store.resume_target("files", web.clock.now())
    metrics = web.client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert 'herald_target_paused{target="files"} 0' in metrics.text


def test_collector_stale_is_configurable_and_follows_the_collect_tick(tmp_path: Path) -> None:
    assert collector_stale(make_settings(tmp_path).config) == timedelta(minutes=10)
    slow_tick = make_settings(tmp_path, {"worker": {"collect_tick": "5m"}}).config
    assert collector_stale(slow_tick) == timedelta(minutes=25)
    chosen = make_settings(tmp_path, {"web": {"collector_stale": "90s"}}).config
    assert collector_stale(chosen) == timedelta(seconds=90)


def test_healthz_when_the_database_is_unreachable(web: Web) -> None:
    web.store.beat("worker-1", web.clock.now())
    web.store.collected("worker-1", web.clock.now())
    assert web.client().get("/healthz").status_code == 200
    working = web.store.engine
    # A PostgreSQL that does not answer: a closed port on loopback.
    web.store.engine = create_engine("postgresql+psycopg://herald:pw-SECRET@127.0.0.1:9/x",
                                     connect_args={"connect_timeout": 2})
    try:
        for path in ("/healthz", "/readyz"):
            r = web.client().get(path)
            assert r.status_code == 503
            assert r.json() == {"status": "fail", "database": "unreachable",
                                "problems": ["the database does not answer"]}
            assert "pw-SECRET" not in r.text
    finally:
        web.store.engine.dispose()
        web.store.engine = working
    assert web.client().get("/healthz").status_code == 200


# -- /metrics ---------------------------------------------------------------------------------

METRIC_NAMES = ("herald_items_collected", "herald_stories", "herald_stories_held",
                "herald_deliveries", "herald_queue_depth", "herald_poll_errors",
                "herald_sources_failing", "herald_worker_heartbeat_age_seconds",
                "herald_collector_cycle_age_seconds", "herald_target_paused")


def test_metrics_are_refused_signed_out_and_to_editors(web: Web) -> None:
    c = web.client()
    r = c.get("/metrics", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    for bad in ("Bearer wrong", "Bearer ", f"Basic {METRICS_TOKEN}", METRICS_TOKEN + "x"):
        r = c.get("/metrics", headers={"Authorization": bad}, follow_redirects=False)
        assert r.status_code == 303, bad
    for who in (EDITOR, APPROVER):
        r = web.staff(who).get("/metrics")
        assert r.status_code == 403, who


def test_metrics_with_the_token_or_as_an_admin(web: Web) -> None:
    ann = web.compose(web.staff(EDITOR))
    web.store.submit_announcement(ann, web.clock.now())
    assert web.staff(APPROVER).post(f"/queue/{ann}/approve").status_code == 303
    web.store.beat("worker-1", web.clock.now())
    web.store.collected("worker-1", web.clock.now() - timedelta(seconds=40))
    r = web.client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for name in METRIC_NAMES:
        assert f"# TYPE {name} gauge" in r.text, name
    assert 'herald_items_collected{source="comms"} 1' in r.text
    assert 'herald_deliveries{target="files",status="pending"} 1' in r.text
    assert "herald_queue_depth 1" in r.text and "herald_stories 1" in r.text
    assert "herald_worker_heartbeat_age_seconds 0.0" in r.text
    assert "herald_collector_cycle_age_seconds 40.0" in r.text
    admin = web.staff(ADMIN).get("/metrics")
    assert admin.status_code == 200 and "herald_stories 1" in admin.text
    assert METRICS_TOKEN not in r.text and METRICS_TOKEN not in admin.text


def test_metrics_without_a_configured_token_accept_no_bearer(tmp_path: Path,
                                                             clock: FixedClock) -> None:
    web = make_web(tmp_path, clock)  # HERALD_METRICS_TOKEN unset
    try:
        r = web.client().get("/metrics", headers={"Authorization": "Bearer "},
                             follow_redirects=False)
        assert r.status_code == 303
    finally:
        web.close()


# -- accounts on the command line --------------------------------------------------------------

def _config(tmp_path: Path) -> Path:
    path = tmp_path / "herald.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "h.db"}"\n'
                    f'[paths]\ntaxonomy = "{CONFIG_DIR / "taxonomy.toml"}"\n'
                    f'outbox = "{tmp_path / "outbox"}"\nvar = "{tmp_path / "var"}"\n')
    return path


def test_users_add_stores_an_argon2_hash_and_the_account_signs_in(tmp_path: Path,
                                                                  clock: FixedClock) -> None:
    config = _config(tmp_path)
    runner = CliRunner()
    env = {"HERALD_CONFIG": None, "DATABASE_URL": None, "NEW_PW": PASSWORD}
    r = runner.invoke(cli, ["users", "add", "Comms@Example.org", "--role", "approver",
                            "--password-env", "NEW_PW", "--config", str(config)], env=env)
    assert r.exit_code == 0, r.output
    assert "added Comms@example.org (approver)" in r.output
    assert PASSWORD not in r.output
    r = runner.invoke(cli, ["users", "list", "--json", "--config", str(config)], env=env)
    assert r.exit_code == 0
    assert json.loads(r.output)[0]["role"] == "approver"
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        user = store.get_user("Comms@example.org")
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert verify_password(user.password_hash, PASSWORD)
        assert not verify_password(user.password_hash, PASSWORD + "!")
    finally:
        store.close()
    # Refusals: a weak password, an unknown role, a duplicate, a missing variable.
    weak = runner.invoke(cli, ["users", "add", "x@example.org", "--password-env", "WEAK",
                               "--config", str(config)], env={**env, "WEAK": "short"})
    assert weak.exit_code != 0 and "12 characters" in weak.output
    role = runner.invoke(cli, ["users", "add", "x@example.org", "--role", "root",
                               "--password-env", "NEW_PW", "--config", str(config)], env=env)
    assert role.exit_code == 2
    dup = runner.invoke(cli, ["users", "add", "Comms@EXAMPLE.org", "--password-env", "NEW_PW",
                              "--config", str(config)], env=env)
    assert dup.exit_code == 1 and "already" in dup.output
    unset = runner.invoke(cli, ["users", "add", "y@example.org", "--password-env", "NOPE",
                                "--config", str(config)], env=env)
    assert unset.exit_code == 2 and "NOPE" in unset.output

    # The account made on the command line signs in to the web app.
    settings = make_settings(tmp_path, {"database": {"url": f"sqlite:///{tmp_path / 'h.db'}"}},
                             environ={"HERALD_SECRET_KEY": "k" * 40})
    herald = Herald(settings, clock=clock)
    try:
        from fastapi.testclient import TestClient

        from tests.web_helpers import form_csrf

        with TestClient(create_app(herald), base_url=BASE) as c:
            token = form_csrf(c.get("/login").text)
            r = c.post("/login", data={"csrf": token, "email": "Comms@example.org",
                                       "password": PASSWORD}, follow_redirects=False)
            assert r.status_code == 303 and COOKIE in r.headers["set-cookie"]
        # users set --disable, then remove.
        r = runner.invoke(cli, ["users", "set", "Comms@example.org", "--disable",
                                "--config", str(config)], env=env)
        assert r.exit_code == 0 and "disabled" in r.output
        r = runner.invoke(cli, ["users", "remove", "Comms@example.org", "--config",
                                str(config)], env=env)
        assert r.exit_code == 0
        assert herald.store.list_users() == []
    finally:
        herald.close()


# -- first run --------------------------------------------------------------------------------

@pytest.fixture
def no_accounts(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[Herald, Any, str]]:
    """A Herald with no staff account yet, its app, and the path of its setup link."""
    from bot.web.setup import setup_link

    herald = Herald(make_settings(tmp_path, environ={"HERALD_SECRET_KEY": "k" * 40}),
                    clock=clock)
    herald.prepare()
    try:
        app = create_app(herald)
        yield herald, app, setup_link(app.state.ctx.signer, BASE).removeprefix(BASE)
    finally:
        herald.close()


def test_the_setup_link_makes_the_first_admin_once(no_accounts: tuple[Herald, Any, str],
                                                   clock: FixedClock) -> None:
    from fastapi.testclient import TestClient

    herald, app, path = no_accounts
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/setup/forged").status_code == 404
        assert c.get(path).status_code == 200
        r = c.post(path, data={"email": "first@example.org", "password": PASSWORD,
                               "again": PASSWORD + "x"})
        assert r.status_code == 422 and "differ" in r.text
        r = c.post(path, data={"email": "first@example.org", "password": PASSWORD,
                               "again": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/queue"
        assert c.get("/users").status_code == 200  # signed in as the admin
        assert herald.store.get_user("first@example.org").role == "admin"
    with TestClient(app, base_url=BASE) as other:
        assert other.get(path).status_code == 404  # gone once an account exists
        r = other.post(path, data={"email": "second@example.org", "password": PASSWORD,
                                   "again": PASSWORD})
        assert r.status_code == 404
    assert herald.store.count_users() == 1


def test_an_expired_setup_link_is_refused(no_accounts: tuple[Herald, Any, str],
                                          clock: FixedClock) -> None:
    from fastapi.testclient import TestClient

    herald, app, path = no_accounts
    signer = app.state.ctx.signer
    with TestClient(app, base_url=BASE) as c:
        # A valid token for another purpose opens nothing here.
        assert c.get(f"/setup/{signer.sign('unsubscribe', 'admin')}").status_code == 404
        clock.advance(days=1, seconds=1)
        assert c.get(path).status_code == 404
    assert herald.store.count_users() == 0


# -- secrets ----------------------------------------------------------------------------------

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-SECRET-slack-token-41",
    "TEAMS_WEBHOOK_URL": "http://127.0.0.1:9/webhook/SECRET-teams-path-42",
    "SMTP_URL": "smtp://mailer:SECRET-smtp-password-43@127.0.0.1:9?starttls=off",
    "HERALD_METRICS_TOKEN": "SECRET-metrics-token-44",
    "HERALD_SECRET_KEY": "SECRET-signing-key-45-" + "z" * 30,
    "X_BEARER_TOKEN": "SECRET-x-bearer-46",
}


def test_secrets_never_appear_in_pages(tmp_path: Path, clock: FixedClock) -> None:
    with running_fake_slack(valid_tokens={SECRETS["SLACK_BOT_TOKEN"]}) as slack:
        web = make_web(tmp_path, clock, environ=SECRETS, targets=[
            {"name": "files", "type": "file"},
            {"name": "news-slack", "type": "slack", "channel": "academy-news",
             "base_url": slack.base_url},
            {"name": "broken-slack", "type": "slack", "channel": "no-such-channel",
             "base_url": slack.base_url},
            {"name": "staff-teams", "type": "teams"}])
        try:
            web.store.add_source("private-feed", "https://reader:SECRET-feed-pw-47@feeds."
                                 "example/rss?token=SECRET-feed-token-48",
                                 timedelta(minutes=15), web.clock.now())
            ed = web.staff(EDITOR)
            ann = web.compose(ed, targets=["files", "news-slack", "broken-slack",
                                           "staff-teams"])
            web.store.submit_announcement(ann, web.clock.now())
            assert web.staff(APPROVER).post(f"/queue/{ann}/approve").status_code == 303
            web.herald.dispatch()  # broken-slack and staff-teams fail (closed port)
            story = web.store.get_announcement(ann).story_id
            ad = web.staff(ADMIN)
            pages = ["/queue", "/queue/new", f"/queue/{ann}", f"/queue/{ann}/edit",
                     f"/queue/{ann}/digest", "/stories", f"/stories/{story}", "/feeds",
                     "/subscribers", "/users", "/api/announcements",
                     f"/api/announcements/{ann}", f"/api/announcements/{ann}/preview",
                     "/api/stories", f"/api/stories/{story}", "/api/session",
                     "/api/openapi.json", "/metrics", "/healthz", "/login", "/subscribe"]
            shown = []
            for path in pages:
                r = ad.get(path)
                assert r.status_code in (200, 503), path
                shown.append((path, r.text + json.dumps(dict(r.headers))))
            # The failed deliveries' reasons are there, without the secrets in them.
            assert "channel_not_found" in dict(shown)[f"/queue/{ann}"]
            everything = [*SECRETS.values(), "SECRET-feed-pw-47", "SECRET-feed-token-48",
                          "SECRET-teams-path-42", "SECRET-smtp-password-43"]
            for path, text in shown:
                for secret in everything:
                    assert secret not in text, (path, secret)
                assert not re.search(r"SECRET-[a-z]", text), path
        finally:
            web.close()
