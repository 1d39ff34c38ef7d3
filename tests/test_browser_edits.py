"""Edits in headless Chromium (issue #15), against a real `herald serve` and the loopback
fake Slack and Teams (the harness of tests/test_browser.py): an announcement goes out, its
author corrects it everywhere, an approver approves the correction, the worker edits the
Slack message (``chat.update``) and posts one Teams correction; the Slack post is deleted
from the page; a collected story is edited and its history shown. Screenshots at desktop
and phone sizes (``story-edit``, ``sent-edit``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    APPROVER,
    EDITOR,
    SLACK_CHANNEL,
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

TITLE = "Cohort 8 opens for applications"
FIXED = "Cohort 8 opens for applications on 12 January"


def test_edit_everywhere_approve_and_delete_from_slack(
        browser: Browser, server: Server, shots: Path) -> None:  # noqa: F811  (fixtures)
    expect = _expect()
    editor_ctx, page = new_page(browser, server)
    approver_ctx, approver = new_page(browser, server)
    phone_ctx, phone = new_page(browser, server, viewport={"width": 390, "height": 844})
    try:
        sign_in(page, EDITOR)
        page.get_by_role("link", name="Write an announcement").click()
        page.get_by_label("Title").fill(TITLE)
        page.get_by_label("Text").fill("Apply by **12 December 2026**.")
        page.get_by_label("Kind").select_option("cohort-opening")
        for target in ("staff-slack", "staff-teams"):
            page.locator(f"#target-{target}").check()
        page.get_by_role("button", name="Save and preview").click()
        page.wait_for_url("**/queue/*")
        ann_url = page.url.split("?")[0]
        page.get_by_role("button", name="Submit for approval").click()
        sign_in(approver, APPROVER)
        approver.goto(ann_url)
        approver.get_by_role("button", name="Approve", exact=True).click()
        expect(approver.get_by_role("status")).to_have_text("Approved.")
        server.herald("run", "--once")
        (msg,) = [m for m in server.slack.posted(SLACK_CHANNEL)
                  if m["blocks"][0]["text"]["text"] == TITLE]
        cards = len(server.teams.cards)

        # Where it went: the live Slack post is linked.
        page.goto(ann_url)
        link = page.get_by_role("link", name="open the post")
        expect(link).to_have_attribute("href", re.compile(r"^https://fake-slack\.example/"))
        page.get_by_role("link", name="Edit everywhere, or delete from Slack").click()
        page.get_by_label("Title").fill(FIXED)
        page.get_by_role("button", name="Ask for approval").click()
        expect(page.get_by_role("status")).to_contain_text("once another approver approves")
        expect(page.get_by_text("Another approver must approve it.")).to_be_visible()
        server.herald("run", "--once")
        assert server.slack.updates == [] or all(
            u["ts"] != msg["ts"] for u in server.slack.updates)

        approver.goto(f"{ann_url}/sent")
        snap(approver, shots, "sent-edit")
        approver.get_by_role("button", name="Approve: send the correction everywhere").click()
        expect(approver.get_by_role("status")).to_contain_text("edited in place")
        server.herald("run", "--once")
        (update,) = [u for u in server.slack.updates if u["ts"] == msg["ts"]]
        assert update["blocks"][0]["text"]["text"] == FIXED
        assert len(server.teams.cards) == cards + 1
        assert TITLE in server.teams.cards[-1]["body"][0]["text"]
        expect(approver.get_by_role("cell", name=FIXED)).to_be_visible()

        # Delete from Slack: the worker takes the post down.
        approver.get_by_role("button", name="Delete from staff-slack").click()
        expect(approver.get_by_role("status")).to_contain_text("being deleted")
        server.herald("run", "--once")
        assert any(d["ts"] == msg["ts"] for d in server.slack.deleted)

        # A collected story: edit its title, see the history on its page; on a phone too.
        page.goto("/stories")
        page.locator("main a[href^='/stories/']").first.click()
        page.wait_for_url("**/stories/*")
        page.get_by_role("link", name="Edit title, summary, key dates, programmes").click()
        page.get_by_label("Title").fill("Leadership cohort: edited by comms")
        snap(page, shots, "story-edit")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Leadership cohort: edited by comms")
        expect(page.get_by_role("cell", name=EDITOR).first).to_be_visible()
        sign_in(phone, EDITOR)
        phone.goto(page.url.split("?")[0] + "/edit")
        snap(phone, shots, "story-edit-phone")
    finally:
        editor_ctx.close()
        approver_ctx.close()
        phone_ctx.close()
