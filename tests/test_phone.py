"""Every page on a 390x844 phone: no sideways scrolling, and every table's buttons on screen.

At phone widths app.css turns each table into stacked rows (each value under its column's
name), so the action buttons of the feeds, queue, stories, subscribers and accounts tables
(and any table a later change adds) sit inside the screen. The pages are found as in
tests/test_a11y.py, by walking the links as an admin (tests/browser_pages.py), against
tests/test_browser.py's server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests import test_browser as harness
from tests.browser_pages import ADMIN, STAFF_STARTS, Seeded, seed, shape, walk
from tests.test_browser import new_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.test_browser import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# tests/test_browser.py's fixtures, by name: its browser, and its server for this module.
chromium_path = harness.chromium_path
browser = harness.browser
server = harness.server

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
#: What counts as a table's button.
BUTTONS = "main table button, main table a.button, main table input[type=submit]"


@pytest.fixture(scope="module")
def seeded(server: Server, browser: Browser) -> Seeded:
    return seed(server, browser, new_page)


class PhoneCheck:
    """Called on each page of a walk: collects what does not fit, and which pages had
    table buttons to check."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.with_buttons: set[str] = set()

    def __call__(self, page: Page, path: str) -> None:
        where = shape(path)
        scroll, inner = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            self.problems.append(f"{where}: the page is {scroll}px wide in a {inner}px screen")
        buttons = page.locator(BUTTONS)
        for i in range(buttons.count()):
            button = buttons.nth(i)
            box = button.bounding_box()
            if box is None:  # not rendered (in a closed <details>, say)
                continue
            self.with_buttons.add(where)
            if box["x"] < 0 or box["x"] + box["width"] > inner + 0.5:
                label = " ".join(button.inner_text().split()) or button.get_attribute("value")
                self.problems.append(f"{where}: the button {label!r} spans "
                                     f"{box['x']:.0f}-{box['x'] + box['width']:.0f}px "
                                     f"of a {inner}px screen")


def test_every_staff_page_fits_a_phone(browser: Browser, server: Server,
                                       seeded: Seeded) -> None:
    check = PhoneCheck()
    context, page = new_page(browser, server, **PHONE)
    try:
        sign_in(page, ADMIN)
        walked = walk(page, STAFF_STARTS, check)
    finally:
        context.close()
    assert not walked.broken, walked.broken
    assert not check.problems, "\n".join(check.problems)
    # Not vacuous: the feeds and subscribers tables have buttons, and they were measured.
    assert {"/feeds", "/subscribers"} <= check.with_buttons, check.with_buttons


def test_every_public_page_fits_a_phone(browser: Browser, server: Server,
                                        seeded: Seeded) -> None:
    check = PhoneCheck()
    context, page = new_page(browser, server, **PHONE)
    try:
        walked = walk(page, seeded.public, check)
    finally:
        context.close()
    assert not walked.broken, walked.broken
    assert not check.problems, "\n".join(check.problems)


def test_table_cells_keep_their_column_names(browser: Browser, server: Server,
                                             seeded: Seeded) -> None:
    """Stacked, each value shows its column's name (data-label, drawn by CSS)."""
    context, page = new_page(browser, server, **PHONE)
    try:
        sign_in(page, ADMIN)
        page.goto("/feeds")
        cell = page.locator("main table tbody td[data-label='Every']").first
        before = cell.evaluate("td => getComputedStyle(td, '::before').content")
        assert before == '"Every"', before
        # The table's header row is out of sight (screen readers still read it).
        head = page.locator("main table thead").first.bounding_box()
        assert head is not None and head["height"] <= 1, head
    finally:
        context.close()
