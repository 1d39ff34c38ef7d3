"""The worker's heartbeat: a running `herald run` beats, /healthz sees it, and a clean stop
takes the beat away (a stopped worker is not reported alive)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import Herald
from bot.config import load_config
from bot.store import Store
from bot.web import create_app
from tests.test_worker import wait_for, write_config

pytestmark = pytest.mark.slow


def test_a_running_worker_beats_and_healthz_reports_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    store = Store.open(f"sqlite:///{tmp_path / 'herald.db'}")
    herald = None
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: _beat(store) is not None), "the worker never beat"
        herald = Herald(load_config(config, environ=env))
        client = TestClient(create_app(herald), base_url="https://testserver")
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["worker"] == "beating" and client.get("/readyz").status_code == 200
        assert 0 <= body["worker_heartbeat_age_seconds"] < 120
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert store.last_beat() is None  # a clean stop says goodbye
        # The web process is alive without a worker (liveness); it is not ready.
        stopped = client.get("/healthz")
        assert stopped.status_code == 200 and stopped.json()["worker"] == "not beating"
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["status"] == "degraded"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if herald is not None:
            herald.close()
        store.close()


def _beat(store: Store) -> object:
    try:
        return store.last_beat()
    except Exception:  # the worker has not made the schema yet
        return None
