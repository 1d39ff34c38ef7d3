"""Merge features stored with each item, term counts, and lookups by the rarest terms: what
keeps the cost of a new item flat as the store grows (issue #6), without losing merges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import Connection

from bot.model import TagGroup
from bot.pipeline.similar import features
from bot.pipeline.tagging import TagRule, Taxonomy
from bot.store import Store
from bot.store import _features as stored
from bot.store._ingest import LOOKUP_BUDGET, MIN_LOOKUP_TERMS, _lookup_terms, _terms
from bot.store.schema import item_terms, item_urls, items, term_counts
from tests.builders import WHEN, item, routing
from tests.test_merging import TWEET_SEACOLE, WEB_SEACOLE


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        kept = dict(conn.execute(select(term_counts.c.term, term_counts.c.n)).all())
        actual = dict(conn.execute(select(item_terms.c.term, func.count())
                                   .where(item_terms.c.term.not_like("u:%"))
                                   .group_by(item_terms.c.term)).all())
    assert {t: n for t, n in kept.items() if n} == actual
    return kept


def test_each_new_item_stores_its_features_and_counts_its_terms(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    first, second = item(1, **WEB_SEACOLE), item(2)
    store.ingest([first, second], ctx, clock.now())
    key = stored.features_key(ctx.taxonomy)
    with store.engine.connect() as conn:
        rows = dict(conn.execute(select(items.c.source_item_id, items.c.features)).all())
    want = features(first, ctx.taxonomy.matching(TagGroup.PROGRAMME, first.title, first.text))
    assert stored.decode(rows[first.source_item_id], key) == want
    assert stored.decode(rows[second.source_item_id], key) is not None
    counts = _counts(store)
    terms = _terms(want, ctx)
    assert all(counts[t] == 1 for t in terms if not t.startswith("u:"))
    assert not any(t.startswith("u:") for t in counts)  # link terms are always looked up


def test_an_edit_moves_the_counts_to_the_new_terms(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = routing()
    store.ingest([item(1, text="harbour lantern orchard meadow copper violet")], ctx,
                 clock.now())
    before = _counts(store)
    store.ingest([item(1, text="granite willow falcon pebble saffron thistle")], ctx,
                 clock.now())
    after = _counts(store)
    assert before.get("harbour") == 1 and after.get("harbour") == 0
    assert after.get("granite") == 1


def test_an_entry_edited_within_one_ingest_is_compared_as_it_now_reads(store: Store,
                                                                      clock) -> None:  # type: ignore[no-untyped-def]
    """The same entry twice in one feed, the second copy edited: counts follow the edit,
    and a later item of the same ingest is compared with the edited words."""
    ctx = routing()
    first = item(1, title=WEB_SEACOLE["title"], url=WEB_SEACOLE["url"],
                 text="harbour lantern orchard meadow copper violet granite willow")
    edited = item(1, **WEB_SEACOLE)
    tweet = item(2, published_at=WHEN + timedelta(hours=5), **TWEET_SEACOLE)
    stats = store.ingest([first, edited, tweet], ctx, clock.now())
    assert (stats.new_items, stats.updated_items) == (2, 1)
    counts = _counts(store)
    assert counts.get("harbour") == 0 and counts.get("pharmacist") == 2
    (story,) = store.list_stories()
    assert len(story.items) == 2


def test_items_stored_without_features_are_computed_and_kept_when_compared(
        store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """Rows from before the column (or under another taxonomy) still merge; their features
    are computed from the row once and stored."""
    ctx = routing()
    store.ingest([item(1, **WEB_SEACOLE)], ctx, clock.now())
    with store.engine.begin() as conn:
        conn.execute(update(items).values(features=None))
    store.ingest([item(2, published_at=WHEN + timedelta(hours=5), **TWEET_SEACOLE)], ctx,
                 clock.now())
    (story,) = store.list_stories()
    assert len(story.items) == 2
    with store.engine.connect() as conn:
        values = conn.execute(select(items.c.features)).scalars().all()
    key = stored.features_key(ctx.taxonomy)
    assert all(stored.decode(v, key) is not None for v in values)


def test_features_stored_under_other_programmes_are_not_trusted() -> None:
    ctx = routing()
    feats = features(item(1, **WEB_SEACOLE), ["mary-seacole"])
    value = stored.encode(feats, stored.features_key(ctx.taxonomy))
    assert stored.decode(value, stored.features_key(ctx.taxonomy)) == feats
    edited = Taxonomy([r for r in ctx.taxonomy.rules
                       if not (r.group is TagGroup.PROGRAMME and r.slug == "mary-seacole")]
                      + [TagRule(TagGroup.PROGRAMME, "mary-seacole", "Mary Seacole", (), 1.0,
                                 False)])
    assert stored.features_key(edited) != stored.features_key(ctx.taxonomy)
    assert stored.decode(value, stored.features_key(edited)) is None
    for junk in ("", "{}", "[1, 2]", "not json", '["x", [], [], [], [], [], []]'):
        assert stored.decode(junk, stored.features_key(ctx.taxonomy)) is None


def test_lookups_read_the_rarest_terms_within_the_budget() -> None:
    counts = {"common": 10_000, "usual": LOOKUP_BUDGET, "rare": 3, "rarer": 1}
    # All rare enough: every term is used, rarest first.
    assert _lookup_terms(["rare", "rarer", "unseen"], counts) == ["unseen", "rarer", "rare"]
    # The budget stops at the long posting lists...
    assert _lookup_terms(["common", "usual", "rare", "rarer", "unseen"], counts) == [
        "unseen", "rarer", "rare"]
    # ...but a lookup always has at least MIN_LOOKUP_TERMS terms to go on.
    chosen = _lookup_terms(["common", "usual", "rare"], counts)
    assert chosen == ["rare", "usual", "common"][:MIN_LOOKUP_TERMS]


def test_a_copy_still_merges_when_its_words_are_common_in_the_store(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """Hundreds of stored items sharing three of the announcement's words push those words
    past the lookup budget; the copy is still found by the rarer words both share."""
    ctx = routing()
    tweet = item(2, published_at=WHEN + timedelta(hours=5), **TWEET_SEACOLE)
    tweet_feats = features(tweet, ctx.taxonomy.matching(TagGroup.PROGRAMME, tweet.title,
                                                        tweet.text))
    common = ["pharmacist", "technician", "pharmacy"]
    assert set(common) <= set(_terms(tweet_feats, ctx))
    # Each filler shares those three words and nothing else: no two merge.
    fillers = [item(100 + n, title=f"Filler {n}", text=" ".join(
        [*common, *(f"w{n}x{k}" for k in range(12))])) for n in range(LOOKUP_BUDGET + 1)]
    for n in range(0, len(fillers), 100):
        store.ingest(fillers[n:n + 100], ctx, clock.now())
    counts = _counts(store)
    assert all(counts[w] > LOOKUP_BUDGET for w in common)
    words = [t for t in _terms(tweet_feats, ctx) if not t.startswith("u:")]
    assert not set(_lookup_terms(words, counts)) & set(common)
    store.ingest([item(1, **WEB_SEACOLE)], ctx, clock.now())
    store.ingest([tweet], ctx, clock.now())
    merged = [s for s in store.list_stories() if len(s.items) > 1]
    assert [sorted(i.source for i in s.items) for s in merged] == [["academy-x", "news"]]
    assert len(store.list_stories()) == len(fillers) + 1


def _seed_0004(conn: Connection) -> None:
    """One story with one item (the website post) and three terms, in 0004's tables."""
    story_id = conn.execute(text(
        "INSERT INTO stories (title, summary, url, kind, first_seen, updated_at, "
        "revision, hold) VALUES ('t', '', NULL, 'news', :w, :w, 1, false) "
        "RETURNING id"), {"w": WHEN}).scalar_one()
    item_id = conn.execute(text(
        "INSERT INTO items (source, source_item_id, story_id, source_kind, url, "
        "canonical_url, title, text, html, links, published_at, collected_at, "
        "updated_at) VALUES ('news', 'news-1', :s, 'feed', :u, :u, :t, :x, '', "
        "'[]', :w, :w, :w) RETURNING id"),
        {"s": story_id, "u": WEB_SEACOLE["url"], "t": WEB_SEACOLE["title"],
         "x": WEB_SEACOLE["text"], "w": WHEN}).scalar_one()
    for term in ("seacole", "pharmacist", "technician"):
        conn.execute(text("INSERT INTO item_terms (term, item_id, story_id, "
                          "published_at) VALUES (:t, :i, :s, :w)"),
                     {"t": term, "i": item_id, "s": story_id, "w": WHEN})


