"""The release gate's two forms agree: :func:`bot.release.may_reach` (plain values, asked by
merges and the web app) and :func:`bot.release.released` (a SQL condition, asked by every
claim and by the digest).

Each combination of a story's hold, merge, approved target list and a delivery's release
time and retraction is written straight into the ``stories`` and ``deliveries`` tables,
then the SQL condition is asked which rows it lets through, on SQLite and PostgreSQL, and
its answer is compared with the Python function's, row by row.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.release import DeliveryGate, StoryGate, may_reach, released, story_targets, targets_json
from bot.store import Store
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import stories as t_stories

NOW = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
TARGET = "staff_slack"  # an underscore: LIKE would read it as a wildcard
HOLDS = (False, True)
MERGED = (False, True)
TARGET_LISTS: tuple[list[str] | None, ...] = (
    None, [], [TARGET], ["other"], ["staffxslack"], [TARGET, "other"])
RELEASES = (None, NOW - timedelta(hours=1), NOW, NOW + timedelta(hours=1))
RETRACTS = (False, True)


def test_may_reach_and_released_agree_on_every_combination(store: Store) -> None:
    expected: dict[int, bool] = {}
    with store.engine.begin() as conn:
        def story(**values: object) -> int:
            return int(conn.execute(t_stories.insert().values(
                title="A story", summary="", kind="news", first_seen=NOW, updated_at=NOW,
                revision=3, **values)).inserted_primary_key[0])

        survivor = story(hold=False)
        for hold, merged, targets, release_at, retract in itertools.product(
                HOLDS, MERGED, TARGET_LISTS, RELEASES, RETRACTS):
            story_id = story(hold=hold, merged_into=survivor if merged else None,
                             targets=targets_json(targets))
            delivery_id = int(conn.execute(t_deliveries.insert().values(
                story_id=story_id, target=TARGET, status="pending", attempts=0,
                release_at=release_at, retract=retract, created_at=NOW, updated_at=NOW,
            )).inserted_primary_key[0])
            verdict = may_reach(
                StoryGate(revision=3, hold=hold, merged_into=survivor if merged else None,
                          targets=story_targets(targets_json(targets))),
                DeliveryGate(TARGET, release_at, retract), NOW)
            expected[delivery_id] = verdict.allowed
            if verdict.allowed:
                assert verdict.revision == 3
    with store.engine.connect() as conn:
        let_through = set(conn.execute(select(t_deliveries.c.id).where(
            t_deliveries.c.id.in_(list(expected)), released(NOW))).scalars())
    disagree = sorted(d for d, allowed in expected.items() if allowed != (d in let_through))
    assert not disagree, f"may_reach and released differ on deliveries {disagree}"
    # Both forms say yes sometimes and no sometimes: the comparison is not vacuous.
    assert 0 < len(let_through) < len(expected)


def test_the_gate_says_no_without_a_delivery_and_why_it_refuses() -> None:
    story = StoryGate(revision=2, targets=("slack",))
    assert not may_reach(story, None, NOW)
    assert "not approved for teams" in may_reach(
        story, DeliveryGate("teams", None), NOW).why
    later = may_reach(story, DeliveryGate("slack", NOW + timedelta(days=3)), NOW)
    assert not later and "not before" in later.why
    assert may_reach(story, DeliveryGate("slack", NOW), NOW).revision == 2


def test_may_remind_and_reminder_released_agree(store: Store) -> None:
    """The reminders' gate: the story may reach the target, its post there went out, and
    its reminders are on; the SQL form over ``reminders`` rows says the same."""
    from datetime import date

    from bot.release import may_remind, original_out, reminder_released
    from bot.store.schema import reminders as t_reminders

    expected: dict[int, bool] = {}
    with store.engine.begin() as conn:
        for hold, targets, release_at, status, on in itertools.product(
                HOLDS, (None, [TARGET], ["other"]), (None, NOW + timedelta(hours=1)),
                ("pending", "sent", "failed", "retracted"), (True, False)):
            story_id = int(conn.execute(t_stories.insert().values(
                title="A story", summary="", kind="news", first_seen=NOW, updated_at=NOW,
                revision=1, hold=hold, targets=targets_json(targets), reminders=on,
            )).inserted_primary_key[0])
            conn.execute(t_deliveries.insert().values(
                story_id=story_id, target=TARGET, status=status, attempts=0,
                # "failed" and "retracted": a message that went out, then an edit failed
                # (still out: reminded) or it was taken back (not reminded).
                external_id=None if status == "pending" else "x",
                sent_at=None if status == "pending" else NOW, release_at=release_at,
                created_at=NOW, updated_at=NOW))
            reminder_id = int(conn.execute(t_reminders.insert().values(
                story_id=story_id, target=TARGET, what="event", day=date(2026, 9, 1),
                days_before=0, due_at=NOW, status="planned", attempts=0, created_at=NOW,
                updated_at=NOW)).inserted_primary_key[0])
            expected[reminder_id] = may_remind(
                StoryGate(revision=1, hold=hold, targets=story_targets(targets_json(targets))),
                DeliveryGate(TARGET, release_at), NOW,
                original_sent=original_out(status, None if status == "pending" else "x",
                                           None if status == "pending" else NOW),
                reminders_on=on).allowed
    with store.engine.connect() as conn:
        let_through = set(conn.execute(select(t_reminders.c.id).where(
            t_reminders.c.id.in_(list(expected)), reminder_released(NOW))).scalars())
    assert {r for r, ok in expected.items() if ok} == let_through
    assert 0 < len(let_through) < len(expected)
