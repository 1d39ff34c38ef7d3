"""The queue in the web app: compose, preview, submit, approve or send back, schedule,
edit, cancel, and what reaches the targets (the file target and the loopback Slack fake)
through ``herald.dispatch()``. The store-facing paths run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.errors import StoreError
from tests.fakes.slack_server import FakeSlack
from tests.web_helpers import ADMIN, APPROVER, APPROVER2, EDITOR, EDITOR2, Web, make_web


def slack_web(tmp_path: Path, clock: FixedClock, slack: FakeSlack, token: str = "xoxb-good",
              **kwargs: Any) -> Web:
    return make_web(tmp_path, clock, environ={"SLACK_BOT_TOKEN": token}, targets=[
        {"name": "files", "type": "file"},
        {"name": "news-slack", "type": "slack", "channel": "academy-news",
         "base_url": slack.base_url}], **kwargs)


def outbox_files(web: Web, target: str = "files") -> list[dict[str, Any]]:
    folder = web.herald.settings.outbox_dir / target
    if not folder.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("story-*.json"))]


CONFIRM = {"confirm": "yes"}  # what the cancel confirmation page posts


def submitted(web: Web, author: str = EDITOR, **fields: Any) -> int:
    who = web.staff(author)
    ann_id = web.compose(who, **fields)
    r = who.post(f"/queue/{ann_id}/submit")
    assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}?done=submitted"
    return ann_id


# -- approval ---------------------------------------------------------------------------------

def test_an_editor_cannot_approve(web: Web) -> None:
    ann_id = submitted(web, EDITOR)
    other_editor = web.staff(EDITOR2)
    page = other_editor.get(f"/queue/{ann_id}").text
    assert f'action="/queue/{ann_id}/approve"' not in page  # no button to press
    r = other_editor.post(f"/queue/{ann_id}/approve")
    assert r.status_code == 403 and "only an approver" in r.text
    r = other_editor.api("POST", f"/api/announcements/{ann_id}/approve")
    assert r.status_code == 403 and "only an approver" in r.json()["error"]
    r = other_editor.post(f"/queue/{ann_id}/return", {"comment": "no"})
    assert r.status_code == 403
    assert web.store.get_announcement(ann_id).status == "submitted"


@pytest.mark.parametrize("author", [APPROVER, ADMIN])
def test_nobody_approves_their_own_post_when_approval_is_on(web: Web, author: str) -> None:
    ann_id = submitted(web, author)
    me = web.staff(author)
    page = me.get(f"/queue/{ann_id}").text
    assert "You wrote this: another approver must approve it." in page
    assert f'action="/queue/{ann_id}/approve"' not in page
    r = me.post(f"/queue/{ann_id}/approve")
    assert r.status_code == 403 and "someone else must approve it" in r.text
    r = me.api("POST", f"/api/announcements/{ann_id}/approve")
    assert r.status_code == 403
    assert web.store.get_announcement(ann_id).status == "submitted"
    # Another approver can.
    other = web.staff(APPROVER2)
    assert f'action="/queue/{ann_id}/approve"' in other.get(f"/queue/{ann_id}").text
    r = other.post(f"/queue/{ann_id}/approve")
    assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}?done=approved"
    ann = web.store.get_announcement(ann_id)
    assert ann.status == "approved" and ann.approver == APPROVER2 and ann.state == "scheduled"


def test_approval_needs_a_submitted_announcement(web: Web) -> None:
    ed = web.staff(EDITOR)
    ann_id = web.compose(ed)
    r = web.staff(APPROVER).post(f"/queue/{ann_id}/approve")
    assert r.status_code == 409 and "only submitted can be approved" in r.text


def test_with_approval_off_an_editor_publishes(tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"approval": False})
    try:
        ed = web.staff(EDITOR)
        ann_id = web.compose(ed)
        page = ed.get(f"/queue/{ann_id}").text
        assert f'action="/queue/{ann_id}/approve"' in page and "Publish" in page
        assert f'action="/queue/{ann_id}/submit"' not in page
        r = ed.post(f"/queue/{ann_id}/submit")
        assert r.status_code == 409 and "approval is off" in r.text
        r = ed.post(f"/queue/{ann_id}/approve")
        assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}?done=published"
        ann = web.store.get_announcement(ann_id)
        assert ann.status == "approved" and ann.approver == EDITOR
        assert web.herald.dispatch().sent == 1
        assert [f["payload"]["title"] for f in outbox_files(web)] == ["Cohort 5 opens"]
    finally:
        web.close()


def test_an_approver_sends_back_with_a_comment_and_the_author_sees_it(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR)
    ap = web.staff(APPROVER)
    r = ap.post(f"/queue/{ann_id}/return", {"comment": ""})
    assert r.status_code == 409 and "the comment is empty" in r.text
    r = ap.post(f"/queue/{ann_id}/return",
                {"comment": "Say <b>when</b> applications close."})
    assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}?done=returned"
    author = web.staff(EDITOR)
    page = author.get(f"/queue/{ann_id}").text
    assert "Comment from the approver:" in page
    assert "Say &lt;b&gt;when&lt;/b&gt; applications close." in page
    assert "Sent back by" in page and APPROVER in page
    assert "returned" in author.get("/queue").text
    # The author fixes it and submits again; the approver approves; the comment is gone.
    r = author.post(f"/queue/{ann_id}/edit", {
        "title": "Cohort 5 opens: apply by 12 December", "kind": "cohort-opening",
        "targets": ["files"], "when": "now"})
    assert r.status_code == 303
    assert author.post(f"/queue/{ann_id}/submit").status_code == 303
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    ann = web.store.get_announcement(ann_id)
    assert ann.status == "approved" and ann.comment is None


# -- edit, cancel -----------------------------------------------------------------------------

def test_editing_an_approved_unsent_announcement_withdraws_it(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR)
    ap = web.staff(APPROVER)
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    ann = web.store.get_announcement(ann_id)
    story_id = ann.story_id
    assert story_id is not None and [d.target for d in ann.deliveries] == ["files"]

    ed = web.staff(EDITOR)
    assert f'href="/queue/{ann_id}/edit"' in ed.get(f"/queue/{ann_id}").text
    form = ed.get(f"/queue/{ann_id}/edit")
    assert form.status_code == 200 and 'value="Cohort 5 opens"' in form.text
    r = ed.post(f"/queue/{ann_id}/edit", {
        "title": "Cohort 5 opens on Monday", "kind": "cohort-opening",
        "domains": ["learning-capacity"], "targets": ["files"], "when": "now"})
    assert r.status_code == 303
    ann = web.store.get_announcement(ann_id)
    assert ann.status == "draft" and ann.story_id is None and ann.deliveries == ()
    assert ann.draft.title == "Cohort 5 opens on Monday"
    with pytest.raises(StoreError):
        web.store.get_story(story_id)
    assert web.store.deliveries_for([story_id]) == {}
    assert ed.get(f"/stories/{story_id}").status_code == 404
    # Nothing goes out until it is approved again.
    assert web.herald.dispatch().sent == 0
    assert outbox_files(web) == []
    assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    assert web.herald.dispatch().sent == 1
    assert [f["payload"]["title"] for f in outbox_files(web)] == ["Cohort 5 opens on Monday"]


def test_a_sent_announcement_can_no_longer_be_edited_or_cancelled(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR)
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    assert web.herald.dispatch().sent == 1
    ed = web.staff(EDITOR)
    page = ed.get(f"/queue/{ann_id}").text
    assert f'href="/queue/{ann_id}/edit"' not in page
    assert f'action="/queue/{ann_id}/cancel"' not in page
    r = ed.post(f"/queue/{ann_id}/edit", {"title": "changed", "kind": "news",
                                          "targets": ["files"], "when": "now"})
    assert r.status_code == 409 and "can no longer be edited" in r.text
    assert ed.post(f"/queue/{ann_id}/cancel", CONFIRM).status_code == 409
    assert web.store.get_announcement(ann_id).state == "sent"
    assert len(outbox_files(web)) == 1


def test_cancel_before_it_goes_out(dbweb: Web) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-21T10:00")
    ap = web.staff(APPROVER)
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
    story_id = web.store.get_announcement(ann_id).story_id
    r = web.staff(EDITOR).post(f"/queue/{ann_id}/cancel", CONFIRM)
    assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}?done=cancelled"
    ann = web.store.get_announcement(ann_id)
    assert ann.status == "cancelled" and ann.deliveries == ()
    assert web.store.deliveries_for([story_id]) == {}
    assert ap.post(f"/queue/{ann_id}/cancel", CONFIRM).status_code == 409  # already cancelled
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 409
    assert "cancelled" in ap.get("/queue").text
    web.clock.advance(days=2)
    assert web.herald.dispatch().sent == 0 and outbox_files(web) == []


def test_a_draft_can_be_cancelled_too(web: Web) -> None:
    ed = web.staff(EDITOR)
    ann_id = web.compose(ed)
    assert ed.post(f"/queue/{ann_id}/cancel", CONFIRM).status_code == 303
    assert web.store.get_announcement(ann_id).status == "cancelled"


# -- scheduling -------------------------------------------------------------------------------

@pytest.mark.parametrize(("local", "utc"), [
    ("2026-08-21T10:30", datetime(2026, 8, 21, 9, 30, tzinfo=UTC)),   # BST: UTC+1
    ("2026-12-01T10:30", datetime(2026, 12, 1, 10, 30, tzinfo=UTC)),  # GMT: UTC+0
])
def test_send_time_in_london_becomes_the_deliverys_due_time_in_utc(
        dbweb: Web, local: str, utc: datetime) -> None:
    web = dbweb
    ann_id = submitted(web, EDITOR, when="later", send_at=local)
    ann = web.store.get_announcement(ann_id)
    assert ann.send_at == utc
    ed = web.staff(EDITOR)
    # The edit form shows the time again as it was typed, in London time.
    assert f'value="{local}"' in ed.get(f"/queue/{ann_id}/edit").text
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    (delivery,) = web.store.get_announcement(ann_id).deliveries
    assert delivery.next_attempt_at == utc
    assert web.herald.dispatch().sent == 0  # not before its time
    web.clock.advance(seconds=(utc - web.clock.now()).total_seconds() - 1)
    assert web.herald.dispatch().sent == 0  # a second before
    assert outbox_files(web) == []
    web.clock.advance(seconds=1)
    assert web.clock.now() == utc
    assert web.herald.dispatch().sent == 1
    assert len(outbox_files(web)) == 1
    assert web.herald.dispatch().sent == 0


def test_a_later_send_needs_a_time(web: Web) -> None:
    ed = web.staff(EDITOR)
    r = ed.post("/queue/new", {"title": "t", "kind": "news", "targets": ["files"],
                               "when": "later", "send_at": ""})
    assert r.status_code == 422 and "choose a send time" in r.text


def test_the_api_takes_a_naive_send_time_as_london_time(web: Web) -> None:
    ed = web.staff(EDITOR)
    r = ed.api("POST", "/api/announcements", json={
        "title": "Webinar", "kind": "event", "targets": ["files"],
        "send_at": "2026-08-21T10:30:00"})
    assert r.status_code == 201, r.text
    assert r.json()["send_at"].startswith("2026-08-21T09:30:00")


# -- what reaches the targets -----------------------------------------------------------------

def test_an_approved_announcement_reaches_file_and_slack_exactly_once(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack) -> None:
    web = slack_web(tmp_path, clock, slack)
    try:
        ann_id = submitted(web, EDITOR, targets=["files", "news-slack"],
                           title="Cohort 5 opens <soon> @here")
        assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
        assert slack.posted() == [] and outbox_files(web) == []  # the web app never sends
        stats = web.herald.dispatch()
        assert stats.sent == 2 and not stats.errors
        files = outbox_files(web)
        assert [f["payload"]["title"] for f in files] == ["Cohort 5 opens <soon> @here"]
        (msg,) = slack.posted("C0NEWS")
        text = json.dumps(msg["blocks"])
        assert "Cohort 5 opens" in text and "<!here>" not in text
        # Again: nothing more goes anywhere.
        web.clock.advance(hours=1)
        assert web.herald.dispatch().sent == 0
        assert len(slack.posted()) == 1 and len(outbox_files(web)) == 1
        ann = web.store.get_announcement(ann_id)
        assert ann.state == "sent"
        assert {d.target: d.status.value for d in ann.deliveries} == {
            "files": "sent", "news-slack": "sent"}
        ed = web.staff(EDITOR)
        queue = ed.get("/queue").text
        assert "sent" in queue
        page = ed.get(f"/queue/{ann_id}").text
        assert "Where it went" in page and "news-slack" in page
    finally:
        web.close()


def test_a_failed_delivery_shows_its_reason_and_retry_sends_it(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack) -> None:
    web = slack_web(tmp_path, clock, slack)
    try:
        ann_id = submitted(web, EDITOR, targets=["files", "news-slack"])
        ap = web.staff(APPROVER)
        assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
        slack.fail_next.append((200, {"ok": False, "error": "channel_not_found"}, {}))
        stats = web.herald.dispatch()
        assert stats.sent == 1
        ann = web.store.get_announcement(ann_id)
        assert ann.state == "failed"
        failed = next(d for d in ann.deliveries if d.target == "news-slack")
        assert failed.status.value in ("failed", "dead")
        queue = ap.get("/queue").text
        assert "failed" in queue
        page = ap.get(f"/queue/{ann_id}").text
        assert "channel_not_found" in page
        assert f'action="/deliveries/{failed.id}/retry"' in page
        sent = next(d for d in ann.deliveries if d.target == "files")
        assert f'action="/deliveries/{sent.id}/retry"' not in page  # only failed ones
        # Retrying a sent delivery is refused.
        assert ap.post(f"/deliveries/{sent.id}/retry", {"back": "/queue"}).status_code == 409
        # The channel is fixed; retry, and it goes out once.
        r = ap.post(f"/deliveries/{failed.id}/retry", {"back": f"/queue/{ann_id}"})
        assert r.status_code == 303 and r.headers["location"] == f"/queue/{ann_id}?done=retry"
        assert web.herald.dispatch().sent == 1
        assert len(slack.posted()) == 1 and len(outbox_files(web)) == 1
        assert web.store.get_announcement(ann_id).state == "sent"
    finally:
        web.close()


def test_a_revoked_token_pauses_the_target_and_the_queue_says_so(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack) -> None:
    """Issue #14: a wrong token made each delivery dead on its first try. Now the target
    pauses, its posts wait (their try not counted), the queue page names the pause, and
    once the token is fixed and the target resumed the post goes out once."""
    web = slack_web(tmp_path, clock, slack, token="xoxb-revoked")
    try:
        ann_id = submitted(web, EDITOR, targets=["files", "news-slack"])
        ap = web.staff(APPROVER)
        assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
        stats = web.herald.dispatch()
        assert (stats.sent, stats.dead, stats.failed, stats.held) == (1, 0, 0, 1)
        assert list(stats.paused) == ["news-slack"]
        waiting = next(d for d in web.store.get_announcement(ann_id).deliveries
                       if d.target == "news-slack")
        assert waiting.status.value == "pending" and waiting.attempts == 0
        assert "paused" in (waiting.last_error or "") and "invalid_auth" in waiting.last_error
        queue = ap.get("/queue").text
        assert "Paused: <strong>news-slack</strong>" in queue and "invalid_auth" in queue
        assert "xoxb-revoked" not in queue
        assert web.store.get_announcement(ann_id).state != "failed"
        # Paused: the next dispatches do not call Slack at all.
        calls = len(slack.calls_to("chat.postMessage"))
        assert web.herald.dispatch().held == 1
        assert len(slack.calls_to("chat.postMessage")) == calls
        # The token is fixed and the target resumed: it goes out once.
        slack.valid_tokens.add("xoxb-revoked")
        assert web.store.resume_target("news-slack", clock.now()) == ["news-slack"]
        assert web.herald.dispatch().sent == 1
        assert len(slack.posted()) == 1
        assert web.store.get_announcement(ann_id).state == "sent"
        assert "Paused:" not in ap.get("/queue").text
    finally:
        web.close()


def test_retry_through_the_api(tmp_path: Path, clock: FixedClock, slack: FakeSlack) -> None:
    web = slack_web(tmp_path, clock, slack)
    try:
        ann_id = submitted(web, EDITOR, targets=["news-slack"])
        ap = web.staff(APPROVER)
        assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
        slack.fail_next.append((200, {"ok": False, "error": "channel_not_found"}, {}))
        web.herald.dispatch()
        (d,) = web.store.get_announcement(ann_id).deliveries
        assert d.last_error and "channel_not_found" in d.last_error
        got = ap.api("GET", f"/api/announcements/{ann_id}").json()
        assert got["state"] == "failed" and "channel_not_found" in \
            got["deliveries"][0]["last_error"]
        r = ap.api("POST", f"/api/deliveries/{d.id}/retry")
        assert r.status_code == 200 and r.json()["status"] == "pending"
        assert ap.api("POST", "/api/deliveries/999/retry").status_code == 404
    finally:
        web.close()


# -- compose and preview ----------------------------------------------------------------------

def test_compose_refuses_bad_input_with_a_clear_message(web: Web) -> None:
    ed = web.staff(EDITOR)
    base = {"title": "t", "kind": "news", "targets": ["files"], "when": "now"}
    for change, words in [({"kind": "no-such-kind"}, "kind 'no-such-kind' is not one of"),
                          ({"targets": ["nowhere"]}, "target 'nowhere' is not an enabled"),
                          ({"domains": ["nope"]}, "domain 'nope' is not one of"),
                          ({"url": "javascript:alert(1)"}, "http:// or https://"),
                          ({"image_url": "http://x.example/i.png"}, "https://"),
                          ({"title": ""}, "title")]:
        r = ed.post("/queue/new", {**base, **change})
        assert r.status_code == 422, change
        assert words in r.text.replace("&#39;", "'"), (change, words)
    assert web.store.list_announcements() == []


def test_preview_shows_each_target_and_the_digest(tmp_path: Path, clock: FixedClock,
                                                  slack: FakeSlack) -> None:
    web = make_web(tmp_path, clock, environ={
        "SLACK_BOT_TOKEN": "xoxb-good", "TEAMS_WEBHOOK_URL": "http://127.0.0.1:9/hook"},
        targets=[{"name": "files", "type": "file"},
                 {"name": "news-slack", "type": "slack", "channel": "academy-news",
                  "base_url": slack.base_url},
                 {"name": "staff-teams", "type": "teams"}])
    try:
        ed = web.staff(EDITOR)
        ann_id = web.compose(ed, targets=["files", "news-slack", "staff-teams"],
                             title="Cohort <b>5</b> opens",
                             body="Apply by **12 December 2026**.\n\n<script>alert(1)</script>",
                             image_url="https://academy.example.org/img.png")
        page = ed.get(f"/queue/{ann_id}").text
        assert 'class="slack"' in page and 'class="teams"' in page
        assert f'src="/queue/{ann_id}/digest"' in page
        assert "<script>" not in page and "<b>5</b>" not in page
        assert "Cohort &lt;b&gt;5&lt;/b&gt; opens" in page
        digest = ed.get(f"/queue/{ann_id}/digest")
        assert digest.status_code == 200 and "Cohort" in digest.text
        assert "<script>" not in digest.text
        assert "sandbox" in digest.headers["content-security-policy"]
        assert digest.headers["x-frame-options"] == "SAMEORIGIN"
        api = ed.api("GET", f"/api/announcements/{ann_id}/preview").json()
        assert [p["channel"] for p in api] == ["file", "slack", "teams"]
        assert all(p["payload"] and not p["error"] for p in api)
        assert slack.calls == []  # previews send nothing
    finally:
        web.close()


def test_queue_lists_group_announcements(web: Web) -> None:
    ed = web.staff(EDITOR)
    draft = web.compose(ed, title="A draft one")
    waiting = submitted(web, EDITOR, title="A waiting one")
    page = web.staff(APPROVER).get("/queue").text
    assert "A draft one" in page and "A waiting one" in page
    assert f'href="/queue/{draft}"' in page and f'href="/queue/{waiting}"' in page


def test_unknown_announcement_is_404_on_pages_and_api(web: Web) -> None:
    ed = web.staff(EDITOR)
    for path in ("/queue/999", "/queue/999/edit", "/queue/999/digest"):
        assert ed.get(path).status_code == 404, path
    r = ed.api("GET", "/api/announcements/999")
    assert r.status_code == 404 and r.json() == {"error": "no announcement with id 999"}
    assert ed.post("/queue/999/approve").status_code == 404
    assert ed.get("/queue/abc").status_code in (404, 422)


# -- the API, the same rules ------------------------------------------------------------------

def test_the_api_queue_flow(dbweb: Web) -> None:
    web = dbweb
    ed, ap = web.staff(EDITOR), web.staff(APPROVER)
    session = ed.api("GET", "/api/session").json()
    assert session == {"email": EDITOR, "role": "editor", "csrf_token": ed.csrf}
    r = ed.api("POST", "/api/announcements", json={
        "title": "Webinar on 3 September", "kind": "event", "domains": ["learning-capacity"],
        "targets": ["files"]})
    assert r.status_code == 201
    ann_id = r.json()["id"]
    assert r.json()["state"] == "draft" and r.json()["author"] == EDITOR
    assert ed.api("POST", f"/api/announcements/{ann_id}/submit").json()["state"] == "submitted"
    r = ap.api("POST", f"/api/announcements/{ann_id}/return", json={"comment": "add a link"})
    assert r.status_code == 200 and r.json()["comment"] == "add a link"
    assert ap.api("POST", f"/api/announcements/{ann_id}/return",
                  json={"comment": ""}).status_code == 422
    r = ed.api("PUT", f"/api/announcements/{ann_id}", json={
        "title": "Webinar on 3 September", "kind": "event", "targets": ["files"],
        "url": "https://academy.example.org/webinar"})
    assert r.status_code == 200 and r.json()["status"] == "returned"
    ed.api("POST", f"/api/announcements/{ann_id}/submit")
    r = ap.api("POST", f"/api/announcements/{ann_id}/approve")
    assert r.status_code == 200 and r.json()["state"] == "scheduled"
    assert r.json()["deliveries"][0]["target"] == "files"
    r = ap.api("POST", f"/api/announcements/{ann_id}/approve")
    assert r.status_code == 409 and "approved" in r.json()["error"]
    listed = ed.api("GET", "/api/announcements").json()
    assert [a["id"] for a in listed] == [ann_id]
    r = ed.api("POST", f"/api/announcements/{ann_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert web.herald.dispatch().sent == 0


def test_api_validation_errors_are_json(web: Web) -> None:
    ed = web.staff(EDITOR)
    for body in ({"title": "t"}, {"title": "t", "kind": "news", "targets": ["files"],
                                  "extra": 1},
                 {"title": "t", "kind": "nope", "targets": ["files"]}, [], "x"):
        r = ed.api("POST", "/api/announcements", json=body)
        assert r.status_code == 422, body
        assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_an_announced_event_keeps_its_time_and_place(tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"approval": False})
    try:
        ed = web.staff(EDITOR)
        ann_id = web.compose(ed, title="Coaching workshop in Preston",
                             body="Join us on Thursday 24 September, 9.30am to 1pm, at the "
                                  "Brew House, Preston.")
        assert ed.post(f"/queue/{ann_id}/approve").status_code == 303
        (story,) = web.store.list_stories()
        assert [(d.what, d.at_time, d.place) for d in story.dates] == [
            ("event", "09:30–13:00", "the Brew House, Preston")]
        assert web.herald.dispatch().sent == 1
        (sent,) = outbox_files(web)
        assert sent["payload"]["dates"] == [
            {"what": "event", "date": "2026-09-24", "at_time": "09:30–13:00",
             "place": "the Brew House, Preston", "passed": False}]
    finally:
        web.close()
