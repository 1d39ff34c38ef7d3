"""Scheduling you cannot get wrong, and a queue that does not mislead: a typed send time is
never dropped, a past one is refused with "send now instead?" (also when it passed while
waiting for approval), every time names its zone and how far off it is, a sent-back
announcement sits under "Needs your changes" with its comment, and cancel asks first and
can be undone. Rows written here run on SQLite and PostgreSQL (``dbweb``)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from bot.queue import when_text
from tests.test_web_queue import CONFIRM, outbox_files, submitted
from tests.web_helpers import APPROVER, EDITOR, EDITOR2, Web

# The tests' clock starts at Thu 20 Aug 2026 09:00 UTC (10:00 in London, BST).


def test_when_text_names_the_zone_and_the_distance() -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert when_text(datetime(2026, 12, 4, 9, 0, tzinfo=UTC), now) == \
        "in 2 days, Fri 4 Dec 09:00 GMT"
    assert when_text(datetime(2026, 12, 2, 6, 0, tzinfo=UTC), now) == \
        "3 hours ago, Wed 2 Dec 06:00 GMT"
    assert when_text(datetime(2026, 8, 21, 9, 30, tzinfo=UTC), now) == \
        "3 months ago, Fri 21 Aug 10:30 BST"
    assert when_text(now + timedelta(seconds=20), now) == "just now, Wed 2 Dec 09:00 GMT"
    assert when_text(datetime(2027, 1, 5, 8, 0, tzinfo=UTC), now, "UTC") == \
        "in 5 weeks, Tue 5 Jan 2027 08:00 UTC"


def test_a_typed_time_with_as_soon_as_approved_is_refused_not_dropped(web: Web) -> None:
    ed = web.staff(EDITOR)
    r = ed.post("/queue/new", {"title": "Webinar", "kind": "event", "targets": ["files"],
                               "when": "now", "send_at": "2026-08-21T10:30"})
    assert r.status_code == 422
    assert "you typed a send time (2026-08-21T10:30)" in r.text
    assert 'value="2026-08-21T10:30"' in r.text  # what was typed is kept
    assert web.store.list_announcements() == []
    # The page's own script picks "at this time" as you type (works without it too).
    assert '<script src="/static/schedule.js"></script>' in r.text
    assert "later.checked = true" in web.client().get("/static/schedule.js").text
    # Choosing "at this time" keeps the time.
    ann_id = web.compose(ed, when="later", send_at="2026-08-21T10:30")
    assert web.store.get_announcement(ann_id).send_at == datetime(2026, 8, 21, 9, 30,
                                                                  tzinfo=UTC)


def test_a_send_time_that_is_not_a_time_is_refused_in_plain_words(web: Web) -> None:
    ed = web.staff(EDITOR)
    r = ed.post("/queue/new", {"title": "Webinar", "kind": "event", "targets": ["files"],
                               "when": "later", "send_at": "tomorrow-ish"})
    assert r.status_code == 422
    said = html.unescape(r.text)
    assert "the send time (tomorrow-ish) is not a date and time such as 2026-12-18 09:00" \
        in said
    assert "input is too short" not in said and "send_at:" not in said
    assert web.store.list_announcements() == []
    r = ed.api("POST", "/api/announcements", json={
        "title": "Webinar", "kind": "event", "targets": ["files"], "send_at": "soon"})
    assert r.status_code == 422 and "is not a date and time such as" in r.json()["error"]


def test_a_time_the_clocks_skip_is_refused_and_a_doubled_one_is_the_first(web: Web
                                                                          ) -> None:
    """01:30 on 28 Mar 2027 does not exist in London (01:00 GMT becomes 02:00 BST): refused,
    not moved to 02:30. 01:30 on 31 Oct 2027 happens twice: the first (BST), shown so."""
    ed = web.staff(EDITOR)
    form = {"title": "Webinar", "kind": "event", "targets": ["files"], "when": "later"}
    r = ed.post("/queue/new", {**form, "send_at": "2027-03-28T01:30"})
    assert r.status_code == 422
    assert "01:30 on 28 Mar 2027 does not exist in Europe/London: the clocks go forward" \
        in html.unescape(r.text)
    assert web.store.list_announcements() == []
    r = ed.api("POST", "/api/announcements", json={
        "title": "Webinar", "kind": "event", "targets": ["files"], "send_at": "2027-03-28T01:30"})
    assert r.status_code == 422 and "does not exist" in r.json()["error"]
    ann_id = web.compose(ed, when="later", send_at="2027-10-31T01:30")
    assert web.store.get_announcement(ann_id).send_at == datetime(2027, 10, 31, 0, 30,
                                                                  tzinfo=UTC)
    assert "Sun 31 Oct 2027 01:30 BST" in ed.get(f"/queue/{ann_id}").text


def test_a_past_time_is_refused_with_send_now_instead(web: Web) -> None:
    ed = web.staff(EDITOR)
    form = {"title": "Webinar", "kind": "event", "targets": ["files"], "when": "later",
            "send_at": "2026-08-20T09:30"}  # 09:30 London is 08:30 UTC: half an hour ago
    r = ed.post("/queue/new", form)
    assert r.status_code == 422
    assert "the send time (30 minutes ago, Thu 20 Aug 09:30 BST) is in the past" in r.text
    assert 'name="send_now" value="1"' in r.text
    assert web.store.list_announcements() == []
    # One click: the same form, sent as soon as approved.
    r = ed.post("/queue/new", {**form, "send_now": "1"})
    assert r.status_code == 303
    (ann,) = web.store.list_announcements()
    assert ann.send_at is None
    # Editing keeps the rule, and so does the API.
    r = ed.post(f"/queue/{ann.id}/edit", form)
    assert r.status_code == 422 and "is in the past" in r.text
    r = ed.api("POST", "/api/announcements", json={
        "title": "t", "kind": "news", "targets": ["files"], "send_at": "2026-08-20T08:00:00Z"})
    assert r.status_code == 422 and "is in the past" in r.json()["error"]


def test_a_time_that_passed_while_waiting_is_refused_at_approval(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-20T12:00")
    web.clock.advance(hours=4)  # 13:00 London: the approver comes back from lunch
    ap = web.staff(APPROVER)
    page = ap.get(f"/queue/{ann_id}").text
    assert "passed while this waited" in page and "Approve and send now" in page
    r = ap.post(f"/queue/{ann_id}/approve")
    assert r.status_code == 422 and "passed while it waited" in r.text
    assert web.store.get_announcement(ann_id).status == "submitted"
    r = ap.api("POST", f"/api/announcements/{ann_id}/approve")
    assert r.status_code == 422
    r = ap.post(f"/queue/{ann_id}/approve", {"send_now": "1"})
    assert r.status_code == 303
    ann = web.store.get_announcement(ann_id)
    assert ann.status == "approved" and ann.send_at is None
    assert ann.deliveries[0].next_attempt_at == web.clock.now()
    assert web.herald.dispatch().sent == 1 and len(outbox_files(web)) == 1


def test_every_time_names_its_zone_and_how_far_off(web: Web) -> None:
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-22T09:00")
    ed = web.staff(EDITOR)
    page = ed.get(f"/queue/{ann_id}").text
    assert '<time datetime="2026-08-22T08:00:00+00:00">in 2 days, Sat 22 Aug 09:00 BST' \
        '</time>' in page
    queue = ed.get("/queue").text
    assert "planned for <time" in queue and "in 2 days, Sat 22 Aug 09:00 BST" in queue
    # The API keeps ISO 8601 with an offset.
    sent_at = ed.api("GET", f"/api/announcements/{ann_id}").json()["send_at"]
    assert datetime.fromisoformat(sent_at) == datetime(2026, 8, 22, 8, 0, tzinfo=UTC)
    assert sent_at.endswith(("Z", "+00:00"))
    web.clock.advance(hours=24)  # "now" comes from the app's clock
    assert "in 23 hours, Sat 22 Aug 09:00 BST" in web.staff(EDITOR).get(f"/queue/{ann_id}").text


def _section(page: str, heading: str) -> str:
    found = re.search(rf'<h2 id="h-(\w+)">{heading} .*?</section>', page, re.S)
    assert found, heading
    return found.group(0)


def test_a_sent_back_announcement_needs_your_changes_with_its_comment(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-22T09:00")
    ap = web.staff(APPROVER)
    assert ap.post(f"/queue/{ann_id}/return",
                   {"comment": "Say <when> applications close."}).status_code == 303
    page = web.staff(EDITOR).get("/queue").text
    changes = _section(page, "Needs your changes")
    assert f'href="/queue/{ann_id}"' in changes
    assert "Say &lt;when&gt; applications close." in changes and APPROVER in changes
    assert f'href="/queue/{ann_id}"' not in _section(page, "Upcoming")
    assert "<time" not in changes  # no send time shown as if it were scheduled
    # Once approved it is upcoming, with its time.
    ed = web.staff(EDITOR)
    assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    page = ed.get("/queue").text
    assert f'href="/queue/{ann_id}"' in _section(page, "Upcoming")
    assert "Nothing was sent back." in page


def test_cancel_asks_first_and_can_be_undone(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-21T10:00")
    ap = web.staff(APPROVER)
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    ed = web.staff(EDITOR)
    page = ed.get(f"/queue/{ann_id}").text
    assert f'action="/queue/{ann_id}/cancel"' not in page  # no one-click button
    assert f'href="/queue/{ann_id}/cancel"' in page
    # A post that did not come from the confirmation page only leads there.
    r = ed.post(f"/queue/{ann_id}/cancel")
    assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}/cancel"
    assert web.store.get_announcement(ann_id).status == "approved"
    confirm = ed.get(f"/queue/{ann_id}/cancel").text
    assert "Yes, cancel it" in confirm and "No, keep it" in confirm and "undo" in confirm
    r = ed.post(f"/queue/{ann_id}/cancel", CONFIRM)
    assert r.status_code == 303
    page = ed.get(r.headers["location"]).text
    assert "Cancelled: nothing more of it goes out." in page
    assert f'action="/queue/{ann_id}/restore"' in page
    assert web.store.get_announcement(ann_id).deliveries == ()
    # Undo: a draft again, to submit and approve afresh.
    r = ed.post(f"/queue/{ann_id}/restore")
    assert r.status_code == 303 and r.headers["location"].endswith("done=restored")
    assert "Cancel undone: it is a draft again." in ed.get(r.headers["location"]).text
    ann = web.store.get_announcement(ann_id)
    assert ann.status == "draft" and ann.story_id is None and ann.approver is None
    assert ed.post(f"/queue/{ann_id}/restore").status_code == 409  # nothing to undo
    assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    web.clock.advance(days=2)
    assert web.herald.dispatch().sent == 1 and len(outbox_files(web)) == 1


def test_a_cancel_after_part_was_sent_cannot_be_undone(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR)
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    # A worker has the delivery on its way when the author cancels.
    (_claim,) = web.store.claim_deliveries("w1", web.clock.now(), timedelta(minutes=5),
                                          limit=5, targets=["files"], updatable=[])
    web.store.cancel_announcement(ann_id, web.clock.now())
    assert web.store.get_announcement(ann_id).started
    ed = web.staff(EDITOR)
    assert f'action="/queue/{ann_id}/restore"' not in ed.get(f"/queue/{ann_id}").text
    r = ed.post(f"/queue/{ann_id}/restore")
    assert r.status_code == 409 and "had already gone to files" in r.text


def test_only_its_author_or_an_approver_cancels_or_restores(dbweb: Web) -> None:
    """Four eyes: another editor can neither stop what was approved nor turn it back into a
    draft (page and API alike); its author and approvers can."""
    web = dbweb
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-21T10:00")
    ap = web.staff(APPROVER)
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    other = web.staff(EDITOR2)
    assert other.post(f"/queue/{ann_id}/cancel", CONFIRM).status_code == 403
    assert other.api("POST", f"/api/announcements/{ann_id}/cancel").status_code == 403
    assert web.store.get_announcement(ann_id).status == "approved"
    assert ap.post(f"/queue/{ann_id}/cancel", CONFIRM).status_code == 303
    assert other.post(f"/queue/{ann_id}/restore").status_code == 403
    assert web.store.get_announcement(ann_id).status == "cancelled"
    assert web.staff(EDITOR).post(f"/queue/{ann_id}/restore").status_code == 303
    assert web.store.get_announcement(ann_id).status == "draft"
