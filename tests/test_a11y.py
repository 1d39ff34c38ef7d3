"""The automated accessibility check: axe-core in headless Chromium on every page.

axe-core is the npm registry's package, pinned by tests/axe/package-lock.json; ``.ci/run``
installs it (``npm ci --prefix tests/axe``) and the tests find it there or where
``HERALD_AXE`` says, and skip, saying so, without it. Each page is loaded in Chromium against
tests/test_browser.py's server, axe is injected with ``page.add_script_tag`` and run, and any
serious or critical violation fails the test, listed by page, rule and element.

The staff pages are found by walking the links from the queue, stories, feeds, subscribers
and accounts pages as an admin (tests/browser_pages.py), so a new page is checked as soon as
a link leads to it; the public pages are the sign-in, subscribe, preferences, unsubscribe and
setup pages, the last on a server with no accounts yet (the only time it shows its form).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests import test_browser as harness
from tests.browser_pages import (
    ADMIN,
    STAFF_STARTS,
    Seeded,
    axe_script,
    axe_violations,
    running_empty_server,
    seed,
    setup_path,
    shape,
    walk,
)
from tests.test_browser import EDITOR, new_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.test_browser import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# tests/test_browser.py's fixtures, by name: its browser, and its server for this module.
chromium_path = harness.chromium_path
browser = harness.browser
server = harness.server

#: The page shapes the staff walk must reach (more are welcome: whatever the links lead to).
STAFF_PAGES = {"/queue", "/queue/new", "/queue/{n}", "/queue/{n}/edit", "/stories",
               "/stories/{n}", "/feeds", "/feeds/academy-events/edit", "/subscribers", "/users",
               "/digest", "/account"}


@pytest.fixture(scope="module")
def axe() -> Path:
    script = axe_script()
    if script is None:
        pytest.skip("no axe-core: run `npm ci --prefix tests/axe` (.ci/run does) or set "
                    "HERALD_AXE to an axe.min.js")
    return script


@pytest.fixture(scope="module")
def seeded(server: Server, browser: Browser) -> Seeded:
    return seed(server, browser, new_page)


def _report(found: dict[str, list[dict[str, Any]]]) -> str:
    total = sum(len(v) for v in found.values())
    lines = [f"{total} serious or critical accessibility violation(s):"]
    for path, violations in found.items():
        for v in violations:
            lines.append(f"  {path}: {v['rule']} ({v['impact']}) at {v['target']}: "
                         f"{v['summary'][:300]}")
    return "\n".join(lines)


def _checker(axe: Path, found: dict[str, list[dict[str, Any]]]) -> Any:
    def check(page: Page, path: str) -> None:
        # What folds away (<details>: the tag fixes, the payloads as sent) is checked open.
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        violations = axe_violations(page, axe)
        if violations:
            found[shape(path)] = violations
    return check


def test_every_staff_page_passes_axe(browser: Browser, server: Server, seeded: Seeded,
                                     axe: Path) -> None:
    """As an admin (every page) and as an editor (their own announcement, its edit page)."""
    found: dict[str, list[dict[str, Any]]] = {}
    visited: set[str] = set()
    for who in (ADMIN, EDITOR):
        context, page = new_page(browser, server, bypass_csp=True)
        try:
            sign_in(page, who)
            walked = walk(page, STAFF_STARTS, _checker(axe, found))
        finally:
            context.close()
        assert not walked.broken, walked.broken
        visited |= {shape(p) for p in walked.visited}
    missing = STAFF_PAGES - visited
    assert not missing, f"the walks did not reach {sorted(missing)}; they saw {sorted(visited)}"
    assert not found, _report(found)


def test_every_public_page_passes_axe(browser: Browser, server: Server, seeded: Seeded,
                                      axe: Path) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    context, page = new_page(browser, server, bypass_csp=True)
    try:
        walked = walk(page, seeded.public, _checker(axe, found))
    finally:
        context.close()
    assert not walked.broken, walked.broken
    assert {"/login", "/subscribe"} <= set(walked.visited), walked.visited
    assert {shape(p).split("/")[1] for p in walked.visited} >= {"preferences", "unsubscribe"}
    assert not found, _report(found)


@pytest.fixture(scope="module")
def empty_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    with running_empty_server(tmp_path_factory.mktemp("empty")) as base:
        yield base


def test_setup_form_passes_axe(browser: Browser, empty_server: str, axe: Path) -> None:
    context = browser.new_context(base_url=empty_server, locale="en-GB", bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(setup_path())
        assert page.locator("#again").count() == 1, page.content()[:2000]
        violations = axe_violations(page, axe)
    finally:
        context.close()
    assert not violations, _report({"/setup/{token}": violations})
