"""Regression tests for issue #12, defects 1 to 4: what comms approved goes where they
approved it, when they approved it, once; what they stopped goes nowhere.

Each test drives Herald as its users do (tests/gate_rig.py): comms write, submit, approve
and stop things in the real web app; the operator runs the real ``herald`` command line
(``run --once``, ``digest send``, ``stories merge``, ``feeds add``); Slack is the loopback
fake spoken to by slack-sdk, Teams the fake webhook, the digest goes to aiosmtpd. Each
runs on SQLite and on PostgreSQL. Defects 5 to 7 are in test_release_gate_delivery.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from tests.fakes.teams_webhook import server_error as teams_server_error
from tests.gate_rig import (
    CAFE,
    COACHING,
    START,
    Entry,
    Rig,
    approved,
    rss,
    send_at,
)
from tests.web_helpers import APPROVER, EDITOR

MakeRig = Callable[..., Rig]
READER = "reader@example.org"
LATE_READER = "late.reader@example.org"

EMBARGOED = {"title": "Embargoed: the new board development programme",
             "body": "A programme for new board members, launching next month.",
             "url": "https://academy.example.org/news/board-programme",
             "kind": "cohort-opening", "domains": ["learning-capacity"]}


def write_feed(rig: Rig, name: str, *entries: Entry) -> None:
    (rig.root / name).write_bytes(rss(entries))


def digest_text(message: EmailMessage) -> str:
    plain = message.get_body(("plain",))
    assert plain is not None
    return " ".join(plain.get_content().split())


def the_digest_of(rig: Rig, address: str) -> str:
    assert rig.smtp is not None
    (mail,) = rig.smtp.to(address)
    return digest_text(mail.parsed())


# ------------------------------------------------------------------- 1. the digest


def test_an_announcement_approved_for_slack_only_is_not_in_the_digest(
        make_rig: MakeRig) -> None:
    rig = make_rig(digest=True, sources={"news": "news.xml"})
    write_feed(rig, "news.xml", COACHING)
    rig.run_once()
    web = rig.web()
    approved(web, editor=EDITOR, approver=APPROVER, **EMBARGOED, targets=["slack"],
             when="later", send_at=send_at(START + timedelta(days=3)))
    rig.cli("subscribers", "add", READER)

    out = rig.cli("digest", "send", "--period", "current")
    assert "1 sent" in out, out
    text = the_digest_of(rig, READER)
    assert COACHING.title in text  # the digest works: the collected story is in it
    assert EMBARGOED["title"] not in text  # never approved for email, and not due


def test_a_story_stopped_from_being_posted_is_not_in_the_digest(make_rig: MakeRig) -> None:
    rig = make_rig(digest=True, sources={"news": "news.xml"})
    write_feed(rig, "news.xml", COACHING, CAFE)
    rig.run_once()
    stopped = rig.story_titled("leadership café")
    web = rig.web()
    r = web.staff(APPROVER).post(f"/stories/{stopped['id']}/hold", {"hold": "1"})
    assert r.status_code == 303, r.text
    rig.cli("subscribers", "add", READER)

    rig.cli("digest", "send", "--period", "current")
    text = the_digest_of(rig, READER)
    assert COACHING.title in text
    assert CAFE.title not in text


def test_an_announcement_approved_for_the_digest_is_in_it_only_once_due(
        make_rig: MakeRig) -> None:
    rig = make_rig(digest=True, sources={"news": "news.xml"})
    write_feed(rig, "news.xml", COACHING)
    rig.run_once()
    web = rig.web()
    due = START + timedelta(days=2)  # Thursday: the same digest week
    approved(web, editor=EDITOR, approver=APPROVER, **EMBARGOED, targets=["digest"],
             when="later", send_at=send_at(due))
    rig.cli("subscribers", "add", READER)
    rig.cli("digest", "send", "--period", "current")
    early = the_digest_of(rig, READER)
    assert COACHING.title in early and EMBARGOED["title"] not in early

    rig.clock.advance(days=2, hours=1)
    # Due now, but this week's digest went out before it was: its readers get it in the
    # next digest (a later send of this week would carry it to no one who had the week).
    rig.cli("subscribers", "add", LATE_READER)
    rig.cli("digest", "send", "--period", "current")
    assert f"* {EMBARGOED['title']}" not in the_digest_of(rig, LATE_READER)
    rig.clock.advance(days=5)  # the next week
    rig.cli("digest", "send", "--period", "current")
    assert rig.smtp is not None
    week_two = [digest_text(m.parsed()) for m in rig.smtp.to(READER)][1]
    assert f"* {EMBARGOED['title']}" in week_two
    assert f"* {COACHING.title}" not in week_two  # once, not every week
    assert rig.slack.posted()[0]["text"].startswith(COACHING.title)
    assert len(rig.slack.posted()) == 1  # approved for the digest only: not for Slack


# ------------------------------------------------------------------- 2. merges


def test_merging_an_embargoed_announcement_into_a_posted_story_waits_for_its_send_time(
        make_rig: MakeRig) -> None:
    rig = make_rig(teams=True, sources={"news": "news.xml"},
                   routes=[{"to": ["slack"]}, {"kinds": ["cohort-opening"], "to": ["teams"]}])
    write_feed(rig, "news.xml", CAFE)
    rig.run_once()
    (posted,) = rig.slack.posted()
    before = posted["text"]
    feed_story = rig.story_titled("leadership café")["id"]
    web = rig.web()
    due = START + timedelta(days=3)
    announcement = approved(web, editor=EDITOR, approver=APPROVER, **EMBARGOED,
                            targets=["slack"], when="later", send_at=send_at(due))

    report = rig.cli("stories", "merge", str(feed_story), str(announcement))
    rig.run_once()
    rig.clock.advance(days=2, hours=23)
    rig.run_once()
    # Nothing of the embargoed text went out before its time: no edit, no new post.
    assert rig.slack.updates == []
    assert [m["text"] for m in rig.slack.posted()] == [before]

    rig.clock.advance(hours=1, minutes=1)
    rig.run_once()
    # At its time, Slack (its approved target) shows the announcement, on the one post.
    (edited,) = rig.slack.posted()
    assert len(rig.slack.updates) == 1 and edited["ts"] == posted["ts"]
    assert EMBARGOED["title"] in json.dumps(edited["blocks"], ensure_ascii=False)
    assert rig.teams is not None and rig.teams.received == []  # never widened
    # The merge said what it did and when the kept story may change.
    assert f"merged into story {feed_story}" in report
    assert f"before {due:%Y-%m-%d %H:%M}" in report, report


def test_a_merge_never_sends_an_announcement_where_comms_did_not_approve_it(
        make_rig: MakeRig) -> None:
    rig = make_rig(teams=True, sources={"news": "news.xml"},
                   routes=[{"to": ["slack", "teams"]}])
    write_feed(rig, "news.xml", CAFE)
    assert rig.teams is not None
    rig.teams.fail_next.append(teams_server_error(500))
    # The café story: posted to Slack; its Teams card failed (exit 4) and waits for a retry.
    rig.run_once(code=4)
    feed_story = rig.story_titled("leadership café")["id"]
    web = rig.web()
    announcement = approved(web, editor=EDITOR, approver=APPROVER, **EMBARGOED,
                            targets=["slack"], when="now")

    report = rig.cli("stories", "merge", str(feed_story), str(announcement))
    for _ in range(3):
        rig.clock.advance(hours=1)
        rig.run_once()
    # The announcement was approved for Slack only: its text never reaches Teams, not even
    # through the Teams card the feed story was still waiting to send.
    assert rig.teams.received == []
    assert "teams" in report, report


# ------------------------------------------------------------------- 3. the X echo


def test_the_academys_own_post_linking_to_an_approved_announcement_joins_its_story(
        make_rig: MakeRig) -> None:
    rig = make_rig(sources={"academy-x": "posts.json"})
    feed = rig.root / "posts.json"
    jsonfeed: dict[str, Any] = {"version": "https://jsonfeed.org/version/1.1",
                                "title": "The academy on X", "items": []}
    feed.write_text(json.dumps(jsonfeed), encoding="utf-8")
    rig.run_once()
    url = "https://academy.example.org/news/seacole-cohort-12"
    web = rig.web()
    approved(web, editor=EDITOR, approver=APPROVER, targets=["slack"], when="now",
             title="Applications open for cohort 12 of the Mary Seacole Programme",
             body="Fully funded places for nurses and allied health professionals moving "
                  "into their first leadership role. Applications close on 30 September.",
             url=url, kind="cohort-opening", domains=["learning-capacity"])
    rig.run_once()
    assert len(rig.slack.posted()) == 1

    rig.clock.advance(hours=1)
    jsonfeed["items"] = [{
        "id": "https://x.com/academy/status/1830000000000000012",
        "url": "https://x.com/academy/status/1830000000000000012",
        "content_text": "Cohort 12 of the #SeacoleProg is open! Fully funded places for "
                        "nurses and AHPs stepping into leadership. Apply by 30 September "
                        f"{url}",
        "date_published": (rig.clock.now() - timedelta(minutes=20)).isoformat()}]
    feed.write_text(json.dumps(jsonfeed), encoding="utf-8")
    rig.run_once()
    rig.clock.advance(hours=1)
    rig.run_once()

    stories = rig.stories()
    assert len(stories) == 1, [s["title"] for s in stories]
    assert {i["source"] for i in stories[0]["items"]} == {"comms", "academy-x"}
    assert len(rig.slack.posted()) == 1


# ------------------------------------------------------------------- 4. a new feed's backlog

OLD = Entry("spring-summit", "Spring summit for system leaders",
            "Our spring summit brought together leaders from across the region.",
            START - timedelta(days=40))
RECENT = Entry("winter-webinars", "Winter webinar series on compassionate leadership",
               "Four lunchtime webinars on leading with compassion.",
               START - timedelta(hours=6))


def posted_titles(rig: Rig) -> list[str]:
    return sorted(m["blocks"][0]["text"]["text"] for m in rig.slack.posted())


def test_a_new_feeds_first_poll_announces_recent_entries_and_only_stores_old_ones(
        make_rig: MakeRig) -> None:
    rig = make_rig()
    write_feed(rig, "fresh.xml", OLD, RECENT)
    rig.cli("feeds", "add", str(rig.root / "fresh.xml"), "--name", "fresh")
    rig.run_once()
    assert posted_titles(rig) == [RECENT.title]
    # The old entry is stored (and tagged), visible to comms, just not announced.
    assert {s["title"] for s in rig.stories()} == {OLD.title, RECENT.title}
    rig.clock.advance(hours=1)
    rig.run_once()
    assert posted_titles(rig) == [RECENT.title]


def test_feeds_add_announce_backlog_announces_the_old_entries_too(make_rig: MakeRig) -> None:
    rig = make_rig()
    write_feed(rig, "fresh.xml", OLD, RECENT)
    rig.cli("feeds", "add", str(rig.root / "fresh.xml"), "--name", "fresh",
            "--announce-backlog")
    rig.run_once()
    assert posted_titles(rig) == sorted([OLD.title, RECENT.title])


def test_the_add_feed_forms_checkbox_announces_the_old_entries_too(
        make_rig: MakeRig, feed_server: Any) -> None:
    rig = make_rig()
    ticked = feed_server.add("/ticked.xml", rss([OLD]))
    unticked = feed_server.add("/unticked.xml", rss([Entry(
        "autumn-awards", "Autumn awards for team leaders", "The winners of our awards.",
        START - timedelta(days=30))]))
    web = rig.web()
    ap = web.staff(APPROVER)
    checked = ap.post("/feeds/check", {"url": ticked, "name": "ticked", "every": "15m"})
    assert checked.status_code == 200, checked.text
    assert 'name="announce_backlog"' in checked.text  # the form offers the choice
    assert ap.post("/feeds", {"url": ticked, "name": "ticked", "every": "15m",
                              "announce_backlog": "1"}).status_code == 303
    assert ap.post("/feeds", {"url": unticked, "name": "unticked",
                              "every": "15m"}).status_code == 303
    rig.run_once()
    assert posted_titles(rig) == [OLD.title]
    assert "Autumn awards for team leaders" in {s["title"] for s in rig.stories()}

