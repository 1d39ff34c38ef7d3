"""Secrets never show: a whole session of real ``herald`` commands with every kind of
secret set (the Slack token, the Teams webhook signature, the SMTP password, the password
in DATABASE_URL, a feed's own password, the signing key), each made to fail where it is
used, and not one of them appears in any output, log line or stored error."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.store import Store
from tests.conftest import CONFIG_DIR
from tests.fakes.slack_server import running_fake_slack
from tests.fakes.smtp_server import running_smtp_server
from tests.fakes.teams_webhook import running_teams_webhook
from tests.workers import herald, rss, worker_env

pytestmark = pytest.mark.slow

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-SLACK-SECRET-1",
    "TEAMS_SIG": "TEAMS-SECRET-2",
    "SMTP_PASSWORD": "SMTP-SECRET-3",
    "DB_PASSWORD": "DB-SECRET-4",
    "FEED_PASSWORD": "FEED-SECRET-5",
    "HERALD_SECRET_KEY": "KEY-SECRET-6",
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
def test_no_secret_in_any_output_of_a_failing_session(tmp_path: Path, pg_url: str,
                                                      feed_server) -> None:  # type: ignore[no-untyped-def]
    # PostgreSQL here trusts loopback, so a password in the URL is accepted and ignored:
    # it still travels through every place Herald might print the URL.
    db_url = make_url(pg_url).set(password=SECRETS["DB_PASSWORD"]).render_as_string(
        hide_password=False)
    good = feed_server.add("/news.xml", rss("news", range(1, 3)))
    locked = good.replace("http://", f"http://reader:{SECRETS['FEED_PASSWORD']}@") \
        .replace("/news.xml", "/status/401")
    with running_fake_slack() as slack, running_teams_webhook() as teams, \
            running_smtp_server(users={"herald": "the-right-one"}) as smtp:
        config = tmp_path / "herald.toml"
        config.write_text(f"""
[paths]
taxonomy = "{CONFIG_DIR / 'taxonomy.toml'}"
outbox = "{tmp_path / 'outbox'}"
[http]
allow_networks = ["127.0.0.0/8"]
[digest]
from = "Academy news <news@example.org>"
base_url = "https://herald.example.org"
[[sources]]
name = "news"
url = "{good}"
announce_backlog = true
[[sources]]
name = "locked"
url = "{locked}"
announce_backlog = true
[[targets]]
name = "slack"
type = "slack"
channel = "C0NEWS"
base_url = "{slack.base_url}"
[[targets]]
name = "teams"
type = "teams"
[[routes]]
to = ["slack", "teams"]
""", encoding="utf-8")
        env = worker_env(
            DATABASE_URL=db_url, SLACK_BOT_TOKEN=SECRETS["SLACK_BOT_TOKEN"],
            TEAMS_WEBHOOK_URL=teams.url.replace("sig=secret", f"sig={SECRETS['TEAMS_SIG']}"),
            SMTP_URL=smtp.url(user="herald", password=SECRETS["SMTP_PASSWORD"],
                              query="starttls=off"),
            HERALD_SECRET_KEY=SECRETS["HERALD_SECRET_KEY"])
        runs = [
            herald(config, "config", "check", env=env),
            herald(config, "run", "--once", "--verbose", env=env),
        ]
        store = Store.open(db_url)
        try:
            store.add_subscriber("someone@example.org", domains=None, now=datetime.now(UTC))
        finally:
            store.close()
        runs += [
            herald(config, "digest", "send", "--period", "current", env=env),
            herald(config, "outbox", "--json", env=env),
            herald(config, "feeds", "list", "--json", env=env),
        ]
        # The database gone: the error names the URL, never its password.
        gone = make_url(db_url).set(port=closed_port()).render_as_string(hide_password=False)
        runs.append(herald(config, "run", "--once", env={**env, "DATABASE_URL": gone}))

    everything = "\n".join(f"$ {' '.join(r.args[3:5])}\n{r.stdout}\n{r.stderr}" for r in runs)
    # Each failure did happen (so each secret was in play) ...
    assert "invalid_auth" in everything  # Slack refused the token
    assert "401" in everything  # Teams refused the signature; the feed wanted a login
    assert "SMTP" in everything  # the mail server would not take our login
    assert "cannot reach the database" in runs[-1].stderr and runs[-1].returncode == 1
    assert "***" in runs[0].stdout  # config check shows where a password was
    assert "reader:***@" in everything  # the feed's URL, shown with its password hidden
    # ... and no secret was ever shown.
    for name, secret in SECRETS.items():
        assert secret not in everything, f"{name} leaked:\n" + "\n".join(
            line for line in everything.splitlines() if secret in line)
