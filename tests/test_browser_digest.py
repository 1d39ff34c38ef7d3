"""The digest page in headless Chromium (issue #15): preview this week's digest for each
group of subscribers and test-send it to yourself; the worker's outmail job writes the
test email to the file sender. Uses the harness of tests/test_browser.py (its own server
for this module)."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures, used by name
    EDITOR,
    PASSWORD_ENV,
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


def test_preview_and_test_send_the_digest(browser: Browser, server: Server,  # noqa: F811
                                          shots: Path) -> None:  # noqa: F811
    expect = _expect()
    server.herald("subscribers", "add", "everything@example.org")
    server.herald("subscribers", "add", "cohorts@example.org", "--kinds",
                  "cohort-opening,event")
    context, page = new_page(browser, server)
    try:
        sign_in(page, EDITOR)
        page.get_by_role("link", name="Digest").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Weekly digest")
        expect(page.get_by_text("goes out")).to_contain_text("(Europe/London)")
        frames = page.locator("iframe.digest-frame")
        expect(frames).to_have_count(2)
        first = page.frame_locator("iframe.digest-frame").first
        expect(first.get_by_text("Academy news").first).to_be_visible()
        expect(page.get_by_text("No digest has been sent yet")).to_be_visible()
        snap(page, shots, "digest")
        page.get_by_role("radio", name="only Cohort").check()
        page.get_by_role("button", name="as a test").click()
        expect(page.get_by_role("status")).to_contain_text("Test digest queued")
        server.herald("run", "--once")
        folder = server.cwd / "outbox" / "digest"
        mails = [message_from_bytes(p.read_bytes(), policy=policy.default)
                 for p in folder.glob("*.eml")]
        tests = [m for m in mails if str(m["Subject"]).startswith("[Test]")]
        assert [str(m["To"]) for m in tests] == [EDITOR]
        # Only the test went: the week's real digest is still to come.
        assert len(mails) == 1
        page.reload()
        expect(page.get_by_text("No digest has been sent yet")).to_be_visible()
        page.set_viewport_size({"width": 390, "height": 844})
        snap(page, shots, "digest-phone")
    finally:
        context.close()


def test_import_and_export_subscribers(browser: Browser, server: Server,  # noqa: F811
                                       shots: Path, tmp_path: Path) -> None:  # noqa: F811
    """An admin imports a CSV (one bad row first: nothing written, the row named), then the
    fixed file with consent, and downloads the export."""
    expect = _expect()
    admin = "admin@example.org"
    server.herald("users", "add", admin, "--role", "admin", "--password-env", PASSWORD_ENV)
    bad = tmp_path / "bad.csv"
    bad.write_text("email,kinds\nnew.one@example.org,event\nnot an address,\n")
    good = tmp_path / "good.csv"
    good.write_text("email,kinds\nnew.one@example.org,event\n=two@example.org,all\n")
    context, page = new_page(browser, server)
    try:
        sign_in(page, admin)
        page.get_by_role("link", name="Subscribers").click()
        page.get_by_label("CSV file").set_input_files(str(bad))
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_role("alert")).to_contain_text("row 3, email:")
        expect(page.get_by_role("cell", name="new.one@example.org", exact=True)).to_have_count(0)
        page.get_by_label("CSV file").set_input_files(str(good))
        page.get_by_label("I have their consent").check()
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_role("status")).to_contain_text("2 added")
        expect(page.get_by_role("cell", name="new.one@example.org", exact=True)).to_be_visible()
        snap(page, shots, "subscribers")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download every subscriber as CSV").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert "'=two@example.org,active,all,all," in text
        assert "new.one@example.org,active,all,event," in text
    finally:
        context.close()
