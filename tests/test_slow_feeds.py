"""One slow feed server stops nothing else (issue #12, defect 11).

A server that sends its headers a byte at a time, each byte well within the read timeout,
used to hold a fetch for as long as it liked: the collect cycle never ended, so no other
feed was polled again, SIGTERM waited for it, and /healthz stayed green. Now a fetch has a
whole-request deadline, a stop ends the fetches under way, and /readyz reports a collector
that has not finished a cycle for too long. The servers are the loopback feed server of
tests/fakes/feed_server.py (``/slow-headers``); the worker runs as a real ``herald run``.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import Herald
from bot.clock import FixedClock
from bot.config import load_config
from bot.store import Store
from bot.web import create_app
from tests.conftest import make_settings
from tests.workers import Worker, rss, wait_for, worker_env, write_config

#: Long enough that only a deadline or a stop ends the fetch (about 90 s of headers).
ENDLESS_PADDING = 450


def test_a_slow_header_feed_times_out_and_others_still_poll(
        tmp_path: Path, clock: FixedClock, db_url: str, feed_server: Any) -> None:
    feed_server.state.header_byte_seconds = 0.1  # the headers take about 10 s in all
    good = feed_server.add("/news.xml", rss("news", range(1, 4)))
    settings = make_settings(tmp_path, {
        "database": {"url": db_url},
        "http": {"timeout": "5s", "deadline": "1s", "allow_networks": ["127.0.0.0/8"]},
        "sources": [{"name": "slow-server", "url": feed_server.url("/slow-headers"),
                     "every": "15m"},
                    {"name": "news", "url": good, "every": "15m"}]})
    herald = Herald(settings, clock=clock)
    try:
        herald.prepare()
        stats = herald.collect()
        assert stats.polled == 2 and stats.errors == 1 and stats.changed == 1
        sources = {s.name: s for s in herald.store.list_sources()}
        slow = sources["slow-server"]
        assert "timed out" in (slow.last_error or "") and "1 s deadline" in slow.last_error
        assert "/slow-headers" in slow.last_error
        assert slow.error_count == 1 and slow.next_poll_at > clock.now()
        assert sources["news"].last_error is None
        assert stats.ingest.new_items == 3
    finally:
        herald.close()


def test_the_last_finished_collect_cycle_is_recorded_per_worker(store: Store,
                                                                clock: FixedClock) -> None:
    assert store.last_collected() is None
    store.beat("worker-1", clock.now())
    assert store.last_collected() is None  # beating is not collecting
    store.collected("worker-1", clock.now())
    store.collected("worker-2", clock.now() - timedelta(minutes=5))  # no beat row yet
    assert store.last_collected() == clock.now()
    clock.advance(minutes=1)
    store.collected("worker-1", clock.now())
    assert store.last_collected() == clock.now()
    store.forget_worker("worker-1")
    assert store.last_collected() == clock.now() - timedelta(minutes=6)


def _config(tmp_path: Path, sources: dict[str, str], *, http: str = "",
            web: str = "") -> Path:
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'herald.db'}",
                          sources=sources, targets=[{"name": "files", "type": "file"}])
    text = config.read_text(encoding="utf-8").replace("[http]\n", f"[http]\n{http}")
    config.write_text(text + (f"\n[web]\n{web}" if web else ""), encoding="utf-8")
    return config


@pytest.mark.slow
def test_the_worker_answers_sigterm_while_a_feed_server_trickles_its_headers(
        tmp_path: Path, feed_server: Any) -> None:
    feed_server.state.header_padding = ENDLESS_PADDING
    good = feed_server.add("/news.xml", rss("news", range(1, 4)))
    # The default [http] deadline (30 s) lies beyond the wait below: only the stop can
    # end the slow fetch in time.
    config = _config(tmp_path, {"slow-server": feed_server.url("/slow-headers"),
                                "news": good})
    worker = Worker.start(config, worker_env(), tmp_path / "worker.log")
    try:
        assert wait_for(lambda: feed_server.hits("/slow-headers") >= 1
                        and feed_server.hits("/news.xml") >= 1), worker.log
        assert wait_for(lambda: " started\n" in worker.log), worker.log
        worker.proc.send_signal(signal.SIGTERM)
        # A bound for the wait, not a measure of speed: before the fix the worker sat
        # in the slow fetch for the whole 90 s of headers.
        assert worker.proc.wait(timeout=15) == 0, worker.log
        assert "stopped" in worker.log
    finally:
        worker.kill()


@pytest.mark.slow
def test_healthz_reports_the_collector_stale_while_a_feed_server_holds_the_cycle(
        tmp_path: Path, feed_server: Any) -> None:
    feed_server.state.header_padding = ENDLESS_PADDING
    config = _config(tmp_path, {"slow-server": feed_server.url("/slow-headers")},
                     http='deadline = "10m"\n', web='collector_stale = "2s"\n')
    env = worker_env()
    worker = Worker.start(config, env, tmp_path / "worker.log")
    herald = None
    try:
        assert wait_for(lambda: feed_server.hits("/slow-headers") >= 1), worker.log
        herald = Herald(load_config(config, environ=env))
        client = TestClient(create_app(herald), base_url="https://testserver")

        def stale() -> bool:
            body = client.get("/healthz").json()
            return body.get("collector") == "stale"

        assert wait_for(stale), worker.log  # bounded: the cycle is held for 90 s
        assert client.get("/healthz").status_code == 200  # liveness: the web app is fine
        health = client.get("/readyz")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "degraded" and body["collector_cycle_age_seconds"] >= 2
        assert body["worker_heartbeat_age_seconds"] < 120  # the worker itself is alive
    finally:
        worker.stop(timeout=30)
        if herald is not None:
            herald.close()


@pytest.mark.slow
def test_the_worker_records_each_finished_collect_cycle(tmp_path: Path,
                                                        feed_server: Any) -> None:
    good = feed_server.add("/news.xml", rss("news", range(1, 4)))
    config = _config(tmp_path, {"news": good}, web='collector_stale = "30s"\n')
    env = worker_env()
    worker = Worker.start(config, env, tmp_path / "worker.log")
    store = Store.open(f"sqlite:///{tmp_path / 'herald.db'}")
    herald = None
    try:
        seen: set[object] = set()

        def cycles() -> bool:
            try:
                seen.add(store.last_collected())
            except Exception:  # the worker has not made the schema yet
                pass
            return len(seen - {None}) >= 3  # its start, then cycles every second

        assert wait_for(cycles), worker.log
        herald = Herald(load_config(config, environ=env))
        health = TestClient(create_app(herald), base_url="https://testserver").get("/readyz")
        assert health.status_code == 200, health.text
        assert health.json()["collector"] == "ok"
    finally:
        worker.stop(timeout=30)
        store.close()
        if herald is not None:
            herald.close()


def test_x_requests_have_a_timeout_though_tweepy_sets_none(feed_server: Any) -> None:
    import requests

    from bot.sources.x import XOptions, XSource

    source = XSource("academy-x", XOptions(username="academy"), {"X_BEARER_TOKEN": "t"},
                     timeout=0.5)
    feed_server.state.slow_seconds = 3
    # The session tweepy sends every request through: a silent server is given up on.
    with pytest.raises(requests.Timeout):
        source.client.session.get(feed_server.url("/slow"))
