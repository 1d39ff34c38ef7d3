"""Regression tests for what the outside attack on issue #12's release gate found at the
seams: undoing a merge with a split, a mailbox written in two cases, a send time already
past. Driven as in test_release_gate.py (tests/gate_rig.py), on SQLite and PostgreSQL.
A story released after a digest week began goes to the next digest: see
``test_an_announcement_approved_for_the_digest_is_in_it_only_once_due``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from tests.gate_rig import CAFE, START, Rig, approved, rss, send_at
from tests.web_helpers import APPROVER, EDITOR

MakeRig = Callable[..., Rig]

CAFE_URL = "https://academy.example.org/news/leadership-cafe"
COHORT = {"title": "Cohort four of the ward leaders programme opens",
          "body": "Applications for the fourth cohort open on Friday for ward leaders.",
          "url": "https://academy.example.org/news/ward-leaders-cohort-four",
          "kind": "cohort-opening", "domains": ["learning-capacity"]}


def test_splitting_a_feed_item_off_an_announcement_gives_back_its_posts_and_posts_nothing_twice(
        make_rig: MakeRig) -> None:
    rig = make_rig(teams=True, sources={"news": "news.xml"},
                   routes=[{"to": ["slack", "teams"]}])
    (rig.root / "news.xml").write_bytes(rss([CAFE]))
    rig.run_once()  # the café: one Slack message, one Teams card
    assert rig.teams is not None and len(rig.teams.received) == 1
    feed_story = rig.story_titled("leadership café")["id"]
    web = rig.web()
    due = START + timedelta(hours=2)
    announcement = approved(web, editor=EDITOR, approver=APPROVER, **COHORT,
                            targets=["slack"], when="later", send_at=send_at(due))
    rig.cli("stories", "merge", str(feed_story), str(announcement))
    # A wrong call: comms split the café back off.
    rig.cli("stories", "split", str(feed_story), CAFE_URL)
    rig.run_once()
    assert len(rig.teams.received) == 1  # the café's card is not posted again
    assert len(rig.slack.posted()) == 1  # nor its Slack message; the cohort waits
    assert COHORT["title"] not in json.dumps(rig.slack.posted(), ensure_ascii=False)

    rig.clock.advance(hours=2, minutes=1)
    rig.run_once()
    texts = [m["text"] for m in rig.slack.posted()]
    # The café keeps its message; the cohort gets its own, at its time, on Slack only.
    assert len(texts) == 2, texts
    assert sum(CAFE.title in t for t in texts) == 1
    assert sum(COHORT["title"] in t for t in texts) == 1
    assert len(rig.teams.received) == 1


def test_one_mailbox_written_in_any_case_is_one_subscriber(make_rig: MakeRig) -> None:
    rig = make_rig(digest=True)
    rig.cli("subscribers", "add", "staff@example.org")
    rig.cli("subscribers", "add", "STAFF@Example.org")
    subs = rig.cli_json("subscribers", "list")
    assert [s["email"] for s in subs] == ["staff@example.org"]
    rig.cli("subscribers", "remove", "Staff@EXAMPLE.org")
    assert [(s["email"], s["active"]) for s in rig.cli_json("subscribers", "list")] == [
        ("staff@example.org", False)]


def test_a_send_time_already_past_goes_now_and_not_into_a_digest_already_built(
        make_rig: MakeRig) -> None:
    rig = make_rig(digest=True)
    web = rig.web()
    ed, ap = web.staff(EDITOR), web.staff(APPROVER)
    ann_id = web.compose(ed, **COHORT, targets=["slack", "digest"], when="later",
                         send_at=send_at(START + timedelta(hours=1)))
    assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
    rig.clock.advance(hours=2)  # it waited for approval past its send time
    assert ap.post(f"/queue/{ann_id}/approve").status_code == 422  # refused: send now?
    assert ap.post(f"/queue/{ann_id}/approve", {"send_now": "1"}).status_code == 303
    now = rig.clock.now()
    (row,) = [d for d in rig.outbox() if d["target"] == "slack"]
    assert row["release_at"][:19] >= now.isoformat()[:19]
    rig.run_once()
    assert len(rig.slack.posted()) == 1


def test_an_announcement_for_the_digest_merged_into_a_story_already_in_one_reaches_the_next(
        make_rig: MakeRig) -> None:
    rig = make_rig(digest=True, sources={"news": "news.xml"})
    (rig.root / "news.xml").write_bytes(rss([CAFE]))
    rig.run_once()
    feed_story = rig.story_titled("leadership café")["id"]
    rig.cli("subscribers", "add", "reader@example.org")
    rig.cli("digest", "send", "--period", "current")  # the café is in this week's digest
    web = rig.web()
    announcement = approved(web, editor=EDITOR, approver=APPROVER, **COHORT,
                            targets=["slack", "digest"], when="later",
                            send_at=send_at(START + timedelta(hours=1)))
    rig.cli("stories", "merge", str(announcement), str(feed_story))
    rig.clock.advance(days=7)  # next week
    rig.cli("digest", "send", "--period", "current")
    assert rig.smtp is not None
    mails = rig.smtp.to("reader@example.org")
    assert len(mails) == 2
    plain = mails[1].parsed().get_body(("plain",))
    assert plain is not None
    assert COHORT["title"] in " ".join(plain.get_content().split())
