"""One worker per SQLite database: a lock file beside the database file.

SQLite is the embedded default for one process. A second ``herald run`` on the same file
would fight over writes and double the polling, so it is refused with a message that
says what to do instead (PostgreSQL for several workers). The lock is an ``flock`` held
for the life of the worker, so it goes away by itself when the process dies, even by
SIGKILL. PostgreSQL needs no such lock: claims with leases share the work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from bot.errors import StoreError


class WorkerLock:
    """Held by a running worker on a SQLite database; a no-op elsewhere."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        db = url.database if url.get_backend_name() == "sqlite" else None
        self.path = Path(f"{db}.worker.lock") if db and db != ":memory:" else None
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is None or self._fh is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock on this platform
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")  # noqa: SIM115 - held open while the worker runs
        except OSError as exc:
            raise StoreError(f"cannot create the worker's lock file {self.path}: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise StoreError(
                f"another Herald worker (pid {holder}) is running on this SQLite database "
                f"({self.path.with_suffix('')}); SQLite takes one worker. To run several, "
                "use PostgreSQL: DATABASE_URL=postgresql+psycopg://…") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None
