"""Every page of the web app, found by walking its links: for the accessibility check
(tests/test_a11y.py), the phone layout check (tests/test_phone.py) and the screenshot script
(scripts/screenshots.py).

``seed`` gives a server of tests/test_browser.py's harness something on every page (an admin,
a subscriber, announcements); ``walk`` starts from a few addresses and follows every
same-origin link it finds, visiting one address per shape (``/queue/7`` and ``/queue/9`` are
both ``/queue/{n}``), so a page another change adds is covered as soon as something links it.
``axe_violations`` injects axe-core (the npm registry's package, which ``.ci/run`` installs
from tests/axe/package-lock.json) into the page and returns what it finds.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.digest import PREFERENCES, UNSUBSCRIBE
from bot.tokens import Signer
from bot.web.setup import SETUP
from tests.conftest import CONFIG_DIR, ROOT
from tests.test_browser import (
    APPROVER,
    COMMAND_SECONDS,
    EDITOR,
    PASSWORD_ENV,
    SECRET_KEY,
    Server,
    _free_port,
    _stop,
    _wait_until_serving,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ADMIN = "admin@example.org"
READER = "reader@example.net"
AXE_ENV = "HERALD_AXE"
AXE_DEFAULT = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: Never followed: assets, the JSON API, health, and files (a CSV export) rather than pages.
NOT_PAGES = re.compile(r"^/(static|api|healthz|readyz|metrics|logout|openapi\.json|docs|redoc)"
                       r"(/|$)|\.(csv|json|xml|txt|png|jpe?g|svg|pdf|ics)$")
#: At most this many pages per walk (a runaway link pattern fails loudly instead).
MOST_PAGES = 60
#: What counts: axe's impacts the check fails on.
FAILING_IMPACTS = ("serious", "critical")


def axe_script() -> Path | None:
    """axe.min.js: where HERALD_AXE says, else where `npm ci --prefix tests/axe` puts it."""
    named = os.environ.get(AXE_ENV)
    path = Path(named) if named else AXE_DEFAULT
    return path if path.is_file() else None


def axe_violations(page: Page, script: Path) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now, one entry per
    rule and element: ``{"rule", "impact", "target", "summary"}``."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(script))
    # iframes: false - the only frame is the sandboxed digest preview, an email rather than
    # a page of the app, and axe cannot run inside a frame that allows no scripts.
    found: list[dict[str, Any]] = page.evaluate("""async impacts => {
        const result = await axe.run(document, {iframes: false, resultTypes: ['violations']});
        return result.violations.filter(v => impacts.includes(v.impact)).flatMap(v =>
            v.nodes.map(n => ({rule: v.id, impact: v.impact, target: n.target.join(' '),
                               summary: (n.failureSummary || v.help).replace(/\\s+/g, ' ')})));
    }""", list(FAILING_IMPACTS))
    return found


def shape(path: str) -> str:
    """The address with its numbers and signed tokens generalised: one visit per shape."""
    path = re.sub(r"/[\w-]+\.[\w.-]{10,}(?=/|$)", "/{token}", path)
    return re.sub(r"/\d+(?=/|$)", "/{n}", path)


@dataclass
class Walked:
    """What a walk saw: the addresses visited, and the ones that answered with an error."""

    visited: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)


def walk(page: Page, starts: list[str], on_page: Callable[[Page, str], None],
         *, stay: Callable[[str], bool] | None = None) -> Walked:
    """Visit each start, then every same-origin link found on the way (breadth first), one
    address per shape; call ``on_page(page, path)`` on each HTML page. ``stay`` limits which
    paths are followed (all but NOT_PAGES by default)."""
    seen: set[str] = set()
    todo = list(starts)
    walked = Walked()
    while todo:
        target = todo.pop(0)
        parts = urlsplit(target)
        path = parts.path or "/"
        if NOT_PAGES.search(path) or shape(path) in seen or (stay and not stay(path)):
            continue
        seen.add(shape(path))
        assert len(walked.visited) < MOST_PAGES, f"more than {MOST_PAGES} pages: {walked}"
        try:
            response = page.goto(f"{path}?{parts.query}" if parts.query else path)
        except Exception as exc:  # a download, say: not a page
            if "Download is starting" in str(exc):
                continue
            raise
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        if response.status >= 500:
            walked.broken.append(f"{path}: HTTP {response.status}")
            continue
        walked.visited.append(path)
        on_page(page, path)
        hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            link = urlsplit(href)
            if link.scheme in ("http", "https") and link.netloc == urlsplit(page.url).netloc:
                todo.append(f"{link.path}?{link.query}" if link.query else link.path)
    return walked


@dataclass
class Seeded:
    """The public pages that need a signed link, for a seeded server."""

    public: list[str]


def _subscriber_id(server: Server, email: str) -> int:
    db = server.cwd / "herald.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT id FROM subscribers WHERE email = ?", (email,)).fetchone()
    assert row, f"no subscriber {email} in {db}"
    return int(row[0])


def compose(page: Page, title: str, body: str, targets: tuple[str, ...] = ("outbox-files",),
            *, submit: bool = True) -> str:
    """Write an announcement in the browser (signed in as its author); its address."""
    page.goto("/queue/new")
    page.locator("#title").fill(title)
    page.locator("#body").fill(body)
    page.locator("#url").fill("https://academy.example.org/news")
    page.locator("input[name=domains]").first.check()
    for target in targets:
        page.locator(f"#target-{target}").check()
    page.get_by_role("button", name="Save and preview").click()
    page.wait_for_url(re.compile(r"/queue/\d+"))
    address = urlsplit(page.url).path
    if submit:
        page.get_by_role("button", name="Submit for approval").click()
        page.wait_for_url(re.compile(r"/queue/\d+"))
    return address


def seed(server: Server, browser: Browser, new_page: Callable[..., Any]) -> Seeded:
    """An admin (the walks sign in as them: they see every page), a subscriber, a feed added
    by hand, and one announcement waiting for approval, so that every kind of page has
    something on it."""
    server.herald("users", "add", ADMIN, "--role", "admin", "--password-env", PASSWORD_ENV)
    server.herald("subscribers", "add", READER)
    # A feed added by hand (not from the config file): its row has edit and remove buttons.
    events = server.cwd / "academy-events.xml"
    shutil.copyfile(CONFIG_DIR / "sample" / "academy-news.xml", events)
    server.herald("feeds", "add", str(events), "--display-name", "Academy events")
    context, page = new_page(browser, server)
    try:
        sign_in(page, EDITOR)
        compose(page, "Cohort 7 of the Systems Leadership programme opens",
                "Applications are open until **12 December 2026**.\n\n- six months\n- online")
    finally:
        context.close()
    return Seeded(public=public_paths(server))


def setup_path() -> str:
    """The first-run setup page's address, signed as `herald serve` would sign it."""
    return f"/setup/{Signer(SECRET_KEY).sign(SETUP, 'admin')}"


