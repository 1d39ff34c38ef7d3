"""Regression tests for issue #12, defects 5 to 7: each story reaches each place once, at
its latest revision, and nothing is lost on the way.

As in test_release_gate.py, Herald is driven from outside (tests/gate_rig.py): the real
``herald`` command line for ``run --once``, ``stories merge`` and ``outbox``; slack-sdk
against the loopback fake Slack (which can post and then drop the answer, or answer 429);
the fake Teams webhook; on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.fakes._loopback import DROP_AFTER_PROCESSING
from tests.fakes.slack_server import ratelimited
from tests.fakes.teams_webhook import throttled
from tests.gate_rig import (
    CAFE,
    COACHING,
    START,
    Entry,
    Rig,
    rss,
)

MakeRig = Callable[..., Rig]

MENTORS = Entry("reverse-mentoring", "Reverse mentoring pairs for executive directors",
                "Executive directors paired with early-career colleagues for six months of "
                "reverse mentoring.", START - timedelta(hours=4))


def write_feed(rig: Rig, *entries: Entry) -> None:
    (rig.root / "news.xml").write_bytes(rss(entries))


def header(message: dict[str, Any]) -> str:
    return str(message["blocks"][0]["text"]["text"])


def shown_revision(message: dict[str, Any]) -> int:
    return int(message["metadata"]["event_payload"]["revision"])


# ------------------------------------------------------ 5. merging two posted stories


def test_merging_two_posted_stories_deletes_the_merged_away_slack_message_and_says_why_the_teams_card_stays(  # noqa: E501
        make_rig: MakeRig) -> None:
    rig = make_rig(teams=True, sources={"news": "news.xml"}, routes=[{"to": ["slack", "teams"]}])
    write_feed(rig, COACHING, CAFE)
    rig.run_once()
    assert rig.teams is not None and len(rig.teams.received) == 2
    keep, other = (rig.story_titled(words)["id"] for words in ("Coaching circles",
                                                                "leadership café"))
    (merged_away,) = [m for m in rig.slack.posted() if header(m) == CAFE.title]
    (kept,) = [m for m in rig.slack.posted() if header(m) == COACHING.title]

    rig.cli("stories", "merge", str(keep), str(other))
    rig.clock.advance(minutes=1)
    rig.run_once()

    # Slack can take a message back: the merged-away story's is deleted, the kept one stays.
    assert [m["ts"] for m in rig.slack.deleted] == [merged_away["ts"]]
    assert [m["ts"] for m in rig.slack.posted()] == [kept["ts"]]
    # Teams cannot: its card stays, and the outbox says so and why.
    (card,) = [d for d in rig.outbox() if d["story_id"] == other and d["target"] == "teams"]
    assert card["status"] == "left", card
    assert card["last_error"] and "teams" in card["last_error"], card
    table = rig.cli("outbox")
    assert "left" in table and card["last_error"] in table, table
    assert len(rig.teams.received) == 2  # nothing posted again


# ------------------------------------------------------ 6. a lost answer, then a change


def test_a_slack_post_whose_answer_was_lost_is_edited_to_the_latest_revision(
        make_rig: MakeRig) -> None:
    rig = make_rig(sources={"news": "news.xml"})
    write_feed(rig, CAFE)
    rig.slack.fail_next.append(DROP_AFTER_PROCESSING)  # posted, but the answer is lost
    rig.run_once(code=4)  # the delivery failed, as far as Herald can tell
    (first,) = rig.slack.posted()
    assert header(first) == CAFE.title
    (row,) = rig.outbox()
    assert row["status"] != "sent"  # Herald cannot know it got through

    # The story changes before the retry: the feed corrects its entry.
    moved = replace(CAFE, title="The leadership café returns to Preston, at the Harris",
                    text="An informal morning at the Harris for anyone who leads a team to "
                         "swap stories over coffee and cake.")
    write_feed(rig, moved)
    for _ in range(4):
        rig.clock.advance(hours=1)
        rig.run_once()

    story = rig.story_titled("at the Harris")
    (message,) = rig.slack.posted()  # adopted, never posted twice
    assert message["ts"] == first["ts"]
    assert header(message) == moved.title
    assert shown_revision(message) == story["revision"]
    (row,) = rig.outbox()
    assert row["status"] == "sent"


# ------------------------------------------------------ 7. a storm of 429s


@pytest.mark.parametrize("target", ["slack", "teams"])
def test_a_storm_of_rate_limits_never_makes_a_delivery_dead(make_rig: MakeRig,
                                                            target: str) -> None:
    rig = make_rig(teams=True, sources={"news": "news.xml"}, routes=[{"to": [target]}],
                   worker={"max_attempts": 2})
    write_feed(rig, COACHING, CAFE, MENTORS)
    assert rig.teams is not None
    storm = [ratelimited(30) for _ in range(5)] if target == "slack" else \
        [throttled(30) for _ in range(5)]
    (rig.slack if target == "slack" else rig.teams).fail_next.extend(storm)

    for _ in range(12):
        rig.run_once()
        rows = rig.outbox()
        assert "dead" not in {r["status"] for r in rows}, rows
        if all(r["status"] == "sent" for r in rows):
            break
        rig.clock.advance(seconds=31)
    assert [r["status"] for r in rows] == ["sent"] * 3, rows

    if target == "slack":
        titles = sorted(header(m) for m in rig.slack.posted())
    else:
        titles = sorted(card["body"][0]["text"] for card in rig.teams.cards)
    assert titles == sorted([COACHING.title, CAFE.title, MENTORS.title])
