"""The SQLite worker lock says what is wrong when its file cannot be made."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.store.worker_lock import WorkerLock


def test_a_lock_file_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    """Found from outside: `herald run` on a database in a folder it cannot write printed a
    traceback (FileNotFoundError on the lock file), where `run --once` and `serve` gave one
    line."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    lock = WorkerLock(f"sqlite:///{blocker / 'herald.db'}")
    with pytest.raises(StoreError, match="cannot create the worker's lock file"):
        lock.acquire()

