"""Stories at volume in headless Chromium (issue #15): find a story by search, split a copy
off it, find both, and merge the copy back from the "Possible duplicates" the merge engine
offers. Uses the harness of tests/test_browser.py (its own `herald serve` for this module,
the bundled sample feeds collected once)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures, used by name)
    EDITOR,
    Server,
    _expect,
    browser,
    chromium_path,
    new_page,
    server,
    shots,
    sign_in,
    snap,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_find_a_story_by_search_and_merge_a_suggested_duplicate(
        browser: Browser, server: Server, shots: Path) -> None:  # noqa: F811
    expect = _expect()
    context, page = new_page(browser, server)
    try:
        sign_in(page, EDITOR)
        page.get_by_role("link", name="Stories").click()
        page.get_by_label("Search titles and summaries").fill("coaching senior")
        page.get_by_role("button", name="Find").click()
        page.wait_for_url("**/stories?q=coaching+senior*")
        expect(page.locator("#story-count")).to_have_text("1–1 of 1 story")
        snap(page, shots, "stories-search")
        # (Its title is the website post's or the X post's, whichever was collected first.)
        page.locator("table.stories tbody a").first.click()
        page.wait_for_url("**/stories/*")
        expect(page.get_by_role("heading", level=1)).to_contain_text("senior leaders")
        expect(page.get_by_text("Source items (2)")).to_be_visible()
        story_url = page.url.split("?")[0]

        # Split the X post off: it becomes a story of its own, a true copy.
        page.get_by_role("listitem").filter(has_text="academy-x-posts").get_by_role(
            "button", name="Split into its own story").click()
        page.wait_for_url("**/stories/*?done=split")
        assert page.url.split("?")[0] != story_url

        # Back on the original, the merge engine offers the copy first.
        page.goto(story_url)
        expect(page.get_by_text("Source items (1)")).to_be_visible()
        duplicates = page.locator("table.duplicates tbody tr")
        first = duplicates.first
        expect(first).to_contain_text("The engine would merge them")
        expect(first).to_contain_text("same link")
        snap(page, shots, "story-duplicates")
        first.get_by_role("button", name="Merge into this story").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("into this story?")
        snap(page, shots, "story-merge-confirm")
        page.get_by_role("button", name="Merge into this story").click()
        page.wait_for_url(f"{story_url}?done=*")
        expect(page.get_by_text("Source items (2)")).to_be_visible()

        # The search finds one story again; on a phone, the form and list fit the width.
        page.goto("/stories?q=coaching+senior")
        expect(page.locator("#story-count")).to_have_text("1–1 of 1 story")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/stories?q=coaching")
        expect(page.get_by_role("button", name="Find")).to_be_in_viewport()
        snap(page, shots, "stories-search-phone")
    except Exception:
        print(page.url, page.content().split("</form>")[-1][:3000])
        print(server.log_tail())
        raise
    finally:
        context.close()
