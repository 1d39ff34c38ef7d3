"""The database in trouble while the worker runs: PostgreSQL restarted mid-run, and SQLite
held locked by another connection. The worker says so in one line, loses nothing, posts
nothing twice, and goes on when the database is back.

The PostgreSQL restart is played by a loopback TCP proxy in front of the real server
(``tests/fakes/tcp_proxy.py``): it cuts the worker's connections and refuses new ones for
a while. The server itself, shared with other tests, is never restarted."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.app import Herald
from tests.conftest import make_settings
from tests.fakes.slack_server import running_fake_slack
from tests.fakes.tcp_proxy import running_tcp_proxy
from tests.workers import (
    Worker,
    delivery_statuses,
    herald,
    rss,
    snapshot,
    wait_for,
    worker_env,
    write_config,
)


def via_proxy(db_url: str, port: int) -> str:
    url = make_url(db_url).set(host="127.0.0.1", port=port)
    return url.render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restarted_mid_run_the_worker_reconnects_and_goes_on(
        tmp_path: Path, pg_url: str, feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_url = feed_server.add("/news.xml", rss("news", range(1, 4)))
    with running_fake_slack(channels={"news": "C0NEWS"}) as slack, \
            running_tcp_proxy(make_url(pg_url).port or 5432) as proxy:
        config = write_config(
            tmp_path, db_url=via_proxy(pg_url, proxy.port), sources={"news": feed_url},
            every="1s", worker={"collect_tick": "0.5s", "dispatch_every": "0.5s"},
            targets=[{"name": "files", "type": "file"},
                     {"name": "slack", "type": "slack", "channel": "C0NEWS",
                      "base_url": slack.base_url}])
        env = worker_env(SLACK_BOT_TOKEN="xoxb-good")
        assert herald(config, "db", "upgrade", env=env).returncode == 0
        worker = Worker.start(config, env, tmp_path / "worker.log")
        try:
            assert wait_for(lambda: delivery_statuses(pg_url)["sent"] == 6, timeout=40), \
                worker.log[-2000:]
            before = proxy.accepted
            # The restart: every connection cut, new ones refused for 2 s. Meanwhile
            # three more announcements appear, which only a worker that reconnected sees.
            feed_server.add("/news.xml", rss("news", range(1, 7)))
            assert proxy.restart(down_for=2.0) >= 1, "the worker had no connection to cut"
            assert wait_for(lambda: delivery_statuses(pg_url)["sent"] == 12, timeout=40), \
                worker.log[-2000:]
            assert proxy.accepted > before  # it did connect again
        finally:
            code = worker.stop()
        log = worker.log
        assert code == 0, log[-3000:]
        assert "database unavailable" in log and "will try again" in log, log[-3000:]
        assert "database reachable again" in log
        assert "Traceback" not in log, log[-3000:]
        state = snapshot(pg_url, tmp_path / "outbox", slack.posted())
        assert len(state["stories"]) == 6
        assert state["slack_posted_twice"] == [] and state["slack_per_channel"] == {"C0NEWS": 6}
        assert sorted(state["files"].values()) == [1] * 6
        assert {s for (_, _, s) in state["deliveries"]} == {"sent"}


# ------------------------------------------------------------------------------- SQLite


def hold_write_lock(db: Path, held: threading.Event, release: threading.Event
                    ) -> threading.Thread:
    """Another writer: BEGIN IMMEDIATE on the file, held until ``release`` (at most 10 s)."""
    def run() -> None:
        conn = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(10)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def sqlite_herald(tmp_path: Path, feed: Path, busy_timeout: float | None = None,
                  ) -> Herald:
    settings = make_settings(tmp_path, {"sources": [{"name": "news", "url": str(feed)}]})
    h = Herald(settings)
    if busy_timeout is not None:
        from sqlalchemy import event

        def shorter(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")

        event.listen(h.store.engine, "connect", shorter)
    h.prepare()
    return h


def test_sqlite_locked_for_a_moment_the_worker_waits_and_finishes(tmp_path: Path) -> None:
    feed = tmp_path / "news.xml"
    feed.write_bytes(rss("news", range(1, 5)))
    h = sqlite_herald(tmp_path, feed)
    try:
        held, release = threading.Event(), threading.Event()
        locker = hold_write_lock(tmp_path / "herald.db", held, release)
        assert held.wait(5)
        threading.Timer(1.0, release.set).start()  # the other writer finishes in a second
        stats = h.cycle()  # waits on busy_timeout (10 s) for the other writer
        locker.join(5)
        assert stats.collect.errors == 0 and stats.dispatch.sent == 4
    finally:
        h.close()
    assert len(list((tmp_path / "outbox" / "files").glob("*.json"))) == 4


def test_sqlite_locked_too_long_the_cycle_fails_clearly_and_loses_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bot.worker import guarded

    feed = tmp_path / "news.xml"
    feed.write_bytes(rss("news", range(1, 5)))
    h = sqlite_herald(tmp_path, feed, busy_timeout=0.2)
    try:
        held, release = threading.Event(), threading.Event()
        locker = hold_write_lock(tmp_path / "herald.db", held, release)
        assert held.wait(5)
        # The worker's jobs, as it runs them: a locked database is one line, not a crash.
        def collect_all() -> None:
            h.collect(all_enabled=True)

        with caplog.at_level("WARNING", logger="herald.worker"):
            guarded("collect", collect_all)()
        assert any("collect: database unavailable (database is locked)" in r.getMessage()
                   for r in caplog.records), caplog.text
        release.set()
        locker.join(5)
        # Nothing was stored, nothing was lost: the source is read again at once.
        assert h.store.list_deliveries() == []
        source = h.store.get_source("news")
        assert source.last_error is None and source.validators.body_hash is None
        stats = h.collect(all_enabled=True)
        assert stats.changed == 1 and stats.ingest.new_items == 4
        assert h.dispatch().sent == 4
    finally:
        h.close()
    assert len(list((tmp_path / "outbox" / "files").glob("*.json"))) == 4
