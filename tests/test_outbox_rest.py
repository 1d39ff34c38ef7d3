"""Sent deliveries at rest (issue #16): a sent delivery has no ``next_attempt_at`` until
something wakes it (its story's revision rises past the one it shows, or it is to be taken
back), so a claim reads the woken rows through the index on status and next_attempt_at, not
every message ever sent; and a woken row is found, edited and put to rest again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text, update

from bot.store import Store
from bot.store.schema import deliveries, stories
from tests.builders import item, routing

LEASE = timedelta(minutes=5)


def _row(store: Store) -> dict:  # type: ignore[type-arg]
    with store.engine.connect() as conn:
        return dict(conn.execute(select(deliveries)).one()._mapping)


def _send(store: Store, clock, updatable: list[str]) -> list:  # type: ignore[no-untyped-def,type-arg]
    claims = store.claim_deliveries("w1", clock.now(), LEASE, updatable=updatable)
    for claim in claims:
        story = store.get_story(claim.delivery.story_id)
        store.mark_sent(claim.delivery.id, external_id="m-1", revision=story.revision,
                        now=clock.now())
    return claims


def test_a_sent_row_rests_until_its_story_changes(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1)], routing(("rec",)), clock.now())
    (first,) = _send(store, clock, ["rec"])
    assert not first.update
    assert _row(store)["next_attempt_at"] is None  # at rest: the claim never reads it
    clock.advance(minutes=1)
    assert _send(store, clock, ["rec"]) == []

    clock.advance(minutes=1)
    store.ingest([item(1, title="Announcement 1, moved to the Harris")], routing(("rec",)),
                 clock.now())
    assert _row(store)["next_attempt_at"] is not None  # woken by the new revision
    (edit,) = _send(store, clock, ["rec"])
    assert edit.update
    row = _row(store)
    assert row["status"] == "sent" and row["next_attempt_at"] is None
    assert row["sent_revision"] == store.get_story(row["story_id"]).revision


def test_a_send_that_lands_behind_its_story_stays_awake(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    # The story changed while the first send was in flight: the row is sent showing the old
    # revision, and must be found for the edit although no later change wakes it.
    store.ingest([item(1)], routing(("rec",)), clock.now())
    (claim,) = store.claim_deliveries("w1", clock.now(), LEASE, updatable=["rec"])
    store.ingest([item(1, title="Announcement 1, moved to the Harris")], routing(("rec",)),
                 clock.now() + timedelta(seconds=1))
    store.mark_sent(claim.delivery.id, external_id="m-1", revision=1, now=clock.now())
    clock.advance(minutes=1)
    (edit,) = _send(store, clock, ["rec"])
    assert edit.update and _row(store)["next_attempt_at"] is None


def test_the_migration_wakes_rows_already_behind(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1)], routing(("rec",)), clock.now())
    _send(store, clock, ["rec"])
    with store.engine.begin() as conn:  # as 0015 left it: behind its story, no time set
        conn.execute(update(stories).values(revision=2))
        conn.execute(update(deliveries).values(next_attempt_at=None))
        conn.execute(text("UPDATE alembic_version SET version_num = '0015'"))
    store.upgrade()
    clock.advance(minutes=1)
    (edit,) = _send(store, clock, ["rec"])
    assert edit.update
