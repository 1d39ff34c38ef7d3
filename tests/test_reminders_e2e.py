"""Reminders before key dates, end to end (issue #17's Done-when), on SQLite and PostgreSQL.

The bundled samples are collected by the real ``herald run --once`` with the clock set
before their dates, posted to the loopback Slack and the fake Teams webhook, and then the
clock moves on: each planned reminder goes once, at its time and not before, as a reply in
the original Slack post's thread and as a Teams card naming the original. Holding a story
cancels its reminders; changing its date moves them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import Herald
from bot.config import load_config
from tests.gate_rig import Rig

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "bot" / "data" / "sample"
#: Wednesday 26 August 2026, after the samples' posts and before their dates: the Mary
#: Seacole applications open on Thu 27 Aug, the vacancy closes on Mon 7 Sep, the
#: masterclass is on Thu 24 Sep.
BEFORE = datetime(2026, 8, 26, 10, 0, tzinfo=UTC)


def _rig(make_rig: Any) -> Rig:
    rig: Rig = make_rig(teams=True, backlog=True,
                        sources={"academy-news": str(SAMPLES / "academy-news.xml")},
                        routes=[{"to": ["slack", "teams"]}],
                        extra={"reminders": {"at": "09:00"}})
    rig.clock.set(BEFORE)
    return rig


def _story(rig: Rig, words: str) -> dict[str, Any]:
    return rig.story_titled(words)


def _herald(rig: Rig) -> Herald:
    env = {k: v for k, v in rig.env.items() if v is not None}
    herald = Herald(load_config(rig.config, environ=env), clock=rig.clock)
    herald.prepare()
    return herald


def _post_ts(rig: Rig, words: str) -> str:
    found = [m for m in rig.slack.posted() if words in (m.get("text") or "")]
    assert len(found) == 1, [m.get("text") for m in rig.slack.posted()]
    return str(found[0]["ts"])


def _reminder_cards(rig: Rig) -> list[str]:
    assert rig.teams is not None
    texts = []
    for card in rig.teams.cards:
        body = " ".join(str(b.get("text", "")) for b in card.get("body", [])
                        if isinstance(b, dict))
        if "Reminder" in body:
            texts.append(body)
    return texts


def test_reminders_go_once_in_the_thread_at_their_time(make_rig: Any) -> None:
    rig = _rig(make_rig)
    rig.run_once()
    seacole_ts = _post_ts(rig, "Mary Seacole")
    planned = rig.cli_json("reminders", "--all")
    whats = {(r["what"], r["day"]) for r in planned if r["status"] == "planned"}
    assert ("applications-open", "2026-08-27") in whats
    assert ("deadline", "2026-09-07") in whats or ("applications-close", "2026-09-07") in whats
    assert ("event", "2026-09-24") in whats

    rig.clock.set(datetime(2026, 8, 27, 8, 59, tzinfo=UTC))
    rig.run_once()
    assert rig.slack.replies(seacole_ts) == []  # not before its time
    assert _reminder_cards(rig) == []

    rig.clock.set(datetime(2026, 8, 27, 9, 0, tzinfo=UTC))
    rig.run_once()
    replies = rig.slack.replies(seacole_ts)
    assert len(replies) == 1, replies
    assert "open" in replies[0]["text"].lower()
    cards = _reminder_cards(rig)
    assert len(cards) == 1 and "Mary Seacole" in cards[0]

    rig.run_once()  # once: a second run sends nothing again
    assert len(rig.slack.replies(seacole_ts)) == 1
    assert len(_reminder_cards(rig)) == 1


def test_holding_cancels_and_a_changed_date_moves_reminders(make_rig: Any) -> None:
    rig = _rig(make_rig)
    rig.run_once()
    vacancy = _story(rig, "Programme Lead")
    masterclass = _story(rig, "masterclass")
    herald = _herald(rig)
    try:
        herald.store.set_hold(int(vacancy["id"]), True, herald.routing, rig.clock.now())
    finally:
        herald.close()
    rig.cli("stories", "edit", str(masterclass["id"]), "--date",
            "event:2026-09-25:09:30:the Brew House, Preston")
    rig.run_once()
    rows = rig.cli_json("reminders", "--all")
    vacancy_rows = [r for r in rows if r["story_id"] == vacancy["id"]]
    assert vacancy_rows and all(r["status"] == "cancelled" for r in vacancy_rows)
    event_rows = {(r["day"], r["status"]) for r in rows if r["story_id"] == masterclass["id"]}
    assert ("2026-09-24", "cancelled") in event_rows
    assert ("2026-09-25", "planned") in event_rows

    vacancy_ts = _post_ts(rig, "Programme Lead")
    master_ts = _post_ts(rig, "masterclass")
    rig.clock.set(datetime(2026, 8, 31, 9, 30, tzinfo=UTC))
    rig.run_once()
    assert rig.slack.replies(vacancy_ts) == []  # held: its 7-day reminder never went
    rig.clock.set(datetime(2026, 9, 24, 9, 30, tzinfo=UTC))
    rig.run_once()
    assert rig.slack.replies(master_ts) == []  # the old date: nothing
    rig.clock.set(datetime(2026, 9, 25, 9, 0, tzinfo=UTC))
    rig.run_once()
    assert len(rig.slack.replies(master_ts)) == 1


def _rows(rig: Rig, story: dict[str, Any]) -> dict[tuple[str, int], tuple[str, str]]:
    """(day, days before) -> (status, reason) of a story's Slack reminders."""
    return {(r["day"], r["days_before"]): (r["status"], r.get("reason") or "")
            for r in rig.cli_json("reminders", "--all")
            if r["story_id"] == story["id"] and r["target"] == "slack"}


