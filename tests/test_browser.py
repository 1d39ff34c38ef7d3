"""The web app end to end in headless Chromium (Playwright), against a real `herald serve`.

One server for the module: `herald serve` on a free loopback port, with a config in a temp
folder (SQLite there, the bundled sample feeds, a file target, a Slack target on the
loopback fake Slack Web API and a Teams target on the loopback fake Teams webhook), and
staff accounts made with `herald users add ... --password-env`. The worker is
`herald run --once` with the same config.

The tests drive Debian's chromium (``HERALD_CHROMIUM``, else ``/usr/bin/chromium``, else
``chromium`` or ``chromium-browser`` on PATH) and skip, saying so, when there is none:
Playwright's own browser downloads are never used. ``.ci/run`` installs the package.

With ``HERALD_SCREENSHOTS=1`` the screenshots the tests take (always, into a temp folder)
are also copied to ``docs/screenshots/``, the ones the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import CONFIG_DIR, ROOT
from tests.fakes.slack_server import FakeSlack, running_fake_slack
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD_ENV = "HERALD_TEST_STAFF_PASSWORD"
PASSWORD = "correct horse battery staple"
EDITOR = "editor@example.org"
APPROVER = "approver@example.org"
#: The signing key `herald serve` gets (HERALD_SECRET_KEY): tests sign subscriber links with it.
SECRET_KEY = "browser-test-signing-key"
SLACK_CHANNEL = "C0NEWS"
EDITOR_DM, APPROVER_DM = "U0EDITOR", "U0APPROVER"
#: The longest any single wait may take (ms for Playwright, s for the rest).
WAIT_MS = 15_000
START_SECONDS = 30.0
COMMAND_SECONDS = 120.0

CONFIG = """
[database]
url = "sqlite:///{db}"

[paths]
var = "{var}"
taxonomy = "{taxonomy}"
outbox = "{outbox}"

[[sources]]
name = "academy-news"
url = "{news}"
announce_backlog = true

[[sources]]
name = "academy-x-posts"
url = "{posts}"
announce_backlog = true

[[targets]]
name = "outbox-files"
type = "file"

[[targets]]
name = "staff-slack"
type = "slack"
channel = "#academy-news"
base_url = "{slack}"

[[targets]]
name = "staff-teams"
type = "teams"

# Collected stories go to files only: the Slack and Teams fakes see announcements alone.
[[routes]]
to = ["outbox-files"]

