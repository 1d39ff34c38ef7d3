"""SQLite's WAL checkpoints on a thread of their own, not in the commit that crosses the line.

With ``wal_autocheckpoint`` the commit that grows the write-ahead log past the limit copies
the log into the database and syncs it, inside the ingest that happened to be last. Once
the term index is large, that is a third of an ingest's time (bench/RESULTS.md). A PASSIVE
checkpoint every second from another thread does the same copying while the ingest goes
on (sqlite3 lets go of the GIL while it works, so on a machine with two cores it runs
beside the ingest), and never waits for or blocks a reader or a writer. The connection's
own auto-checkpoint stays as a backstop, at a limit this thread keeps the log below.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

#: Seconds between checkpoints.
EVERY = 1.0


class Checkpointer:
    """Checkpoints one SQLite database's WAL every ``every`` seconds until stopped."""

    def __init__(self, engine: Engine, every: float = EVERY) -> None:
        self.engine = engine
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="herald-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        """Start checkpointing, on a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop, after the checkpoint under way if any (it does not wait for locks)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        warned: set[str] = set()
        while not self._stop.wait(self.every):
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception as exc:  # a full disk, say: the commits' backstop still holds
                kind = type(exc).__name__
                if kind not in warned:  # once per kind, not once a second
                    warned.add(kind)
                    log.warning("WAL checkpoint failed (%s); the log grows until the next "
                                "one succeeds: %s", kind, str(exc).splitlines()[0])
