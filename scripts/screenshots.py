"""Screenshots of every page of the web app, at desktop and phone sizes, for docs/screenshots/.

Starts `herald serve` the way the browser tests do (tests/test_browser.py's
``running_server``: a fresh SQLite database in a temp folder, the bundled sample feeds
collected once, file, Slack and Teams targets on loopback fakes), adds an admin, a subscriber
and announcements in each state (a draft, one waiting for approval, one sent back with a
comment, one scheduled, one sent, one cancelled), then walks every page an admin, then an
editor, can reach by its links (tests/browser_pages.py) and every public page, in headless
Chromium (Debian's, as the tests use) at 1366x900 and at 390x844. The setup form comes from a
second server with no accounts, the only kind that shows it.

    python scripts/screenshots.py                 # into docs/screenshots/
    python scripts/screenshots.py --out /tmp/s    # somewhere else

Each page is ``NAME-desktop.png`` and ``NAME-phone.png`` (``queue-desktop.png``,
``story-phone.png``...). It needs the test extras (``pip install -e ".[test]"``): it reuses
the test suite's harness rather than a copy of it. Look at the pictures after running it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser_pages import (  # noqa: E402
    ADMIN,
    STAFF_STARTS,
    compose,
    public_paths,
    running_empty_server,
    seed,
    setup_path,
    shape,
    walk,
)
from tests.test_browser import (  # noqa: E402
    APPROVER,
    EDITOR,
    WAIT_MS,
    Server,
    find_chromium,
    new_page,
    running_server,
    sign_in,
    snap,
)

SIZES = {"desktop": {"viewport": {"width": 1366, "height": 900}},
         "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                   "has_touch": True}}
#: File names for the page shapes the walk finds; other pages are named after their address.
NAMES = {"/announcement-sent": "announcement-sent",
         "/announcement-returned": "announcement-returned", "/queue": "queue",
         "/queue/new": "compose", "/queue/{n}": "announcement",
         "/queue/{n}/edit": "announcement-edit", "/stories": "stories", "/stories/{n}": "story",
         "/queue/{n}/cancel": "announcement-cancel", "/queue/{n}/sent": "announcement-correct",
         "/stories/{n}/edit": "story-edit", "/feeds": "feeds", "/subscribers": "subscribers",
         "/users": "users", "/account/notifications": "notifications", "/digest": "digest",
         "/login": "sign-in", "/subscribe": "subscribe"}
TARGETS = ("staff-slack", "staff-teams", "outbox-files")
BODY = ("Applications are open until **12 December 2026**: six months, one day a month, for "
        "senior leaders across the system.\n\n- online and in Leeds\n- free for NHS staff\n\n"
        "[Read the programme guide](https://academy.example.org/cohort-7)")


def name_for(path: str) -> str:
    """The picture's name for a page address."""
    known = NAMES.get(shape(path))
    if known:
        return known
    if re.fullmatch(r"/feeds/[^/]+/edit", path):
        return "feed-edit"
    first = path.strip("/").split("/")[0]
    if first in ("preferences", "unsubscribe", "setup", "confirm"):
        return first  # the rest is a signed token
    return re.sub(r"[^a-z0-9]+", "-", shape(path).replace("{n}", "").lower()).strip("-") or "home"


def _public(path: str) -> bool:
    return path.strip("/").split("/")[0] in ("login", "subscribe", "preferences",
                                             "unsubscribe", "setup", "confirm")


def _decide(page: Any, address: str, *, approve: bool = False, comment: str = "") -> None:
    page.goto(address)
    if approve:
        page.get_by_role("button", name="Approve", exact=True).click()
    else:
        page.locator("#comment").fill(comment)
        page.get_by_role("button", name="Send back").click()
    page.wait_for_load_state("load")


def _cancel(page: Any, address: str) -> None:
    page.goto(address)
    main = page.locator("main")
    starts = re.compile(r"^Cancel")
    main.get_by_role("link", name=starts).or_(main.get_by_role("button", name=starts)).first.click()
    page.wait_for_load_state("load")
    if urlsplit(page.url).path.endswith("/cancel"):  # a confirmation page first
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state("load")