EMPTY_CONFIG = """
[database]
url = "sqlite:///{db}"

[paths]
var = "{var}"
outbox = "{outbox}"

[[targets]]
name = "outbox-files"
type = "file"
"""


@contextmanager
def running_empty_server(tmp: Path) -> Iterator[str]:
    """`herald serve` on a database with no accounts (where the setup page shows its form):
    its base URL."""
    config = tmp / "herald.toml"
    config.write_text(EMPTY_CONFIG.format(db=tmp / "herald.db", var=tmp / "var",
                                          outbox=tmp / "outbox"))
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    env["HERALD_SECRET_KEY"] = SECRET_KEY
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade", "--config", str(config)],
                   cwd=tmp, env=env, check=True, capture_output=True, timeout=COMMAND_SECONDS)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--config", str(config)],
                                cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(proc, base, log)
            yield base
        finally:
            _stop(proc)


def public_paths(server: Server) -> list[str]:
    """The public pages: sign-in, subscribe, and the reader's signed preference and
    unsubscribe links, plus a setup link (which says there is nothing to set up once
    accounts exist; tests/test_a11y.py checks the form itself on an empty server)."""
    signer = Signer(SECRET_KEY)
    sub = {"s": _subscriber_id(server, READER), "e": READER}
    return ["/login", "/subscribe", f"/preferences/{signer.sign(PREFERENCES, sub)}",
            f"/unsubscribe/{signer.sign(UNSUBSCRIBE, sub)}",
            setup_path()]


#: Where a signed-in walk starts: the nav leads to the rest.
STAFF_STARTS = ["/queue", "/queue/new", "/stories", "/feeds", "/subscribers", "/users",
                "/digest"]
__all__ = ["ADMIN", "APPROVER", "EDITOR", "STAFF_STARTS", "Seeded", "Walked", "axe_script",
           "axe_violations", "compose", "public_paths", "running_empty_server", "seed",
           "setup_path", "walk"]
