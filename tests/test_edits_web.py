"""The edit pages and API (issue #15): a story's title, summary, key dates and programmes
edited in the browser's form and through ``PATCH /api/stories/{id}``, with its history on
the story's page; a sent announcement corrected and its Slack post deleted through the
pages, with the post's permalink shown under "Where it went"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clock import FixedClock
from tests.fakes.slack_server import FakeSlack
from tests.fakes.teams_webhook import FakeTeamsWebhook
from tests.test_edits_sent import FIXED, ORIGINAL, everywhere_web, sent_announcement
from tests.test_web_stories import COACHING, MASTERCLASS, feed_web, story_id
from tests.web_helpers import APPROVER, APPROVER2, EDITOR, EDITOR2, Web


@pytest.fixture
def web(tmp_path: Path, clock: FixedClock) -> Iterator[Web]:
    w = feed_web(tmp_path, clock, COACHING, MASTERCLASS)
    yield w
    w.close()




def test_a_story_is_edited_in_the_form_and_its_history_shown(web: Web) -> None:
    sid = story_id(web, "Coaching")
    ed = web.staff(EDITOR)
    form = ed.get(f"/stories/{sid}/edit").text
    assert 'name="date-0-day"' in form and 'name="programmes"' in form
    programme = web.herald.routing.taxonomy.slugs("programme")[0]
    data = {"title": "Coaching <b>for</b> new directors", "summary": "Six sessions.",
            "date-0-what": "event", "date-0-day": "2026-09-24", "date-0-time": "09:30",
            "date-0-place": "Preston", "date-1-what": "deadline", "date-1-day": "",
            "programmes-shown": "1", "programmes": [programme]}
    r = ed.post(f"/stories/{sid}/edit", data)
    assert r.status_code == 303 and r.headers["location"] == f"/stories/{sid}?done=edited"
    story = web.store.get_story(sid)
    assert story.title == "Coaching <b>for</b> new directors"
    assert [(d.what, d.place) for d in story.dates] == [("event", "Preston")]
    page = ed.get(f"/stories/{sid}?done=edited").text
    assert "Coaching &lt;b&gt;for&lt;/b&gt; new directors" in page  # escaped
    assert "<b>for</b>" not in page
    assert "History" in page and EDITOR in page and "Six sessions." in page
    assert f'href="/stories/{sid}/edit"' in page
    # Remove the date again: the box is ticked.
    data.update({"date-0-remove": "1"})
    assert ed.post(f"/stories/{sid}/edit", data).status_code == 303
    assert web.store.get_story(sid).dates == ()
    # A bad date is refused, naming the row.
    bad = {**data, "date-0-remove": "", "date-0-day": "24/09/2026"}
    r = ed.post(f"/stories/{sid}/edit", bad)
    assert r.status_code == 422 and "key date 1" in r.text and "YYYY-MM-DD" in r.text


def test_the_api_edits_a_story_and_lists_its_history(web: Web) -> None:
    sid = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    r = ed.api("PATCH", f"/api/stories/{sid}", json={
        "title": "Quality improvement masterclass",
        "dates": [{"what": "event", "date": "2026-09-03", "at_time": "14:00"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "Quality improvement masterclass"
    assert [(d["what"], d["at_time"]) for d in body["dates"]] == [("event", "14:00")]
    history = ed.api("GET", f"/api/stories/{sid}/history").json()
    assert {h["field"] for h in history} == {"title", "dates"}
    assert all(h["by"] == EDITOR for h in history)
    r = ed.api("PATCH", f"/api/stories/{sid}", json={"programmes": ["no-such"]})
    assert r.status_code == 409 and "no-such" in r.json()["error"]
    r = ed.api("PATCH", f"/api/stories/{sid}", json={
        "dates": [{"what": "party", "date": "2026-09-03"}]})
    assert r.status_code == 422 and "dates[0]" in r.json()["error"]
    assert ed.api("GET", "/api/stories/999/history").status_code == 404


def test_a_sent_announcement_is_corrected_and_deleted_through_the_pages(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack, teams: FakeTeamsWebhook) -> None:
    web = everywhere_web(tmp_path, clock, slack, teams)
    try:
        ann_id = sent_announcement(web)
        (msg,) = slack.posted("C0NEWS")
        ed = web.staff(EDITOR)
        page = ed.get(f"/queue/{ann_id}").text
        link = f"https://fake-slack.example/archives/C0NEWS/p{msg['ts'].replace('.', '')}"
        assert f'href="{link}"' in page and f'href="/queue/{ann_id}/sent"' in page
        form = ed.get(f"/queue/{ann_id}/sent").text
        assert "Edit everywhere" in form and "Delete from news-slack" in form
        # Someone who is neither its author nor an approver may not.
        r = web.staff(EDITOR2).post(f"/queue/{ann_id}/sent", {"title": "x", "body": ""})
        assert r.status_code == 403
        r = ed.post(f"/queue/{ann_id}/sent", {"title": FIXED, "body": "Apply now.",
                                              "url": "https://academy.example.org/c5"})
        assert r.headers["location"] == f"/queue/{ann_id}/sent?done=correction-waits"
        waiting = ed.get(f"/queue/{ann_id}/sent").text
        assert "waiting for approval" in waiting and "Another approver must" in waiting
        edit_id = web.store.sent_edits(ann_id)[0].id
        ap = web.staff(APPROVER)
        assert f"/queue/{ann_id}/sent/{edit_id}/decide" in ap.get(f"/queue/{ann_id}/sent").text
        r = ap.post(f"/queue/{ann_id}/sent/{edit_id}/decide", {"decision": "apply"})
        assert r.headers["location"] == f"/queue/{ann_id}/sent?done=corrected"
        web.herald.dispatch()
        (update,) = slack.updates
        assert update["ts"] == msg["ts"] and FIXED in json.dumps(update["blocks"])
        assert len(teams.cards) == 2 and ORIGINAL in teams.cards[1]["body"][0]["text"]
        after = ap.get(f"/queue/{ann_id}/sent").text
        assert "approved by" in after and FIXED in after
        # Delete from Slack through the API's twin of the button.
        r = ap.api("POST", f"/api/announcements/{ann_id}/delete-post",
                   json={"target": "staff-teams"})
        assert r.status_code == 409  # a webhook cannot delete
        r = ap.post(f"/queue/{ann_id}/sent/delete", {"target": "news-slack"})
        assert r.headers["location"] == f"/queue/{ann_id}/sent?done=post-deleted"
        assert web.herald.dispatch().retracted == 1
        assert slack.posted("C0NEWS") == [] and len(slack.deleted) == 1
        assert "deleted" in ap.get(f"/queue/{ann_id}").text
        # The API corrects too; with four eyes it waits.
        r = web.staff(APPROVER2).api("POST", f"/api/announcements/{ann_id}/correction",
                                     json={"title": "Cohort 5: new dates", "body": ""})
        assert r.status_code == 200 and r.json()["status"] == "pending"
        waiting_id = r.json()["id"]
        decide = f"/api/announcements/{ann_id}/corrections/{waiting_id}/decide"
        r = web.staff(APPROVER2).api("POST", decide, json={"apply": True})
        assert r.status_code == 403 and "someone else" in r.json()["error"]
        r = ed.api("POST", decide, json={"apply": True})
        assert r.status_code == 403  # an editor does not approve
        r = ap.api("POST", decide, json={"apply": False})
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        assert web.store.get_announcement(ann_id).draft.title == FIXED
    finally:
        web.close()
