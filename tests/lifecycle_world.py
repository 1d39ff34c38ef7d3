"""The world a lifecycle walk runs in: one Herald (SQLite or PostgreSQL) on a FixedClock,
the loopback feed server, the fake Slack, the fake Teams webhook and aiosmtpd, the comms
team's accounts, and digest subscribers.

Everything goes through Herald's own code: ``Herald.collect`` and ``Herald.dispatcher``,
the web app's ``actions`` for announcements, the store methods the CLI and the web app
call for holds, merges and splits, and ``DigestJob`` for digests. Faults are injected
only at the edges: the fakes' scripted answers, and a channel or mail sender wrapper
that "kills" the worker (raises :class:`Killed`) before or after a real send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import Herald, worker_id
from bot.clock import FixedClock
from bot.config import Settings
from bot.errors import ConfigError
from bot.store import Session
from bot.web import WebContext, create_app
from tests.conftest import make_settings
from tests.fakes.feed_server import FeedServer, running_feed_server
from tests.fakes.slack_server import FakeSlack, running_fake_slack
from tests.fakes.smtp_server import FakeSmtp, running_smtp_server
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook
from tests.lifecycle_feeds import EVENTS, NEWS, Publisher, X

CHANNEL = "C0NEWS"
#: Where each source's stories go by the rules ("digest" included: the digest is a target).
ROUTES = {NEWS: ("slack", "teams", "digest"), EVENTS: ("teams", "digest"), X: ("slack",)}
SUBSCRIBERS = ("all@example.org", "learning@example.org")


class Killed(BaseException):
    """The worker died here (SIGKILL): nothing after this point of the job runs."""


class KillingChannel:
    """A real channel whose worker dies just before (``when="before"``) or just after
    (``"after"``) one real send or update reaches the fake."""

    def __init__(self, inner: Any, when: str) -> None:
        self._inner = inner
        self._when = when

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _die_around(self, call: Callable[[], Any]) -> Any:
        if self._when == "before":
            raise Killed("worker killed after its claim, before the send")
        call()
        raise Killed("worker killed after the send, before it was recorded")

    def send(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        return self._die_around(lambda: self._inner.send(payload, **kwargs))

    def update(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        return self._die_around(lambda: self._inner.update(payload, **kwargs))


class ScriptedSender:
    """The real mail sender with something happening at the first send: ``before`` runs
    first (a stall, a second worker, a fault scripted on the SMTP server)."""

    def __init__(self, inner: Any, before: Callable[[], None]) -> None:
        self._inner = inner
        self._before: Callable[[], None] | None = before

    def __enter__(self) -> ScriptedSender:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)

    def send(self, message: Any) -> Any:
        if self._before is not None:
            before, self._before = self._before, None
            before()
        return self._inner.send(message)


@dataclass
class World:
    herald: Herald
    second: Herald  # a second worker on the same database (for digest races)
    ctx: WebContext
    editor: Session
    approver: Session
    clock: FixedClock
    feeds: FeedServer
    slack: FakeSlack
    teams: FakeTeamsWebhook
    smtp: FakeSmtp
    publisher: Publisher
    digest_routed: bool  # whether this Herald takes "digest" as a target in routes

    @property
    def store(self) -> Any:
        return self.herald.store

    def publish(self) -> None:
        """Serve what the academy has published so far."""
        self.feeds.add("/news.xml", self.publisher.rss(NEWS))
        self.feeds.add("/events.xml", self.publisher.rss(EVENTS))
        self.feeds.add("/x.json", self.publisher.json_feed(), "application/feed+json")

    def before_step(self) -> None:
        # The fake Slack's message timestamps follow the walk's clock, as Slack's follow
        # the real one (history lookups compare them with delivery times).
        self.slack.state.ts_base = int(self.clock.now().timestamp())

    def dispatcher(self, herald: Herald | None = None) -> Any:
        d = (herald or self.herald).dispatcher()
        d.sleep = lambda _seconds: None  # the walk's clock is fixed: no real waiting
        return d

    def restart_worker(self) -> None:
        """A killed worker comes back as a new process: a new owner for its claims."""
        self.herald.owner = worker_id()


def _config(tmp_path: Path, db_url: str, feeds: FeedServer, slack: FakeSlack,
            environ: dict[str, str], digest_routed: bool) -> Settings:
    routes = [{"sources": [src], "to": [t for t in to if digest_routed or t != "digest"]}
              for src, to in ROUTES.items()]
    return make_settings(tmp_path, {
        "database": {"url": db_url},
        "http": {"allow_networks": ["127.0.0.0/8"], "concurrency": 1},
        # The product's default: a first poll does not announce old entries.
        "sources": [{"name": name, "url": feeds.url(path), "every": "15m",
                     "announce_backlog": False}
                    for name, path in ((NEWS, "/news.xml"), (EVENTS, "/events.xml"),
                                       (X, "/x.json"))],
        "targets": [{"name": "slack", "type": "slack", "channel": CHANNEL,
                     "base_url": slack.base_url},
                    {"name": "teams", "type": "teams"}],
        "routes": routes,
    }, environ=environ)


@contextmanager
def running_world(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[World]:
    with ExitStack() as stack:
        feeds = stack.enter_context(running_feed_server())
        slack = stack.enter_context(running_fake_slack(channels={"news": CHANNEL}))
        teams = stack.enter_context(running_teams_webhook())
        smtp = stack.enter_context(running_smtp_server())
        environ = {"SLACK_BOT_TOKEN": "xoxb-good", "TEAMS_WEBHOOK_URL": teams.url,
                   "SMTP_URL": smtp.url(query="starttls=off"),
                   "HERALD_SECRET_KEY": "lifecycle-" + "k" * 40}
        try:
            settings = _config(tmp_path, db_url, feeds, slack, environ, digest_routed=True)
            digest_routed = True
        except ConfigError:
            # This Herald does not know "digest" as a target yet: its routes cannot name
            # it (the walk still expects the digest to carry only what is routed there).
            settings = _config(tmp_path, db_url, feeds, slack, environ, digest_routed=False)
            digest_routed = False
        herald = Herald(settings, clock=clock)
        stack.callback(herald.close)
        herald.prepare()
        second = Herald(settings, clock=clock)
        stack.callback(second.close)
        ctx: WebContext = create_app(herald).state.ctx
        now = clock.now()
        store = herald.store
        sessions = []
        for email, role in (("writer@example.org", "editor"), ("boss@example.org", "approver")):
            user = store.add_user(email, role, "not-a-real-hash", now)
            token = store.start_session(user.id, now, now + timedelta(days=3650))
            sessions.append(store.get_session(token, now))
        store.add_subscriber(SUBSCRIBERS[0], domains=None, now=now)
        store.add_subscriber(SUBSCRIBERS[1], domains=["learning-capacity"], now=now)
        world = World(herald=herald, second=second, ctx=ctx, editor=sessions[0],
                      approver=sessions[1], clock=clock, feeds=feeds, slack=slack,
                      teams=teams, smtp=smtp, publisher=Publisher(),
                      digest_routed=digest_routed)
        world.publish()
        yield world