def test_a_worker_that_was_down_sends_one_reminder_per_date(make_rig: Any) -> None:
    """Found from outside: after a week down, the 7-day and the 1-day reminders of one
    closing date went out together, with the same words."""
    rig = _rig(make_rig)
    rig.run_once()
    vacancy = _story(rig, "Programme Lead")
    rig.clock.set(datetime(2026, 9, 6, 10, 0, tzinfo=UTC))  # both were due
    rig.run_once()
    assert len(rig.slack.replies(_post_ts(rig, "Programme Lead"))) == 1
    rows = _rows(rig, vacancy)
    assert rows[("2026-09-07", 1)][0] == "sent"
    assert rows[("2026-09-07", 7)] == ("cancelled",
                                       "a later reminder of the same date went instead")


def test_an_edit_after_a_reminder_fell_due_does_not_cancel_it(make_rig: Any) -> None:
    """Found from outside: an edit (chat.update) moved the post's sent time past the
    reminder's, and Slack's reminder was cancelled as if the post had gone out late."""
    rig = _rig(make_rig)
    rig.run_once()
    seacole = _story(rig, "Mary Seacole")
    rig.clock.set(datetime(2026, 8, 27, 9, 0, 10, tzinfo=UTC))
    rig.cli("stories", "edit", str(seacole["id"]), "--title",
            "Fully-funded Mary Seacole Programme places for pharmacy teams")
    rig.run_once()
    replies = rig.slack.replies(_post_ts(rig, "pharmacy teams"))
    assert len(replies) == 1 and "open today" in replies[0]["text"]


def test_a_date_that_comes_by_a_merge_brings_no_overdue_reminder(make_rig: Any) -> None:
    rig = _rig(make_rig)
    rig.run_once()
    vacancy, master = _story(rig, "Programme Lead"), _story(rig, "masterclass")
    rig.clock.set(datetime(2026, 9, 2, 10, 0, tzinfo=UTC))  # the 7-day one was due 31 Aug
    rig.cli("stories", "merge", str(master["id"]), str(vacancy["id"]))
    rig.run_once()
    (out,) = [d for d in rig.outbox() if d["story_id"] == master["id"]
              and d["target"] == "slack"]
    master_ts = str(out["external_id"]).rpartition(":")[2]
    assert rig.slack.replies(master_ts) == []
    rows = _rows(rig, master)
    assert rows[("2026-09-07", 7)] == (
        "cancelled", "its time had passed when this date came to the story")
    assert rows[("2026-09-07", 1)][0] == "planned"
    rig.clock.set(datetime(2026, 9, 6, 9, 0, tzinfo=UTC))
    rig.run_once()
    assert len(rig.slack.replies(master_ts)) == 1


def test_an_event_is_reminded_before_it_starts_and_never_after(make_rig: Any) -> None:
    """The masterclass runs 09:30-13:00: its day-of reminder goes at 08:30, not at the
    configured 09:00; a worker that comes back after it started sends nothing."""
    rig = _rig(make_rig)
    rig.run_once()
    master = _story(rig, "masterclass")
    (due,) = [r["due_at"] for r in rig.cli_json("reminders", "--all")
              if r["story_id"] == master["id"] and r["target"] == "slack"]
    assert due.startswith("2026-09-24T08:30")
    rig.clock.set(datetime(2026, 9, 24, 9, 45, tzinfo=UTC))
    rig.run_once()
    assert rig.slack.replies(_post_ts(rig, "masterclass")) == []
    assert _rows(rig, master)[("2026-09-24", 0)] == (
        "cancelled", "the event had started before it could go")


def test_reminders_waiting_on_a_paused_target_are_told_and_exit_4(make_rig: Any) -> None:
    """Found from outside: with Slack paused, due reminders waited in silence (exit 0)."""
    rig = _rig(make_rig)
    rig.run_once()
    herald = _herald(rig)
    try:
        herald.store.pause_target("slack", "Slack said invalid_auth", rig.clock.now())
    finally:
        herald.close()
    rig.clock.set(datetime(2026, 8, 27, 9, 0, tzinfo=UTC))
    said = rig.run_once(code=4)
    assert "1 reminders sent, 1 waiting on a paused target" in said  # Teams went
    assert rig.slack.replies(_post_ts(rig, "Mary Seacole")) == []


def test_a_post_given_up_has_its_reminders_cancelled_with_why(make_rig: Any) -> None:
    """Found from outside: reminders of a Slack post that died stayed "planned", with no
    reason, until their date passed."""
    rig = _rig(make_rig)
    rig.slack.state.fail_next = [(500, {"ok": False, "error": "fatal_error"}, {})]
    rig.run_once(code=4)  # the first post fails; its reminders are planned meanwhile
    rig.clock.advance(hours=1)
    rig.slack.state.fail_next = [(200, {"ok": False, "error": "channel_not_found"}, {})]
    rig.run_once(code=4)  # and now it is given up
    (dead,) = [d for d in rig.outbox() if d["target"] == "slack" and d["status"] == "dead"]
    rows = [r for r in rig.cli_json("reminders", "--all")
            if r["story_id"] == dead["story_id"] and r["target"] == "slack"]
    assert rows  # the first post is the vacancy's, which closes on 7 September
    for r in rows:
        assert (r["status"], r["reason"]) == (
            "cancelled", "the post to slack was given up (see herald outbox)")
