"""A story's reminder switch in headless Chromium (issue #17): an editor opens a story's
page, sees the "Reminders" panel (the switch, its state in words, a planned reminder),
turns reminders off with the form, and sees "Off", the notice and the line in the story's
history. The panel passes axe (when tests/axe is installed) and fits a phone's width.

The app runs in this process under uvicorn (tests/web_helpers.py's ``serving``) on a fixed
clock, so the reminder row put into the table is "in 7 days" whatever the day the test runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.clock import FixedClock
from tests.browser_pages import axe_script, axe_violations
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    WAIT_MS,
    _expect,
    browser,
    chromium_path,
    shots,
)
from tests.test_web_reminders import add_reminder
from tests.test_web_stories import MASTERCLASS, feed_web, story_id
from tests.web_helpers import EDITOR, PASSWORD, Web, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SWITCH = "Remind people before this story's dates"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    w = feed_web(tmp_path, FixedClock(datetime(2026, 8, 20, 9, 0, tzinfo=UTC)), MASTERCLASS)
    yield w
    w.close()


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(EDITOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/queue")


def test_turn_a_storys_reminders_off_on_its_page(browser: Browser, web: Web,  # noqa: F811
                                                 shots: Path) -> None:  # noqa: F811
    expect = _expect()
    sid = story_id(web, "Improvement")
    add_reminder(web, sid)  # planned for Slack, 7 days before the masterclass
    axe = axe_script()
    with serving(web.app) as base:
        context = browser.new_context(base_url=base, locale="en-GB", bypass_csp=True,
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        try:
            _sign_in(page)
            page.goto(f"/stories/{sid}")
            panel = page.locator("section.reminders")
            expect(panel.get_by_role("heading", name="Reminders")).to_be_visible()
            switch = panel.get_by_role("checkbox", name=SWITCH)
            expect(switch).to_be_checked()
            expect(panel.locator("#reminders-state")).to_have_text(
                "Reminders for this story: On")
            row = panel.locator("table.reminders tbody tr")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("staff-slack")
            expect(row).to_contain_text("Event Thu 3 Sep")
            expect(row).to_contain_text("in 7 days, Thu 27 Aug 09:00 BST")
            expect(row).to_contain_text("planned")
            expect(panel).to_contain_text("Planned reminders are cancelled within a minute")
            if axe is not None:  # (without tests/axe installed, the rest still runs)
                violations = axe_violations(page, axe)
                assert not violations, violations
            page.locator("section.reminders").screenshot(path=str(shots / "reminders.png"))

            # Off: untick, save; the page says so at once.
            switch.uncheck()
            panel.get_by_role("button", name="Save reminders").click()
            page.wait_for_url(f"**/stories/{sid}?done=reminders-off")
            expect(page.get_by_text("Reminders off for this story.")).to_be_visible()
            panel = page.locator("section.reminders")
            expect(panel.locator("#reminders-state")).to_have_text(
                "Reminders for this story: Off")
            expect(panel.get_by_role("checkbox", name=SWITCH)).not_to_be_checked()
            # The planned row stays until the worker's next round cancels it, and says so.
            expect(panel.locator("table.reminders tbody tr")).to_contain_text(
                "to be cancelled: reminders are off")
            panel.screenshot(path=str(shots / "reminders-off.png"))
            history = page.locator("table.history tbody tr").filter(has_text="reminders")
            expect(history).to_have_count(1)
            expect(history).to_contain_text(EDITOR)
            expect(history.locator("td[data-label=Before]")).to_have_text("on")
            expect(history.locator("td[data-label=After]")).to_have_text("off")
            assert web.store.get_story(sid).reminders is False

            # On a phone, the panel fits the width and its button is on screen.
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"/stories/{sid}")
            # (The panel alone: the page's long story link is not this test's business.)
            wide = page.evaluate("""() => [...document.querySelectorAll(
                'section.reminders, section.reminders *')].filter(
                e => e.getBoundingClientRect().right > window.innerWidth).map(
                e => e.tagName + '.' + e.className + ' ' +
                     Math.round(e.getBoundingClientRect().right))""")
            assert not wide, f"wider than the 390px screen: {wide}"
            button = page.get_by_role("button", name="Save reminders")
            button.scroll_into_view_if_needed()
            expect(button).to_be_in_viewport()
        except Exception:
            print(page.url, page.content()[-4000:])
            raise
        finally:
            context.close()
