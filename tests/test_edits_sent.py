"""Edit everywhere and delete from Slack (issue #15): a sent announcement corrected by its
author waits for an approver (four eyes), then Slack edits its message in place
(``chat.update`` on the loopback fake), Teams gets one correction card naming the original,
the files target its payload again; deleting from Slack goes through the outbox
(``chat.delete``); each change is in the story's history, and Slack's permalink is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.errors import StoreError
from bot.queue import Draft
from bot.store._queue import NotAllowed
from tests.fakes.slack_server import FakeSlack
from tests.fakes.teams_webhook import FakeTeamsWebhook
from tests.web_helpers import APPROVER, EDITOR, EDITOR2, Web, make_web

ORIGINAL = "Cohort 5 opens"
FIXED = "Cohort 5 opens on 12 January"




def everywhere_web(tmp_path: Path, clock: FixedClock, slack: FakeSlack,
                   teams: FakeTeamsWebhook, db_url: str | None = None, **kwargs: Any) -> Web:
    return make_web(tmp_path, clock, db_url=db_url,
                    environ={"SLACK_BOT_TOKEN": "xoxb-good", "TEAMS_WEBHOOK_URL": teams.url},
                    targets=[{"name": "files", "type": "file"},
                             {"name": "news-slack", "type": "slack", "channel": "academy-news",
                              "base_url": slack.base_url},
                             {"name": "staff-teams", "type": "teams"}], **kwargs)


def sent_announcement(web: Web) -> int:
    ed = web.staff(EDITOR)
    ann_id = web.compose(ed, title=ORIGINAL, targets=["files", "news-slack", "staff-teams"])
    assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
    assert web.staff(APPROVER).post(f"/queue/{ann_id}/approve").status_code == 303
    stats = web.herald.dispatch()
    assert stats.sent == 3 and not stats.errors
    return ann_id


def corrected(web: Web, ann_id: int, **changes: Any) -> Draft:
    draft = web.store.get_announcement(ann_id).draft
    return Draft.model_validate({**draft.model_dump(), **changes})


def test_edit_everywhere_after_approval_and_delete_from_slack(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack, teams: FakeTeamsWebhook,
        db_url: str) -> None:
    web = everywhere_web(tmp_path, clock, slack, teams, db_url=db_url)
    try:
        ann_id = sent_announcement(web)
        ann = web.store.get_announcement(ann_id)
        story_id = ann.story_id
        assert story_id is not None
        (msg,) = slack.posted("C0NEWS")
        assert len(teams.cards) == 1
        # The live post's address was kept when it was sent (chat.getPermalink).
        slack_row = next(d for d in ann.deliveries if d.target == "news-slack")
        assert slack_row.permalink == (f"https://fake-slack.example/archives/C0NEWS/"
                                       f"p{msg['ts'].replace('.', '')}")
        author = web.store.get_user(EDITOR)
        draft = corrected(web, ann_id, title=FIXED, body="Apply by **12 January 2027**.")
        # Someone else's editor may not; the author may, and it waits for an approver.
        with pytest.raises(NotAllowed):
            web.store.edit_sent_announcement(ann_id, draft, web.store.get_user(EDITOR2),
                                             four_eyes=True, ctx=web.herald.routing,
                                             now=clock.now())
        edit = web.store.edit_sent_announcement(ann_id, draft, author, four_eyes=True,
                                                ctx=web.herald.routing, now=clock.now())
        assert edit.status == "pending"
        assert web.herald.dispatch().updated == 0 and slack.updates == []
        assert web.store.get_story(story_id).title == ORIGINAL  # nothing went out yet
        with pytest.raises(NotAllowed):  # not by its own writer
            web.store.decide_sent_edit(edit.id, author, apply=True, ctx=web.herald.routing,
                                       now=clock.now())
        clock.advance(minutes=5)
        done = web.store.decide_sent_edit(edit.id, web.store.get_user(APPROVER), apply=True,
                                          ctx=web.herald.routing, now=clock.now())
        assert done.status == "applied" and done.decided_by == APPROVER
        stats = web.herald.dispatch()
        assert not stats.errors
        # Slack: the same message edited in place.
        (update,) = slack.updates
        assert update["ts"] == msg["ts"] and FIXED in json.dumps(update["blocks"])
        assert len(slack.calls_to("chat.postMessage")) == 1
        # Teams: one correction card that names the original.
        assert len(teams.cards) == 2
        first_block = teams.cards[1]["body"][0]["text"]
        assert first_block.startswith("Correction to") and ORIGINAL in first_block
        assert FIXED in json.dumps(teams.cards[1])
        # Files: the payload again, marked as a correction.
        files = sorted((web.herald.settings.outbox_dir / "files").glob("story-*.json"))
        payload = json.loads(files[-1].read_text())["payload"]
        assert payload["title"] == FIXED and ORIGINAL in payload["correction_of"]
        # Once: another run sends nothing more.
        clock.advance(hours=1)
        again = web.herald.dispatch()
        assert (again.sent, again.updated) == (0, 0)
        assert len(teams.cards) == 2 and len(slack.updates) == 1
        # The history says who changed what, and who approved it.
        history = web.store.story_history(story_id)
        assert {h.field for h in history} == {"title", "text"}
        title_row = next(h for h in history if h.field == "title")
        assert (title_row.before, title_row.after) == (ORIGINAL, FIXED)
        assert title_row.by == f"{EDITOR}, approved by {APPROVER}"
        assert title_row.announcement_id == ann_id
        # Delete from Slack: through the outbox, on record.
        web.store.take_back_post(story_id, "news-slack", APPROVER, clock.now(), ann_id)
        with pytest.raises(StoreError, match="already being deleted"):
            web.store.take_back_post(story_id, "news-slack", APPROVER, clock.now(), ann_id)
        stats = web.herald.dispatch()
        assert stats.retracted == 1
        (gone,) = slack.deleted
        assert gone["ts"] == msg["ts"] and slack.posted("C0NEWS") == []
        ann = web.store.get_announcement(ann_id)
        assert {d.target: d.status.value for d in ann.deliveries} == {
            "files": "sent", "news-slack": "retracted", "staff-teams": "sent"}
        assert ann.state == "sent"
        deleted = web.store.story_history(story_id)[0]
        assert (deleted.field, deleted.after, deleted.by) == (
            "post in news-slack", "deleted", APPROVER)
    finally:
        web.close()


def test_without_four_eyes_an_edit_after_send_goes_out_at_once(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack, teams: FakeTeamsWebhook) -> None:
    web = everywhere_web(tmp_path, clock, slack, teams)
    try:
        ann_id = sent_announcement(web)
        edit = web.store.edit_sent_announcement(
            ann_id, corrected(web, ann_id, title=FIXED), web.store.get_user(EDITOR),
            four_eyes=False, ctx=web.herald.routing, now=clock.now())
        assert edit.status == "applied"
        web.herald.dispatch()
        assert len(slack.updates) == 1 and len(teams.cards) == 2
        with pytest.raises(StoreError, match="nothing changed"):
            web.store.edit_sent_announcement(
                ann_id, corrected(web, ann_id), web.store.get_user(EDITOR), four_eyes=False,
                ctx=web.herald.routing, now=clock.now())
    finally:
        web.close()


def test_the_next_digest_carries_the_corrected_text(make_rig: Any) -> None:
    """An announcement for Slack and the digest: Slack had it, the week's digest has not
    gone yet; corrected now, Slack is edited and the digest goes out with the new title."""
    from tests.gate_rig import approved
    from tests.test_release_gate import the_digest_of

    rig = make_rig(digest=True)
    web = rig.web()
    story_id = approved(web, editor=EDITOR, approver=APPROVER, title=ORIGINAL,
                        targets=["slack", "digest"])
    rig.run_once()
    assert len(rig.slack.posted()) == 1
    ann_id = next(a.id for a in web.store.list_announcements() if a.story_id == story_id)
    web.store.edit_sent_announcement(ann_id, corrected(web, ann_id, title=FIXED),
                                     web.store.get_user(EDITOR), four_eyes=False,
                                     ctx=web.herald.routing, now=rig.clock.now())
    rig.run_once()
    assert [FIXED in json.dumps(u["blocks"]) for u in rig.slack.updates] == [True]
    rig.cli("subscribers", "add", "reader@example.org")
    rig.cli("digest", "send", "--period", "current")
    text = the_digest_of(rig, "reader@example.org")
    assert FIXED in text and f"{ORIGINAL} " not in text.replace(FIXED, "")


def test_a_correction_keeps_the_markdown_drawn_for_each_place(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack, teams: FakeTeamsWebhook) -> None:
    """The corrected body is Markdown as the first one was: Slack's edited message has
    ``*bold*`` and ``<url|text>``, not the flattened text (the item's Markdown is
    rewritten with its text)."""
    web = everywhere_web(tmp_path, clock, slack, teams)
    try:
        ann_id = sent_announcement(web)
        body = "**Apply** by *Friday*: [the form](https://academy.example.org/apply)"
        web.store.edit_sent_announcement(
            ann_id, corrected(web, ann_id, body=body), web.store.get_user(EDITOR),
            four_eyes=False, ctx=web.herald.routing, now=clock.now())
        web.herald.dispatch()
        assert len(slack.updates) == 1
        sent = json.dumps(slack.updates[0])
        assert "*Apply*" in sent and "<https://academy.example.org/apply|the form>" in sent
        assert "**Apply**" not in sent
    finally:
        web.close()