def test_the_migration_keeps_the_term_index_and_counts_it(db_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    """A database at 0004 with items and terms comes through 0005 with the same terms,
    counted, and its items merge with new ones."""
    from bot.store.migrate import upgrade

    s = Store.open(db_url)
    try:
        upgrade(s.engine, "0004")
        with s.engine.begin() as conn:
            _seed_0004(conn)
        upgrade(s.engine)
        with s.engine.connect() as conn:
            assert sorted(conn.execute(select(item_terms.c.term)).scalars()) == [
                "pharmacist", "seacole", "technician"]
            assert dict(conn.execute(select(term_counts.c.term, term_counts.c.n)).all()) == {
                "pharmacist": 1, "seacole": 1, "technician": 1}
        s.ingest([item(2, published_at=WHEN + timedelta(hours=5), **TWEET_SEACOLE)],
                 routing(), clock.now())
        (story,) = s.list_stories()
        assert len(story.items) == 2
    finally:
        s.close()


@pytest.mark.parametrize("stopped_after", ["copy", "drop"])
def test_a_migration_that_stopped_half_way_finishes_on_the_next_run(
        db_url: str, stopped_after: str) -> None:
    """SQLite commits each table change at once: a 0005 that stopped after copying the
    term index (or after dropping the old one) finishes with every term on the next run."""
    from bot.store.migrate import upgrade

    s = Store.open(db_url)
    try:
        upgrade(s.engine, "0004")
        with s.engine.begin() as conn:
            _seed_0004(conn)
            conn.execute(text("CREATE TABLE item_terms_copy AS SELECT term, published_at, "
                              "item_id FROM item_terms"))
            if stopped_after == "drop":
                conn.execute(text("DROP TABLE item_terms"))
        upgrade(s.engine)
        with s.engine.connect() as conn:
            assert sorted(conn.execute(select(item_terms.c.term)).scalars()) == [
                "pharmacist", "seacole", "technician"]
            assert "item_terms_copy" not in inspect(conn).get_table_names()
    finally:
        s.close()


def test_downgrading_0005_keeps_every_url_and_term(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """Down to 0004 and up again: items, their URL rows and their terms all survive (a
    rebuilt items table would have emptied both through ON DELETE CASCADE)."""
    from bot.store.migrate import downgrade, upgrade

    store.ingest([item(1, **WEB_SEACOLE), item(2)], routing(), clock.now())

    def sizes() -> tuple[int, ...]:
        with store.engine.connect() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                         for t in (items, item_urls, item_terms))

    before = sizes()
    assert all(before)
    downgrade(store.engine, "0004")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM item_terms")).scalar_one() == before[2]
        assert conn.execute(text("SELECT count(*) FROM item_urls")).scalar_one() == before[1]
        assert "features" not in {c["name"] for c in inspect(conn).get_columns("items")}
    upgrade(store.engine)
    assert sizes() == before


def test_sqlite_checkpoints_run_beside_the_ingest(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    """The database file takes the log's pages from the checkpoint thread, not from the
    commit (whose own auto-checkpoint is a backstop far above one ingest); closing the
    store stops the thread."""
    import time

    s = Store.open(f"sqlite:///{tmp_path}/herald.db")
    try:
        s.upgrade()
        main = tmp_path / "herald.db"
        with s.engine.connect() as conn:  # the migration's pages, into the file now
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        before = main.stat().st_size
        s.ingest([item(n) for n in range(200)], routing(), clock.now())
        deadline = time.monotonic() + 15
        while main.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert main.stat().st_size > before
        assert s._checkpointer is not None
        thread = s._checkpointer._thread
        assert thread.is_alive()
    finally:
        s.close()
    assert not thread.is_alive()
