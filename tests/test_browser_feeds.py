"""Adding a feed by its site's address, in headless Chromium against a real `herald serve`
(issue #15): the approver pastes the academy's home page, Herald finds the feed the page
links, and the feed is added under the display name typed; "Poll now" then says the worker
reads it on its next round. The site is the loopback feed server, which this server's
config allows (``[http] allow_networks``); the harness is tests/test_browser.py's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import CONFIG_DIR
from tests.fakes.feed_server import FeedServer, running_feed_server
from tests.fakes.slack_server import running_fake_slack
from tests.fakes.teams_webhook import running_teams_webhook
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    APPROVER,
    PASSWORD,
    PASSWORD_ENV,
    Server,
    _expect,
    _free_port,
    browser,
    chromium_path,
    new_page,
    serving,
    shots,
    sign_in,
    snap,
)
from tests.test_cli import FEED

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFIG = """
[database]
url = "sqlite:///{db}"

[paths]
var = "{var}"
taxonomy = "{taxonomy}"
outbox = "{outbox}"

[http]
allow_networks = ["127.0.0.0/8"]

[[targets]]
name = "outbox-files"
type = "file"

[[routes]]
to = ["outbox-files"]
"""

HOME = (b'<!doctype html><html lang="en"><head><title>The academy</title>'
        b'<link rel="alternate" type="application/rss+xml" title="Academy news" '
        b'href="/news/feed.xml"></head><body><h1>The academy</h1></body></html>')


@pytest.fixture(scope="module")
def site() -> Iterator[FeedServer]:
    with running_feed_server() as s:
        s.add("/", HOME, "text/html; charset=utf-8")
        s.add("/news/feed.xml", FEED.encode())
        # Another site with two feeds (the first site's feed is added by the test before).
        s.add("/events/", b'<!doctype html><html lang="en"><head><title>Events</title>'
              b'<link rel="alternate" type="application/atom+xml" title="Events" '
              b'href="/e.xml"><link rel="alternate" type="application/rss+xml" '
              b'title="Courses" href="courses.xml"></head><body></body></html>', "text/html")
        s.add("/e.xml", FEED.replace("test-academy", "events").encode())
        s.add("/events/courses.xml", FEED.replace("test-academy", "courses").encode())
        yield s


@pytest.fixture(scope="module")
def feeds_server(chromium_path: str, site: FeedServer,  # noqa: F811
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("feeds-web")
    import os

    with running_fake_slack() as slack, running_teams_webhook() as teams:
        config = tmp / "herald.toml"
        config.write_text(CONFIG.format(db=tmp / "herald.db", var=tmp / "var",
                                        taxonomy=CONFIG_DIR / "taxonomy.toml",
                                        outbox=tmp / "outbox"))
        env = {k: v for k, v in os.environ.items()
               if k not in ("HERALD_CONFIG", "DATABASE_URL", "SLACK_BOT_TOKEN",
                            "TEAMS_WEBHOOK_URL", "SMTP_URL")}
        env.update(HERALD_SECRET_KEY="browser-test-signing-key", **{PASSWORD_ENV: PASSWORD})
        port = _free_port()
        srv = Server(base_url=f"http://127.0.0.1:{port}", config=config, env=env, cwd=tmp,
                     log=tmp / "serve.log", slack=slack, teams=teams)
        srv.herald("db", "upgrade")
        srv.herald("users", "add", APPROVER, "--role", "approver",
                   "--password-env", PASSWORD_ENV)
        with serving(srv):
            yield srv


def test_add_a_feed_by_its_sites_address(browser: Browser, feeds_server: Server,  # noqa: F811
                                         site: FeedServer, shots: Path) -> None:  # noqa: F811
    expect = _expect()
    context, page = new_page(browser, feeds_server)
    try:
        sign_in(page, APPROVER)
        page.get_by_role("link", name="Feeds").click()
        page.get_by_label("Website or feed address").fill(site.url("/"))
        page.get_by_label("Display name").fill("Academy news")
        page.get_by_role("button", name="Check the address").click()
        expect(page.get_by_role("heading", name="Found 3 entries")).to_be_visible()
        expect(page.get_by_text("links this RSS feed")).to_be_visible()
        snap(page, shots, "feeds-found-by-site")
        page.get_by_role("button", name="Add Academy news").click()
        expect(page.get_by_role("status")).to_have_text("Feed added.")
        row = page.get_by_role("row", name="Academy news")
        expect(row.get_by_text(site.url("/news/feed.xml"))).to_be_visible()

        row.get_by_role("button", name="Poll Academy news now").click()
        expect(page.get_by_role("status")).to_contain_text("on its next round")
        expect(page.get_by_text("due now: on the worker's next round")).to_be_visible()

        # Edit: a longer interval and a new display name; the name in Herald stays.
        page.get_by_role("link", name="Edit Academy news").click()
        page.get_by_label("Display name").fill("Academy news and events")
        page.get_by_label("Poll every").fill("1h")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Feed saved.")
        expect(page.get_by_role("row", name="Academy news and events")).to_contain_text("1h")
        snap(page, shots, "feeds-edited")
    finally:
        context.close()
    listed = feeds_server.herald("feeds", "list", "--json").stdout
    assert '"name": "academy-news"' in listed
    assert '"display_name": "Academy news and events"' in listed


def test_choose_among_a_sites_feeds_and_read_errors_in_plain_words(
        browser: Browser, feeds_server: Server, site: FeedServer,  # noqa: F811
        shots: Path) -> None:  # noqa: F811
    expect = _expect()
    context, page = new_page(browser, feeds_server)
    try:
        sign_in(page, APPROVER)
        page.goto("/feeds")
        # A closed port on loopback: refused, said so, the technical text folded.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
        page.get_by_label("Website or feed address").fill(closed)
        page.get_by_role("button", name="Check the address").click()
        expect(page.get_by_role("alert")).to_contain_text("the site refused the connection")
        detail = page.locator("details.error-detail")
        expect(detail.locator("code")).to_be_hidden()
        detail.locator("summary").click()
        expect(detail.locator("code")).to_contain_text("ConnectError")
        snap(page, shots, "feeds-error")

        page.get_by_label("Website or feed address").fill(site.url("/events/"))
        page.get_by_role("button", name="Check the address").click()
        expect(page.get_by_role("heading", name="links 2 feeds: choose one")).to_be_visible()
        snap(page, shots, "feeds-choose")
        page.get_by_role("button", name="Use Events").click()
        expect(page.get_by_role("heading", name="Found 3 entries")).to_be_visible()
        page.get_by_role("button", name="Add Events").click()
        expect(page.get_by_role("status")).to_have_text("Feed added.")
        added = page.get_by_role("row").filter(has_text=site.url("/e.xml"))
        expect(added).to_contain_text("Events")
    finally:
        context.close()