def seed_states(server: Server, browser: Any) -> dict[str, str]:
    """Announcements in each state; their addresses by state."""
    seed(server, browser, new_page)  # the admin, the subscriber, one waiting for approval
    editor_ctx, editor = new_page(browser, server)
    approver_ctx, approver = new_page(browser, server)
    try:
        sign_in(editor, EDITOR)
        sign_in(approver, APPROVER)
        made = {
            "draft": compose(editor, "Leadership café: save the date", BODY, submit=False),
            "returned": compose(editor, "Coaching for new managers", BODY, ("outbox-files",)),
            "sent": compose(editor, "Cohort 7 of the Systems Leadership programme opens",
                            BODY, TARGETS),
            "cancelled": compose(editor, "Spring conference (postponed)", BODY),
        }
        # Scheduled: a send time well in the future, approved, so it waits under "Upcoming".
        editor.goto("/queue/new")
        editor.locator("#title").fill("Quality improvement masterclass: booking opens")
        editor.locator("#body").fill(BODY)
        editor.locator("#target-outbox-files").check()
        editor.locator("#when-later").check()
        editor.locator("#send_at").fill("2030-03-04T09:00")
        editor.get_by_role("button", name="Save and preview").click()
        editor.wait_for_url(re.compile(r"/queue/\d+"))
        made["scheduled"] = urlsplit(editor.url).path
        editor.get_by_role("button", name="Submit for approval").click()
        editor.wait_for_load_state("load")
        _decide(approver, made["scheduled"], approve=True)
        _decide(approver, made["sent"], approve=True)
        _decide(approver, made["returned"],
                comment="Please add who it is for and the closing date.")
        _cancel(editor, made["cancelled"])
        server.herald("run", "--once")  # sends the approved one that is due now
    finally:
        editor_ctx.close()
        approver_ctx.close()
    return made


def shoot(browser: Any, server: Server, out: Path, made: dict[str, str]) -> list[Path]:
    """Every page at each size; the files written."""
    written: list[Path] = []
    publics = public_paths(server)
    for size, options in SIZES.items():
        def take(page: Any, path: str, size: str = size) -> None:
            name = f"{name_for(path)}-{size}"
            if out / f"{name}.png" in written:
                return
            snap(page, out, name)
            written.append(out / f"{name}.png")
            print(f"  {name}.png  {path[:60]}")

        for who in (ADMIN, EDITOR):  # the editor sees the edit page of their own
            context, page = new_page(browser, server, **options)
            try:
                sign_in(page, who)
                walk(page, STAFF_STARTS, take, stay=lambda path: not _public(path))
                for state in ("sent", "returned"):
                    page.goto(made[state])
                    take(page, f"/announcement-{state}")
            finally:
                context.close()
        context, page = new_page(browser, server, **options)
        try:
            walk(page, [p for p in publics if not p.startswith("/setup/")], take)
        finally:
            context.close()
    return written


def shoot_setup(browser: Any, base_url: str, out: Path) -> list[Path]:
    """The first-run setup form, which only a server without accounts shows."""
    written = []
    for size, options in SIZES.items():
        context = browser.new_context(base_url=base_url, locale="en-GB", **options)
        try:
            page = context.new_page()
            page.goto(setup_path())
            snap(page, out, f"setup-{size}")
            written.append(out / f"setup-{size}.png")
        finally:
            context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots",
                        help="where the PNGs go (default: docs/screenshots/)")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("no chromium: install Debian's chromium or set HERALD_CHROMIUM", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="herald-shots-") as tmp, \
            running_server(Path(tmp)) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--disable-site-isolation-trials"],
                                             timeout=WAIT_MS)
        try:
            print("seeding announcements...")
            made = seed_states(server, browser)
            written = shoot(browser, server, args.out, made)
            with tempfile.TemporaryDirectory(prefix="herald-setup-") as empty, \
                    running_empty_server(Path(empty)) as base_url:
                written += shoot_setup(browser, base_url, args.out)
        except Exception:
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            browser.close()
    print(f"{len(written)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
