"""A Herald driven from outside, for the release gate's regression tests.

``Rig`` writes one config file (a database on either backend, a Slack target on the
loopback fake Slack, a Teams target on the fake webhook, the digest on aiosmtpd) and then
drives Herald the ways its users do: ``rig.cli(...)`` runs the real ``herald`` command line
in-process through typer's ``CliRunner``, and ``rig.web()`` builds the real web app (its
TestClient signs staff in through the login form). Both read one clock: the web app's
Herald is given it, and the command line's ``SystemClock`` is pinned to it for the test,
so "three days later" is a call to ``rig.clock.advance``, not a wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from typer.testing import CliRunner

from bot.app import Herald
from bot.cli import app as cli_app
from bot.clock import FixedClock, SystemClock
from bot.config import load_config
from bot.web import create_app
from tests.conftest import CONFIG_DIR
from tests.fakes.slack_server import FakeSlack, running_fake_slack
from tests.fakes.smtp_server import FakeSmtp, running_smtp_server
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook
from tests.web_helpers import ROLES, Web, password_hash

SENDER = "Academy news <news@example.org>"
CHANNEL = "C0NEWS"


@dataclass(frozen=True)
class Entry:
    """One entry of a feed the rig writes."""

    guid: str
    title: str
    text: str
    published: datetime
    link: str | None = None


def rss(entries: Sequence[Entry], name: str = "Academy news") -> bytes:
    """An RSS 2.0 feed of ``entries``."""
    body = "".join(
        f"<item><title>{escape(e.title)}</title>"
        f"<link>{escape(e.link or f'https://academy.example.org/news/{e.guid}')}</link>"
        f"<guid isPermaLink=\"false\">{escape(e.guid)}</guid>"
        f"<pubDate>{e.published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
        f"<description>{escape(e.text)}</description></item>" for e in entries)
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>{escape(name)}</title><link>https://academy.example.org/</link>"
            f"<description>News from the academy.</description>{body}</channel></rss>"
            ).encode()


def toml_value(value: Any) -> str:
    return json.dumps(value)


def toml_table(header: str, values: dict[str, Any]) -> str:
    return f"[{header}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


@dataclass
class Rig:
    root: Path
    db_url: str
    clock: FixedClock
    slack: FakeSlack
    teams: FakeTeamsWebhook | None = None
    smtp: FakeSmtp | None = None
    sources: dict[str, str] = field(default_factory=dict)
    routes: list[dict[str, Any]] = field(default_factory=lambda: [{"to": ["slack"]}])
    worker: dict[str, Any] = field(default_factory=dict)
    digest: bool = False
    #: The sources announce their old entries on the first poll (the bundled samples do).
    backlog: bool = False
    #: Extra top-level tables of the config, e.g. {"reminders": {"at": "09:00"}}.
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    webs: list[Web] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = self.root / "herald.toml"
        parts = [
            toml_table("database", {"url": self.db_url}),
            toml_table("paths", {"taxonomy": str(CONFIG_DIR / "taxonomy.toml"),
                                 "outbox": str(self.root / "outbox")}),
            toml_table("worker", {"timezone": "UTC", **self.worker}),
            toml_table("http", {"allow_networks": ["127.0.0.0/8"]}),
            toml_table("digest", {"from": SENDER, "base_url": "https://herald.example.org",
                                  "schedule": "mon 08:00", "timezone": "UTC"}
                       if self.digest else {"enabled": False}),
        ]
        for name, url in self.sources.items():
            parts.append(toml_table("[sources]", {"name": name, "url": url, "every": "15m",
                                                  **({"announce_backlog": True}
                                                     if self.backlog else {})}))
        for header, values in self.extra.items():
            parts.append(toml_table(header, values))
        parts.append(toml_table("[targets]", {"name": "slack", "type": "slack",
                                              "channel": CHANNEL,
                                              "base_url": self.slack.base_url}))
        if self.teams is not None:
            parts.append(toml_table("[targets]", {"name": "teams", "type": "teams"}))
        for route in self.routes:
            parts.append(toml_table("[routes]", route))
        self.config.write_text("\n".join(parts), encoding="utf-8")
        self.env: dict[str, str | None] = {
            "HERALD_CONFIG": None, "DATABASE_URL": None, "SLACK_BOT_TOKEN": "xoxb-good",
            "COLUMNS": "300",  # rich folds table cells at the terminal's width
            "HERALD_SECRET_KEY": "release-gate-tests-" + "k" * 40,
            "TEAMS_WEBHOOK_URL": self.teams.url if self.teams else None,
            "SMTP_URL": self.smtp.url(query="starttls=off") if self.smtp else None}

    # -- the command line -------------------------------------------------------------------

    def cli(self, *args: str | Path, code: int | None = 0) -> str:
        """Run ``herald ARGS --config <the rig's file>`` and return what it printed."""
        result = CliRunner().invoke(cli_app, [*map(str, args), "--config", str(self.config)],
                                    env=self.env, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (
                f"herald {' '.join(map(str, args))}: exit {result.exit_code}, expected "
                f"{code}\n{result.output}")
        return " ".join(result.output.split())

    def cli_json(self, *args: str) -> Any:
        result = CliRunner().invoke(cli_app, [*args, "--json", "--config", str(self.config)],
                                    env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def run_once(self, code: int | None = 0) -> str:
        """``herald run --once``; ``code`` 4 when a delivery is meant to fail in it."""
        return self.cli("run", "--once", code=code)

    def outbox(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.cli_json("outbox")
        return rows

    def stories(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.cli_json("stories")
        return rows

    def story_titled(self, words: str) -> dict[str, Any]:
        found = [s for s in self.stories() if words in s["title"]]
        assert len(found) == 1, [s["title"] for s in self.stories()]
        return found[0]

    # -- the web app ------------------------------------------------------------------------

    def web(self) -> Web:
        """The web app on the rig's config and clock, with the five test accounts."""
        env = {k: v for k, v in self.env.items() if v is not None}
        herald = Herald(load_config(self.config, environ=env), clock=self.clock)
        herald.prepare()
        for email, role in ROLES.items():
            if not any(u.email == email for u in herald.store.list_users()):
                herald.store.add_user(email, role, password_hash(), self.clock.now())
        web = Web(herald, create_app(herald), self.clock, self.root)
        self.webs.append(web)
        return web

    def close(self) -> None:
        for web in self.webs:
            web.close()


def pin_system_clock(monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> None:
    """The command line reads ``SystemClock``: make it read the test's clock."""
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())


def send_at(when: datetime) -> str:
    """The compose form's send time field (the rig's worker timezone is UTC)."""
    return f"{when:%Y-%m-%dT%H:%M}"


def approved(web: Web, *, editor: str, approver: str, **fields: Any) -> int:
    """An announcement written by ``editor``, submitted and approved by ``approver``,
    through the web app's forms; returns its story's id."""
    ed, ap = web.staff(editor), web.staff(approver)
    ann_id = web.compose(ed, **fields)
    r = ed.post(f"/queue/{ann_id}/submit")
    assert r.status_code == 303, r.text
    r = ap.post(f"/queue/{ann_id}/approve")
    assert r.status_code == 303, r.text
    story_id = web.store.get_announcement(ann_id).story_id
    assert story_id is not None
    return int(story_id)


def later(clock: FixedClock, **delta: float) -> datetime:
    return clock.now() + timedelta(**delta)


START = datetime(2026, 8, 18, 9, 0, tzinfo=UTC)  # a Tuesday: the digest week began Monday


#: Entries the release gate's tests publish (facts of our own making).
COACHING = Entry("coaching-circles", "Coaching circles for new ward managers",
                 "Six fortnightly coaching circles for ward managers in their first year, "
                 "led by accredited coaches.", START - timedelta(hours=2))
CAFE = Entry("leadership-cafe", "The leadership café returns to Preston",
             "An informal morning for anyone who leads a team to swap stories over coffee "
             "and cake.", START - timedelta(hours=3))


def rigs(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[Callable[..., Rig]]:
    """The ``make_rig`` fixture (tests/conftest.py): builds Rigs on the test's database
    (SQLite, then PostgreSQL) with the fakes running; ``teams=True`` adds the Teams
    target, ``digest=True`` the digest on aiosmtpd."""
    clock = FixedClock(START)
    pin_system_clock(monkeypatch, clock)
    made: list[Rig] = []
    with ExitStack() as stack:
        slack = stack.enter_context(running_fake_slack())
        slack.state.channels = {"academy-news": CHANNEL}

        def make(*, teams: bool = False, digest: bool = False, **kwargs: Any) -> Rig:
            rig = Rig(tmp_path, db_url, clock, slack,
                      teams=stack.enter_context(running_teams_webhook()) if teams else None,
                      smtp=stack.enter_context(running_smtp_server()) if digest else None,
                      digest=digest, **kwargs)
            made.append(rig)
            return rig

        try:
            yield make
        finally:
            for rig in made:
                rig.close()