# Authors and approvers hear of their announcements by Slack DM (found by their email).
[notify]
slack_target = "staff-slack"
dm = true
"""


def find_chromium() -> str | None:
    """Debian's chromium (or the one HERALD_CHROMIUM names), or None."""
    named = os.environ.get("HERALD_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `herald serve` and what the tests need to reach it and its fakes."""

    base_url: str
    config: Path
    env: dict[str, str]
    cwd: Path
    log: Path
    slack: FakeSlack
    teams: FakeTeamsWebhook

    def herald(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `herald` command with the server's config and environment."""
        result = subprocess.run([sys.executable, "-m", "bot", *args, "--config", str(self.config)],
                                cwd=self.cwd, env=self.env, capture_output=True, text=True,
                                timeout=COMMAND_SECONDS, check=False)
        assert result.returncode == 0, f"herald {' '.join(args)}: {result.stderr}"
        return result

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _wait_until_serving(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"herald serve exited with {proc.returncode}:\n"
                                 f"{log.read_text(errors='replace')}")
        try:
            httpx.get(f"{base_url}/healthz", timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"herald serve did not answer within {START_SECONDS}s:\n"
                         f"{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None and os.environ.get("HERALD_CHROMIUM"):
        pytest.skip(f"HERALD_CHROMIUM names {os.environ['HERALD_CHROMIUM']!r}, which is not a file")
    if path is None:
        pytest.skip("no chromium binary: install Debian's chromium (apt-get install chromium; "
                    ".ci/run does) or set HERALD_CHROMIUM to a Chromium executable")
    return path


@contextmanager
def running_server(tmp: Path) -> Iterator[Server]:
    """`herald serve` on a fresh config and SQLite database in ``tmp``, with its fakes, the
    two staff accounts and one worker cycle's stories; stopped on leaving. The screenshot
    script (scripts/screenshots.py) starts its server through this too."""
    with running_fake_slack(channels={"academy-news": SLACK_CHANNEL}) as slack, \
            running_teams_webhook() as teams:
        slack.state.users.update({EDITOR: EDITOR_DM, APPROVER: APPROVER_DM})
        config = tmp / "herald.toml"
        config.write_text(CONFIG.format(
            db=tmp / "herald.db", var=tmp / "var", taxonomy=CONFIG_DIR / "taxonomy.toml",
            outbox=tmp / "outbox", news=CONFIG_DIR / "sample" / "academy-news.xml",
            posts=CONFIG_DIR / "sample" / "nwla-posts.json", slack=slack.base_url))
        env = {k: v for k, v in os.environ.items()
               if k not in ("HERALD_CONFIG", "DATABASE_URL", "SLACK_BOT_TOKEN",
                            "TEAMS_WEBHOOK_URL", "SMTP_URL")}
        env.update(SLACK_BOT_TOKEN="xoxb-good", TEAMS_WEBHOOK_URL=teams.url,
                   HERALD_SECRET_KEY=SECRET_KEY, **{PASSWORD_ENV: PASSWORD})
        port = _free_port()
        # web.secure_cookies stays on (the default): the session cookie is Secure and
        # __Host-, and Chromium keeps it over plain http because loopback addresses
        # (127.0.0.1 as well as localhost) count as secure contexts.
        srv = Server(base_url=f"http://127.0.0.1:{port}", config=config, env=env, cwd=tmp,
                     log=tmp / "serve.log", slack=slack, teams=teams)
        srv.herald("db", "upgrade")
        srv.herald("users", "add", EDITOR, "--role", "editor", "--password-env", PASSWORD_ENV)
        srv.herald("users", "add", APPROVER, "--role", "approver",
                   "--password-env", PASSWORD_ENV)
        # One worker cycle first, so that there are collected stories to look at.
        srv.herald("run", "--once")
        assert slack.posted() == [] and teams.received == []
        with serving(srv):
            yield srv


@contextmanager
def serving(srv: Server) -> Iterator[None]:
    """`herald serve` with the server's config on the port of its base URL, its output in
    its log; stopped on leaving."""
    port = srv.base_url.rpartition(":")[2]
    with srv.log.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
             "--port", port, "--config", str(srv.config)],
            cwd=srv.cwd, env=srv.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(proc, srv.base_url, srv.log)
            yield
        finally:
            _stop(proc)


@pytest.fixture(scope="module")
def server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("web")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        # Without site isolation the sandboxed digest preview renders in the page's own
        # process, in step with the page's animation frames (see snap).
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                              args=["--disable-site-isolation-trials"],
                                              timeout=WAIT_MS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def snap(page: Page, shots: Path, name: str) -> None:
    """A full-page PNG in the temp folder, and in docs/screenshots/ if HERALD_SCREENSHOTS=1."""
    path = shots / f"{name}.png"
    page.wait_for_load_state("load")
    # Not full_page=True: Chromium does not render a cross-origin frame (the sandboxed digest
    # preview) while it is outside the viewport. So the viewport grows to the page's height
    # and the page renders twice (the frame unthrottled, then drawn) before the shot.
    viewport = page.viewport_size
    assert viewport is not None
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    try:
        for _ in range(2):
            # (bounded: a page that draws no frames gives up after WAIT_MS)
            page.evaluate("ms => new Promise(done => { setTimeout(done, ms); "
                          "requestAnimationFrame(() => requestAnimationFrame(done)); })",
                          WAIT_MS)
        page.screenshot(path=str(path), timeout=WAIT_MS)
    finally:
        page.set_viewport_size(viewport)
    if os.environ.get("HERALD_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)


def new_page(browser: Browser, server: Server, **options: Any) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=server.base_url, locale="en-GB",
                                  **({"viewport": {"width": 1280, "height": 900}} | options))
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    return context, context.new_page()


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/queue")


def _expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    return expect


def test_compose_preview_approve_and_deliver(browser: Browser, server: Server,
                                             shots: Path) -> None:
    expect = _expect()
    title = "Cohort 7 of the Systems Leadership programme opens"
    editor_ctx, page = new_page(browser, server)
    approver_ctx, approver = new_page(browser, server)
    try:
        sign_in(page, EDITOR)
        page.get_by_role("link", name="Write an announcement").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Write an announcement")
        page.get_by_label("Title").fill(title)
        page.get_by_label("Text").fill(
            "Applications are open until **12 December 2026**: use [the form]"
            "(https://academy.example.org/apply).\n\n"
            "- six months, one day a month\n- for senior leaders across the system")
        page.get_by_label("Link to read more").fill("https://academy.example.org/cohort-7")
        page.get_by_label("Kind").select_option("cohort-opening")
        page.get_by_role("checkbox", name="Learning and capacity building").check()
        for target in ("staff-slack", "staff-teams", "outbox-files"):
            page.locator(f"#target-{target}").check()
        page.get_by_label("As soon as it is approved").check()
        snap(page, shots, "compose")
        page.get_by_role("button", name="Save and preview").click()

        # The announcement page: its previews, drawn from the messages Herald will send.
        page.wait_for_url("**/queue/*")
        expect(page.get_by_role("status")).to_have_text("Saved.")
        slack = page.get_by_role("group", name="Slack message preview")
        expect(slack.locator(".slack-header")).to_have_text(title)
        teams = page.get_by_role("group", name="Teams card preview")
        expect(teams.locator(".teams-text").first).to_have_text(title)
        digest = page.frame_locator("iframe[title='Digest email preview']")
        expect(digest.get_by_role("heading", name=title)).to_be_visible()
        # The Markdown as each place draws it: bold and a link with its own text.
        form_link = "https://academy.example.org/apply"
        for preview in (slack, teams):
            expect(preview.locator("strong, b").filter(has_text="12 December 2026")
                   ).to_have_count(1)
            expect(preview.get_by_role("link", name="the form")).to_have_attribute(
                "href", form_link)
        expect(digest.locator("strong, b").filter(has_text="12 December 2026")).to_have_count(1)
        expect(digest.get_by_role("link", name="the form")).to_have_attribute("href", form_link)
        ann_url = page.url.split("?")[0]
        page.get_by_role("button", name="Submit for approval").click()
        expect(page.get_by_role("status")).to_have_text("Submitted for approval.")
        # The author is an editor: no Approve button for them, and the page says why.
        expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
        expect(page.get_by_text("another approver must approve it")).to_be_visible()
        expect(digest.get_by_role("heading", name=title)).to_be_visible()
        snap(page, shots, "announcement-preview")

        # An approver, in a browser context of their own, approves it.
        sign_in(approver, APPROVER)
        waiting = approver.locator("section", has=approver.locator("#h-waiting"))
        waiting.get_by_role("link", name=title).click()
        approver.wait_for_url(ann_url)
        approver.get_by_role("button", name="Approve", exact=True).click()
        expect(approver.get_by_role("status")).to_have_text("Approved.")
        assert server.slack.posted() == []

        # The worker sends it: one Slack message with the announcement's title as header.
        server.herald("run", "--once")
        posted = server.slack.posted(SLACK_CHANNEL)
        assert len(posted) == 1, posted
        header = posted[0]["blocks"][0]
        assert header["type"] == "header" and header["text"]["text"] == title
        sent_text = str(posted[0]["blocks"])
        assert "*12 December 2026*" in sent_text and f"<{form_link}|the form>" in sent_text
        assert len(server.teams.cards) == 1
        # The approver heard of the submission, the author of the approval and the send.
        assert any("submitted" in m["text"] for m in server.slack.posted(APPROVER_DM))
        told = " ".join(m["text"] for m in server.slack.posted(EDITOR_DM)).lower()
        assert "approved" in told and "sent" in told, told
        # A second cycle sends nothing more.
        server.herald("run", "--once")
        assert len(server.slack.posted(SLACK_CHANNEL)) == 1

        page.goto("/queue")
        sent = page.locator("section", has=page.locator("#h-sent"))
        expect(sent.get_by_role("link", name=title)).to_be_visible()
        expect(sent).to_contain_text("staff-slack: sent")
        snap(page, shots, "queue")

        # The rest of the staff pages, for the screenshots and a look at each.
        page.get_by_role("link", name="Stories").click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        snap(page, shots, "stories")
        page.locator("main a[href^='/stories/']").first.click()
        page.wait_for_url("**/stories/*")
        snap(page, shots, "story")
        # Feeds as an approver sees them: with pause buttons and the form to add one.
        approver.get_by_role("link", name="Feeds").click()
        expect(approver.get_by_role("button", name="Pause academy-news")).to_be_visible()
        snap(approver, shots, "feeds")
    except Exception:
        print(server.log_tail())
        raise
    finally:
        editor_ctx.close()
        approver_ctx.close()


def test_sign_in_by_keyboard(browser: Browser, server: Server, shots: Path) -> None:
    """Tab reaches the skip link first; the form's fields are labelled and reachable."""
    expect = _expect()
    context, page = new_page(browser, server)
    try:
        page.goto("/queue")
        expect(page).to_have_url(re.compile(r"/login\?next=/queue$"))
        snap(page, shots, "sign-in")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        # The skip link moves focus to the page's content; its first field is the email.
        page.keyboard.press("Enter")
        expect(page.get_by_role("main")).to_be_focused()
        email, password = page.get_by_label("Email"), page.get_by_label("Password")
        page.keyboard.press("Tab")
        expect(email).to_be_focused()
        page.keyboard.type(EDITOR)
        page.keyboard.press("Tab")
        expect(password).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/queue")
        expect(page.get_by_role("heading", level=1)).to_have_text("Announcements")
    finally:
        context.close()


def test_queue_fits_a_phone(browser: Browser, server: Server, shots: Path) -> None:
    """At 390x844 the queue scrolls only vertically."""
    expect = _expect()
    context, page = new_page(browser, server, viewport={"width": 390, "height": 844},
                             is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        sign_in(page, EDITOR)
        expect(page.get_by_role("heading", level=1)).to_have_text("Announcements")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        snap(page, shots, "queue-phone")
        assert widths[0] <= widths[1], f"the queue is {widths[0]}px wide in {widths[1]}px"
    finally:
        context.close()


def test_subscribe_page(browser: Browser, server: Server, shots: Path) -> None:
    """The public subscribe page needs no sign-in and labels its fields."""
    expect = _expect()
    context, page = new_page(browser, server)
    try:
        page.goto("/subscribe")
        expect(page.get_by_label("Your email")).to_be_visible()
        snap(page, shots, "subscribe")
    finally:
        context.close()


def test_change_a_password_in_the_browser(browser: Browser, server: Server,
                                          shots: Path) -> None:
    """A signed-in user changes their password on the Account page (the nav links it); the
    other session of the account ends, and the new password signs in."""
    expect = _expect()
    who = "changer@example.org"
    new = "a fresh password for the browser"
    server.herald("users", "add", who, "--role", "editor", "--password-env", PASSWORD_ENV)
    context, page = new_page(browser, server)
    other, other_page = new_page(browser, server)
    try:
        sign_in(other_page, who)
        sign_in(page, who)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        snap(page, shots, "account")
        page.get_by_label("Current password").fill("not the password at all")
        page.get_by_label(re.compile(r"^New password")).fill(new)
        page.get_by_label("Repeat the new password").fill(new)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("alert")).to_have_text("The current password is wrong.")
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label(re.compile(r"^New password")).fill(new)
        page.get_by_label("Repeat the new password").fill(new)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("status")).to_contain_text("Password changed")
        page.goto("/queue")  # this browser stays signed in
        expect(page.get_by_role("heading", level=1)).to_have_text("Announcements")
        other_page.goto("/queue")  # the other one is signed out
        expect(other_page).to_have_url(re.compile(r"/login\?next=/queue$"))
        other_page.get_by_label("Email").fill(who)
        other_page.get_by_label("Password").fill(new)
        other_page.get_by_role("button", name="Sign in").click()
        other_page.wait_for_url("**/queue")
    finally:
        context.close()
        other.close()
def test_schedule_traps_and_cancel_with_undo(browser: Browser, server: Server,
                                             shots: Path) -> None:
    """Typing a time picks "at this time"; a past time is refused with a one-click "send as
    soon as approved"; cancel asks first, and undo makes it a draft again."""
    expect = _expect()
    context, page = new_page(browser, server)
    try:
        sign_in(page, EDITOR)
        page.goto("/queue/new")
        page.get_by_label("Title").fill("Leadership café: the date moved")
        page.locator("#target-outbox-files").check()
        expect(page.locator("#when-now")).to_be_checked()
        page.locator("#send_at").fill("2020-01-06T09:00")  # typing picks "at this time"
        expect(page.locator("#when-later")).to_be_checked()
        page.get_by_role("button", name="Save and preview").click()
        expect(page.get_by_role("alert")).to_contain_text("is in the past")
        snap(page, shots, "compose-past-time")
        page.get_by_role("button", name="Send it as soon as it is approved").click()
        page.wait_for_url("**/queue/*?done=saved")
        expect(page.locator("dl.facts")).to_contain_text("as soon as it is approved")
        ann_url = page.url.split("?")[0]
        page.get_by_role("link", name="Cancel this announcement…").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Cancel")
        snap(page, shots, "cancel-confirm")
        page.get_by_role("button", name="Yes, cancel it").click()
        page.wait_for_url(f"{ann_url}?done=cancelled")
        page.get_by_role("button", name="Undo: make it a draft again").click()
        page.wait_for_url(f"{ann_url}?done=restored")
        expect(page.get_by_role("status").first).to_contain_text("a draft again")
        expect(page.get_by_role("button", name="Submit for approval")).to_be_visible()
    finally:
        context.close()
