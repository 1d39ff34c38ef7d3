"""The store on SQLite and PostgreSQL: migrations, exact dedupe, the outbox, sources."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from bot.config import SourceConfig
from bot.errors import ConfigError, SchemaOutOfDate, StoreError
from bot.model import DeliveryStatus, KeyDate, Link
from bot.sources.fetch import Validators
from bot.store import Store
from bot.store.migrate import HEAD, REVISIONS, SchemaState, head_revision, script_revisions
from bot.store.schema import deliveries, items, metadata, stories
from tests.builders import item, routing


def count(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# -- migrations -------------------------------------------------------------------------

def test_migrations_build_exactly_the_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert store.schema_state() is SchemaState.CURRENT


def test_empty_database_is_migrated_and_older_one_refused(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        assert s.schema_state() is SchemaState.EMPTY
        s.ensure_schema()
        assert s.schema_state() is SchemaState.CURRENT
        # Pretend the database was made by an older Herald (a revision before ours).
        with s.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ancient'"))
        assert s.schema_state() is SchemaState.NEWER  # unknown revision: a newer Herald
        with pytest.raises(SchemaOutOfDate, match="newer Herald"):
            s.ensure_schema()
    finally:
        s.close()
    assert head_revision() == "0016"


def test_every_migration_step_keeps_the_rows_it_does_not_own(db_url: str) -> None:
    """Down one revision and up again, for each of the last ten, keeps every row of every
    table. 0015 first added stories.reminders in SQLite's batch mode, which copies the
    table and drops the old one, and the drop cascaded to every item and delivery."""
    from sqlalchemy import inspect

    from bot.store.migrate import downgrade, upgrade

    s = Store.open(db_url)
    try:
        upgrade(s.engine)
        now = item(1).published_at
        s.ingest([item(1), item(2, title="A second story about something else entirely")],
                 routing(("files",)), now)
        s.add_user("someone@example.org", "admin", "x" * 20, now)

        def counts() -> dict[str, int]:
            names = [t for t in inspect(s.engine).get_table_names() if t != "alembic_version"]
            with s.engine.connect() as conn:
                return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                        for t in names}

        before = counts()
        assert before["deliveries"] == 2 and before["items"] == 2
        for rev in reversed(REVISIONS[-11:-1]):
            downgrade(s.engine, rev)
            upgrade(s.engine)
            assert counts() == before, f"down to {rev} and up again"
    finally:
        s.close()


def test_revisions_constant_is_alembics_history() -> None:
    # The startup check compares the database with REVISIONS instead of importing Alembic.
    assert script_revisions() == REVISIONS
    assert head_revision() == HEAD


def test_several_version_rows_are_refused(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0004')"))
    with pytest.raises(StoreError, match="several heads"):
        store.schema_state()


def test_older_schema_is_refused_with_the_command_to_run(db_url: str) -> None:
    from bot.store.migrate import upgrade

    s = Store.open(db_url)
    try:
        upgrade(s.engine, "0001")
        assert s.schema_state() is SchemaState.OLDER
        with pytest.raises(SchemaOutOfDate, match="herald db upgrade"):
            s.ensure_schema()
        s.upgrade()
        assert s.schema_state() is SchemaState.CURRENT
    finally:
        s.close()


def test_schema_older_than_head_asks_for_db_upgrade(db_url: str) -> None:
    s = Store.open(db_url)
    try:
        s.upgrade()
        with s.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        assert s.schema_state() is SchemaState.FOREIGN
        with pytest.raises(StoreError, match="no migration record"):
            s.ensure_schema()
    finally:
        s.close()


def test_utc_round_trip(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1)], ctx, clock.now())
    (story,) = store.list_stories()
    assert story.first_seen == clock.now()
    assert story.first_seen.utcoffset() == timedelta(0)
    assert story.items[0].published_at.tzinfo is not None


# -- ingest and exact dedupe ----------------------------------------------------------------

def test_new_items_make_stories_and_deliveries_in_one_go(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    stats = store.ingest([item(1), item(2)], routing(("files", "console")), clock.now())
    assert stats.new_items == 2 and len(stats.new_stories) == 2
    assert stats.deliveries == 4
    assert count(store, deliveries) == 4


def test_same_entry_again_changes_nothing(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1)], ctx, clock.now())
    clock.advance(minutes=15)
    stats = store.ingest([item(1)], ctx, clock.now())
    assert (stats.new_items, stats.updated_items, stats.unchanged_items) == (0, 0, 1)
    assert stats.new_stories == [] and stats.updated_stories == []
    (story,) = store.list_stories()
    assert story.updated_at < clock.now()  # no write happened
    assert count(store, deliveries) == 1


def test_edited_entry_updates_story_without_new_delivery(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1)], ctx, clock.now())
    clock.advance(hours=1)
    edited = item(1, title="Announcement number 1, now with a corrected title")
    stats = store.ingest([edited], ctx, clock.now())
    assert stats.updated_items == 1 and stats.new_stories == []
    (story,) = store.list_stories()
    assert story.title == "Announcement number 1, now with a corrected title"
    assert story.revision == 2
    assert count(store, stories) == 1 and count(store, deliveries) == 1


def test_same_canonical_url_from_another_source_joins_the_story(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, url="https://academy.example.org/news/seacole")], ctx, clock.now())
    other = item(7, source="posts", title="Short post", text="A short post about places.",
                 url="HTTPS://Academy.Example.org:443/news/seacole?utm_source=x&fbclid=1#top")
    stats = store.ingest([other], ctx, clock.now())
    assert stats.new_stories == [] and stats.new_items == 1
    (story,) = store.list_stories()
    assert {i.source for i in story.items} == {"news", "posts"}
    assert count(store, deliveries) == 1


def test_external_url_of_a_post_joins_the_article_story(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, url="https://academy.example.org/news/cop")], ctx, clock.now())
    post = item(2, source="posts", url="https://x.com/academy/status/1",
                title="CoP story so far", text="The story so far https://t.co/abc",
                links=(Link("https://academy.example.org/news/cop?utm_medium=social",
                            rel="about"),))
    store.ingest([post], ctx, clock.now())
    assert count(store, stories) == 1 and count(store, items) == 2


def test_same_title_and_text_elsewhere_joins_by_fingerprint(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, url=None)], ctx, clock.now())
    copy = item(1, source="mirror", url=None, source_item_id="elsewhere-9")
    store.ingest([copy], ctx, clock.now())
    assert count(store, stories) == 1 and count(store, items) == 2


def test_query_parameters_that_name_pages_are_kept_apart(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, url="https://academy.example.org/?p=123"),
                  item(2, url="https://academy.example.org/?p=124")], ctx, clock.now())
    assert count(store, stories) == 2


def test_duplicates_inside_one_batch_make_one_story(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    a = item(1, url="https://academy.example.org/news/a")
    b = item(2, source="posts", url="https://academy.example.org/news/a#comments")
    store.ingest([a, b], ctx, clock.now())
    assert count(store, stories) == 1 and count(store, deliveries) == 1


def test_tags_and_dates_are_stored_with_reasons(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    seacole = item(1, title="Fully-funded Mary Seacole Programme places",
                   text="Applications for the next nine cohorts of our #SeacoleProg will open "
                        "on 27 August. Places are fully funded for community pharmacists.")
    store.ingest([seacole], routing(), clock.now())
    (story,) = store.list_stories()
    assert story.kind == "cohort-opening"
    assert "mary-seacole-programme" in story.programmes
    assert "learning-capacity" in story.domains
    assert all(t.reason for t in story.tags)
    assert [(d.what, d.date.isoformat()) for d in story.dates] == [
        ("applications-open", "2026-08-27")]


def test_routes_filter_by_domain_kind_and_source(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing(("coaching", "events", "news-only"), routes=[
        {"kinds": ["coaching-offer"], "to": ["coaching"]},
        {"kinds": ["event"], "to": ["events"]},
        {"sources": ["elsewhere"], "to": ["news-only"]},
    ])
    coaching = item(1, title="Executive coaching support for senior leaders",
                    text="Access our executive coaching support now: one-to-one coaching.")
    store.ingest([coaching], ctx, clock.now())
    with store.engine.connect() as conn:
        targets = [r.target for r in conn.execute(select(deliveries))]
    assert targets == ["coaching"]


def test_list_stories_filters_by_tag_and_since(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, title="Executive coaching support", text="Coaching for leaders "
                       "facing change in their role.")], ctx, clock.now())
    clock.advance(days=10)
    store.ingest([item(2)], ctx, clock.now())
    assert len(store.list_stories()) == 2
    assert len(store.list_stories(since=clock.now() - timedelta(days=1))) == 1
    assert [s.title for s in store.list_stories(tag="coaching-offer")] == [
        "Executive coaching support"]


# -- outbox ---------------------------------------------------------------------------------

def test_claim_send_and_unique_delivery(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1)], routing(), clock.now())
    claims = store.claim_deliveries("w1", clock.now(), timedelta(minutes=5))
    assert len(claims) == 1 and not claims[0].reclaimed
    d = claims[0].delivery
    assert d.status is DeliveryStatus.IN_FLIGHT and d.attempts == 1
    # A second worker finds nothing to claim while the lease holds.
    assert store.claim_deliveries("w2", clock.now(), timedelta(minutes=5)) == []
    store.mark_sent(d.id, external_id="x-1", revision=1, now=clock.now())
    (sent,) = store.list_deliveries("sent")
    assert sent.external_id == "x-1" and sent.sent_at == clock.now()
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(deliveries.insert().values(
            story_id=d.story_id, target="files", status="pending", attempts=0,
            created_at=clock.now(), updated_at=clock.now()))


def test_expired_lease_is_reclaimed(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1)], routing(), clock.now())
    (claim,) = store.claim_deliveries("dead-worker", clock.now(), timedelta(minutes=5))
    clock.advance(minutes=4)
    assert store.claim_deliveries("w2", clock.now(), timedelta(minutes=5)) == []
    clock.advance(minutes=2)
    (again,) = store.claim_deliveries("w2", clock.now(), timedelta(minutes=5))
    assert again.reclaimed and again.delivery.id == claim.delivery.id
    assert again.delivery.attempts == 2


def test_merged_or_held_story_is_never_handed_out(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1), item(2)], ctx, clock.now())
    a, b = sorted(s.id for s in store.list_stories())
    # A send of b is in flight when comms merges b into a: the merge waits for it (it
    # cannot know yet whether b's message is out); the send fails, and the merge goes.
    claims = store.claim_deliveries("w", clock.now(), timedelta(minutes=5))
    (cb,) = [c for c in claims if c.delivery.story_id == b]
    with pytest.raises(StoreError, match="being sent right now"):
        store.merge_stories(a, b, ctx, clock.now())
    store.mark_failed(cb.delivery.id, owner="w", error="TransientSendError: 503",
                      retry_at=clock.now(), now=clock.now())
    for c in claims:
        if c.delivery.story_id == a:
            store.release("w", [c.delivery.id], now=clock.now())
    store.merge_stories(a, b, ctx, clock.now())
    clock.advance(hours=1)
    again = store.claim_deliveries("w2", clock.now(), timedelta(minutes=5))
    assert {c.delivery.story_id for c in again} == {a}
    # b's waiting delivery went into a's (one per target): it is no more.
    with pytest.raises(StoreError, match="no delivery"):
        store.retry_delivery(cb.delivery.id, clock.now())


def test_lease_renewal_only_for_its_owner(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1)], routing(), clock.now())
    (c,) = store.claim_deliveries("w1", clock.now(), timedelta(minutes=5))
    clock.advance(minutes=6)
    (taken,) = store.claim_deliveries("w2", clock.now(), timedelta(minutes=5))
    assert taken.reclaimed
    assert not store.renew_lease(c.delivery.id, "w1", clock.now(), timedelta(minutes=5))
    assert store.renew_lease(c.delivery.id, "w2", clock.now(), timedelta(minutes=5))


def test_failed_then_dead_then_retried(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1)], routing(), clock.now())
    (c,) = store.claim_deliveries("w", clock.now(), timedelta(minutes=5))
    store.mark_failed(c.delivery.id, owner="w", error="TransientSendError: 503",
                      retry_at=clock.now() + timedelta(minutes=1), now=clock.now())
    (f,) = store.list_deliveries("failed")
    assert f.last_error == "TransientSendError: 503"
    assert store.claim_deliveries("w", clock.now(), timedelta(minutes=5)) == []
    clock.advance(minutes=2)
    (c2,) = store.claim_deliveries("w", clock.now(), timedelta(minutes=5))
    store.mark_failed(c2.delivery.id, owner="w", error="PermanentSendError: bad token",
                      retry_at=None, now=clock.now())
    (dead,) = store.list_deliveries("dead")
    assert dead.attempts == 2
    clock.advance(days=1)
    assert store.claim_deliveries("w", clock.now(), timedelta(minutes=5)) == []
    retried = store.retry_delivery(dead.id, clock.now())
    assert retried.status is DeliveryStatus.PENDING and retried.attempts == 0
    assert len(store.claim_deliveries("w", clock.now(), timedelta(minutes=5))) == 1
    with pytest.raises(StoreError, match="only failed or dead"):
        store.retry_delivery(dead.id, clock.now())


def test_release_gives_back_unstarted_claims(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.ingest([item(1), item(2)], routing(), clock.now())
    claims = store.claim_deliveries("w", clock.now(), timedelta(minutes=5))
    assert store.release("w", [c.delivery.id for c in claims], now=clock.now()) == 2
    assert {d.status for d in store.list_deliveries()} == {DeliveryStatus.PENDING}
    assert {d.attempts for d in store.list_deliveries()} == {0}
    assert len(store.claim_deliveries("w2", clock.now(), timedelta(minutes=5))) == len(claims)


# -- sources --------------------------------------------------------------------------------

def test_config_sources_sync_and_database_sources(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    cfg = [SourceConfig(name="news", url="https://a.example/feed", every="15m"),
           SourceConfig(name="posts", url="posts.json", every="10m")]
    store.sync_config_sources(cfg, clock.now())
    store.add_source("extra", "https://b.example/rss", timedelta(hours=1), clock.now())
    assert {(s.name, s.origin) for s in store.list_sources()} == {
        ("news", "config"), ("posts", "config"), ("extra", "database")}
    with pytest.raises(StoreError, match="already exists"):
        store.add_source("extra", "https://c.example/rss", timedelta(hours=1), clock.now())
    with pytest.raises(StoreError, match="config file"):
        store.remove_source("news")
    # Dropping a source from the file removes it; changing its URL resets its validators.
    store.record_poll_ok("posts", validators=Validators("e1", "lm", "h"), now=clock.now(),
                         next_poll_at=clock.now() + timedelta(minutes=10))
    store.sync_config_sources([SourceConfig(name="posts", url="other.json")], clock.now())
    names = {s.name for s in store.list_sources()}
    assert names == {"posts", "extra"}
    assert store.get_source("posts").validators == Validators(None, None, None)
    with pytest.raises(ConfigError, match="already named"):
        store.sync_config_sources([SourceConfig(name="extra", url="x.xml")], clock.now())
    store.remove_source("extra")
    assert {s.name for s in store.list_sources()} == {"posts"}


def test_due_sources_and_poll_records(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    store.sync_config_sources([SourceConfig(name="news", url="n.xml", every="15m")],
                              clock.now())
    lease = timedelta(minutes=1)
    assert [s.name for s in store.claim_sources("w", clock.now(), lease)] == ["news"]
    store.record_poll_error("news", error="HTTP 500", now=clock.now(),
                            next_poll_at=clock.now() + timedelta(minutes=2))
    store.record_poll_error("news", error="HTTP 503", now=clock.now(),
                            next_poll_at=clock.now() + timedelta(minutes=4))
    src = store.get_source("news")
    assert (src.error_count, src.last_error) == (2, "HTTP 503")
    assert store.claim_sources("w", clock.now(), lease) == []  # backing off: not due
    assert len(store.claim_sources("w", clock.now(), lease, all_enabled=True)) == 1
    store.record_poll_ok("news", validators=None, now=clock.now(),
                         next_poll_at=clock.now() + timedelta(minutes=15))
    src = store.get_source("news")
    assert (src.error_count, src.last_error) == (0, None)


# -- key dates --------------------------------------------------------------------------

def test_key_dates_keep_their_time_and_place(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    text = ("Join our coaching workshop on Thursday 24 September, 9.30am to 1pm, "
            "at the Brew House, Preston.")
    store.ingest([item(1, text=text)], ctx, clock.now())
    (listed,) = store.list_stories()
    expected = KeyDate("event", date(2026, 9, 24), text, "09:30–13:00",
                       "the Brew House, Preston")
    assert listed.dates == (expected,)
    assert store.get_story(listed.id).dates == (expected,)
    # An edit recomposes the story: the new time and place are written, not the old ones.
    clock.advance(hours=1)
    moved = text.replace("9.30am to 1pm", "2pm to 4pm").replace("the Brew House", "the Guild Hall")
    store.ingest([item(1, text=moved)], ctx, clock.now())
    (kd,) = store.get_story(listed.id).dates
    assert (kd.at_time, kd.place) == ("14:00–16:00", "the Guild Hall, Preston")
