"""Notifications through the outbox (``bot.notify``): submitted → the approvers; sent back,
approved, sent, failed → the author; each once, never to whoever acted on their own
announcement, never to someone who turned them off. Email through the ``outmail`` table
(sent by the worker's outmail job to files here) and Slack through the loopback fake
(a comms channel, and direct messages found by ``users.lookupByEmail``). Rows are written
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.errors import ConfigError
from bot.notify import after_dispatch, announce
from bot.outmail import parse_mail, send_outmail
from tests.fakes.slack_server import FakeSlack, running_fake_slack
from tests.test_web_queue import submitted
from tests.web_helpers import ADMIN, APPROVER, APPROVER2, EDITOR, EDITOR2, Web, make_web


def inbox(web: Web, who: str) -> list[Any]:
    """The notification emails queued for ``who``: (subject, body)."""
    found = []
    for row in web.store.list_outmail(who):
        msg = parse_mail(row.message)
        found.append((str(msg["Subject"]), msg.get_content()))
    return found


def subjects(web: Web, who: str) -> list[str]:
    return [s for s, _ in inbox(web, who)]


@pytest.fixture
def notify_web(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[Web]:
    w = make_web(tmp_path, clock, db_url=db_url)
    yield w
    w.close()


def test_a_submission_tells_the_approvers_and_not_its_author(notify_web: Web) -> None:
    web = notify_web
    ann_id = submitted(web, EDITOR)
    for approver in (APPROVER, APPROVER2, ADMIN):
        assert subjects(web, approver) == ["Waiting for your approval: Cohort 5 opens"]
    assert subjects(web, EDITOR) == [] and subjects(web, EDITOR2) == []
    (_s, body), = inbox(web, APPROVER)
    assert f"{EDITOR} submitted “Cohort 5 opens” for approval" in body
    assert f"http://localhost:8000/queue/{ann_id}" in body
    assert "turn notifications off" in body
    # Once: announcing the same submission again writes nothing.
    ann = web.store.get_announcement(ann_id)
    assert announce(web.herald, ann, "submitted", ann.author_id) == 0
    assert len(web.store.list_outmail(APPROVER)) == 1
    # An approver who submits their own is not told of it; the other approvers are.
    own = submitted(web, APPROVER)
    assert subjects(web, APPROVER) == ["Waiting for your approval: Cohort 5 opens"]
    assert len(subjects(web, APPROVER2)) == 2
    assert {n.recipient for n in web.store.list_notices(own)} == {APPROVER2, ADMIN}


def test_the_author_hears_of_a_send_back_with_its_comment(notify_web: Web) -> None:
    web = notify_web
    ann_id = submitted(web, EDITOR)
    ap = web.staff(APPROVER)
    assert ap.post(f"/queue/{ann_id}/return",
                   {"comment": "Say when applications close."}).status_code == 303
    (subject, body), = inbox(web, EDITOR)
    assert subject == "Sent back: Cohort 5 opens"
    assert f"{APPROVER} sent “Cohort 5 opens” back:\n\nSay when applications close." in body
    assert subjects(web, APPROVER) == ["Waiting for your approval: Cohort 5 opens"]
    # Submitted again, sent back again: a new occasion, a new notification.
    ed = web.staff(EDITOR)
    web.clock.advance(minutes=5)
    assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
    web.clock.advance(minutes=5)
    assert ap.post(f"/queue/{ann_id}/return", {"comment": "And the venue."}
                   ).status_code == 303
    assert subjects(web, EDITOR) == ["Sent back: Cohort 5 opens"] * 2
    assert len(subjects(web, APPROVER2)) == 2


def test_approved_then_sent_each_once_to_the_author(notify_web: Web) -> None:
    web = notify_web
    ann_id = submitted(web, EDITOR, when="later", send_at="2026-08-21T10:00")
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    assert subjects(web, EDITOR) == ["Approved: Cohort 5 opens"]
    (_s, body), = inbox(web, EDITOR)
    assert "It goes to files: in 1 day, Fri 21 Aug 10:00 BST." in body
    assert web.herald.dispatch().sent == 0  # not yet due: nothing sent, nothing said
    assert subjects(web, EDITOR) == ["Approved: Cohort 5 opens"]
    web.clock.advance(days=1)
    assert web.herald.dispatch().sent == 1
    assert subjects(web, EDITOR) == ["Approved: Cohort 5 opens", "Sent: Cohort 5 opens"]
    web.herald.dispatch()
    assert after_dispatch(web.herald) == 0  # a second worker run, or a retry: nothing new
    assert len(subjects(web, EDITOR)) == 2
    assert subjects(web, APPROVER) == ["Waiting for your approval: Cohort 5 opens"]
    # The worker's outmail job sends them (here to files).
    stats = send_outmail(web.herald)
    assert stats.sent == 5  # three approvers told of the submission, the author twice
    folder = web.herald.settings.outbox_dir / "digest"
    sent = [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))]
    assert sorted(str(m["Subject"]) for m in sent if m["To"] == EDITOR) == [
        "Approved: Cohort 5 opens", "Sent: Cohort 5 opens"]


def test_who_publishes_their_own_is_not_told_they_approved_it(tmp_path: Path,
                                                               clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"approval": False})
    try:
        ed = web.staff(EDITOR)
        ann_id = web.compose(ed)
        assert ed.post(f"/queue/{ann_id}/approve").status_code == 303
        assert subjects(web, EDITOR) == []
        assert web.herald.dispatch().sent == 1
        assert subjects(web, EDITOR) == ["Sent: Cohort 5 opens"]  # the worker sent it
    finally:
        web.close()


def test_opting_out_is_respected_and_not_made_up_for_later(notify_web: Web) -> None:
    web = notify_web
    ed = web.staff(EDITOR)
    page = ed.get("/account/notifications").text
    assert 'id="notify-on" name="notify" value="on" checked' in page
    r = ed.post("/account/notifications", {"notify": "off"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=notify-saved")
    page = ed.get(r.headers["location"]).text
    assert "Your notification settings are saved." in page
    assert 'id="notify-off" name="notify" value="off" checked' in page
    ann_id = submitted(web, EDITOR)
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    assert web.herald.dispatch().sent == 1
    assert subjects(web, EDITOR) == []
    assert {(n.event, n.email) for n in web.store.list_notices(ann_id)
            if n.recipient == EDITOR} == {("approved", "off"), ("sent", "off")}
    # Turned on again: later events come, the ones it missed do not.
    assert ed.post("/account/notifications", {"notify": "on"}).status_code == 303
    web.herald.dispatch()
    assert subjects(web, EDITOR) == []
    # Approvers turn them off too.
    assert web.staff(APPROVER2).post("/account/notifications",
                                     {"notify": "off"}).status_code == 303
    submitted(web, EDITOR)
    assert len(subjects(web, APPROVER)) == 2 and len(subjects(web, APPROVER2)) == 1


def test_the_per_address_bound_holds_for_notifications(tmp_path: Path,
                                                       clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, notify={"mails_per_address": 1})
    try:
        ann_id = submitted(web, EDITOR)
        ap = web.staff(APPROVER)
        assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
        web.herald.dispatch()
        assert subjects(web, EDITOR) == ["Approved: Cohort 5 opens"]
        (sent,) = [n for n in web.store.list_notices(ann_id) if n.event == "sent"]
        assert sent.email == "bounded"
    finally:
        web.close()


def test_notifications_do_not_use_up_a_password_resets_share(notify_web: Web) -> None:
    """Four notification emails in a day (more than ``[web] mails_per_address``, 3) and
    "Forgot your password?" still sends its link: the two are bounded apart."""
    from tests.test_web_accounts import _forgot

    web = notify_web
    ap = web.staff(APPROVER)
    for _ in range(2):
        web.clock.advance(minutes=1)
        ann_id = submitted(web, EDITOR)
        assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
        web.herald.dispatch()
        after_dispatch(web.herald)
    assert len(subjects(web, EDITOR)) == 4  # approved and sent, twice
    assert _forgot(web, EDITOR).status_code == 200
    kinds = [m.kind for m in web.store.list_outmail(EDITOR)]
    assert kinds.count("reset") == 1, kinds


# -- Slack -------------------------------------------------------------------------------------

@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        fake.state.channels["comms"] = "C0COMMS"
        fake.state.users.update({EDITOR: "U0ED", APPROVER: "U0AP"})
        yield fake


def slack_notify_web(tmp_path: Path, clock: FixedClock, slack: FakeSlack,
                     db_url: str | None = None, **notify: Any) -> Web:
    return make_web(tmp_path, clock, db_url=db_url, environ={"SLACK_BOT_TOKEN": "xoxb-good"},
                    targets=[{"name": "files", "type": "file"},
                             {"name": "news-slack", "type": "slack",
                              "channel": "academy-news", "base_url": slack.base_url}],
                    notify={"slack_target": "news-slack", **notify})


def test_slack_direct_messages_and_the_comms_channel(tmp_path: Path, clock: FixedClock,
                                                     slack: FakeSlack, db_url: str) -> None:
    web = slack_notify_web(tmp_path, clock, slack, db_url, channel="comms", dm=True)
    try:
        title = "Cohort <!channel> *5* opens <https://evil.example|click>"
        ann_id = submitted(web, EDITOR, title=title, targets=["files", "news-slack"])
        assert web.herald.dispatch().sent == 0  # nothing due; the notifications go
        dms = slack.posted("U0AP")
        assert len(dms) == 1 and slack.posted("U0ED") == []
        text = dms[0]["text"]
        assert "<!channel>" not in text and "<https://evil" not in text
        assert f"<http://localhost:8000/queue/{ann_id}|Open it in Herald>" in text
        assert sorted(c["email"] for c in slack.calls_to("users.lookupByEmail")) == sorted(
            [ADMIN, APPROVER, APPROVER2])  # each approver, looked up by email
        # Approvers with no Slack account: their DM gives up, the email still went.
        by_recipient = {n.recipient: n for n in web.store.list_notices(ann_id)}
        assert by_recipient[APPROVER2].slack == "dead"
        assert by_recipient[APPROVER2].slack_error == "users_not_found"
        assert by_recipient[APPROVER2].email == "queued"
        (channel_post,) = slack.posted("C0COMMS")
        assert f"{EDITOR} submitted" in channel_post["text"]
        # Approved, then sent: the author's DMs, each once.
        assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
        assert web.herald.dispatch().sent == 2
        web.herald.dispatch()
        assert [m["text"].split(" “")[0] for m in slack.posted("U0ED")] == [
            f"{APPROVER} approved", "Sent:"]
        assert len(slack.posted("C0COMMS")) == 3
        assert len(slack.calls_to("chat.postMessage")) == 1 + 1 + 3 + 1 + 1  # + the post
    finally:
        web.close()


def test_a_failed_send_tells_the_author(tmp_path: Path, clock: FixedClock,
                                        slack: FakeSlack) -> None:
    slack.state.channels.pop("academy-news")  # the target's channel is gone: no retry helps
    web = slack_notify_web(tmp_path, clock, slack, dm=True)
    try:
        ann_id = submitted(web, EDITOR, targets=["news-slack"])
        assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
        stats = web.herald.dispatch()
        assert stats.dead == 1
        assert subjects(web, EDITOR) == ["Approved: Cohort 5 opens",
                                         "Could not send: Cohort 5 opens"]
        (_s, body), = [m for m in inbox(web, EDITOR) if m[0].startswith("Could not")]
        assert "could not be sent: news-slack: Slack refused it (channel_not_found" in body
        assert "Error" not in body  # no exception class names in what people read
        dm = slack.posted("U0ED")[-1]["text"]
        assert dm.startswith("Could not send") and "Slack refused it" in dm
        assert "Error" not in dm
        queue_page = web.staff(EDITOR).get("/queue").text
        assert "Slack refused it (channel_not_found" in queue_page
        assert "PermanentSendError" not in queue_page
        web.herald.dispatch()
        assert len(subjects(web, EDITOR)) == 2
    finally:
        web.close()


def test_send_errors_in_plain_words() -> None:
    from bot.send_words import send_words

    assert send_words("PermanentSendError: Slack said channel_not_found") == \
        "Slack refused it (channel_not_found)"
    assert send_words("TransientSendError: Teams webhook: ConnectError: [Errno 111] "
                      "Connection refused") == \
        "Teams webhook: the server refused the connection"
    assert send_words("TransientSendError: Teams webhook timed out (ReadTimeout)") == \
        "Teams webhook did not answer in time"
    assert send_words(None) == "it gave up"


def test_notify_config_names_a_slack_target(tmp_path: Path, clock: FixedClock) -> None:
    with pytest.raises(ConfigError, match="not a configured Slack target"):
        make_web(tmp_path, clock, notify={"slack_target": "nowhere", "dm": True})
    with pytest.raises(ConfigError, match="set channel, or dm = true"):
        make_web(tmp_path, clock, targets=[{"name": "files", "type": "file"},
                                           {"name": "s", "type": "slack", "channel": "x"}],
                 notify={"slack_target": "s"})


def test_the_sweep_looks_back_a_month_and_records_nothing_twice(notify_web: Web) -> None:
    """The worker's sweep looks back 30 days; what it recorded stays recorded."""
    web = notify_web
    ann_id = submitted(web, EDITOR)
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    web.herald.dispatch()
    web.clock.advance(days=40)
    assert after_dispatch(web.herald) == 0
    assert [n.event for n in web.store.list_notices(ann_id) if n.recipient == EDITOR] == [
        "approved", "sent"]


def test_a_hostile_title_stays_in_its_subject_line(notify_web: Web) -> None:
    web = notify_web
    ed = web.staff(EDITOR)
    r = ed.api("POST", "/api/announcements", json={
        "title": "Cohort\r\nBcc: evil@example.org\u2028X-Evil: 1", "kind": "news",
        "targets": ["files"]})
    assert r.status_code == 201, r.text
    assert ed.api("POST", f"/api/announcements/{r.json()['id']}/submit").status_code == 200
    (row,) = web.store.list_outmail(APPROVER)
    msg = parse_mail(row.message)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert str(msg["Subject"]).startswith("Waiting for your approval: Cohort")
    assert "\n" not in str(msg["Subject"])
