"""The scheduled worker as a real process: it collects and dispatches on its own, and
SIGTERM/SIGINT stop it cleanly with nothing left claimed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.store import Store
from tests.conftest import CONFIG_DIR

pytestmark = pytest.mark.slow

CONFIG = """
[database]
url = "sqlite:///{db}"

[paths]
taxonomy = "{taxonomy}"
outbox = "{outbox}"

[worker]
collect_tick = "1s"
dispatch_every = "1s"

[[sources]]
name = "news"
url = "{feed}"
every = "1h"
announce_backlog = true

[[targets]]
name = "files"
type = "file"

[[routes]]
to = ["files"]
"""


def write_config(tmp_path: Path) -> Path:
    feed = CONFIG_DIR / "sample" / "academy-news.xml"
    path = tmp_path / "herald.toml"
    path.write_text(CONFIG.format(db=tmp_path / "herald.db", taxonomy=CONFIG_DIR /
                                  "taxonomy.toml", outbox=tmp_path / "outbox", feed=feed))
    return path


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_worker_runs_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        outbox = tmp_path / "outbox" / "files"
        assert wait_for(lambda: outbox.exists() and len(list(outbox.glob("*.json"))) >= 3), \
            "the worker did not collect and dispatch on its own"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped" in err
    store = Store.open(f"sqlite:///{tmp_path / 'herald.db'}")
    try:
        statuses = {d.status.value for d in store.list_deliveries()}
        assert "in_flight" not in statuses
        sent = len(store.list_deliveries("sent"))
        assert sent == len(list((tmp_path / "outbox" / "files").glob("*.json")))
    finally:
        store.close()


def test_a_second_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "herald.db.worker.lock"
        assert wait_for(lambda: lock.exists() and lock.read_text().strip() == str(proc.pid))
        second = subprocess.run([sys.executable, "-m", "bot", "run", "--once", "--config",
                                 str(config)], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1
        assert "another Herald worker" in second.stderr and str(proc.pid) in second.stderr
        assert "PostgreSQL" in second.stderr and "Traceback" not in second.stderr
        # Reading commands are not workers: they still work meanwhile.
        stories = subprocess.run([sys.executable, "-m", "bot", "stories", "--json",
                                  "--config", str(config)], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert stories.returncode == 0
    finally:
        proc.kill()
        proc.wait()
    # Killed, the worker's lock went with it: a new worker may start.
    again = subprocess.run([sys.executable, "-m", "bot", "run", "--once", "--config",
                            str(config)], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr
