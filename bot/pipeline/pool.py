"""The prepare pool: parsing and :mod:`bot.pipeline.prepare` in child processes, one a core.

The collector's reading threads fetch; a changed body goes to a child, which parses it and
prepares each entry (features, terms, keys, the one-item story's tags and dates) while the
parent stores the previous feed: the pure work leaves the parent's GIL.

Children are spawned (a fresh interpreter, not a fork of a parent holding the store) and
import :mod:`bot.pipeline.prepare` and nothing of the parent's (not its ``__main__``: not
the CLI, SQLAlchemy or the web app), so each costs the parser and the taxonomy. A fork
server would add a process of its own (29 MB at its peak, measured) to save each child
little: what they share most, the libraries' code, the page cache shares anyway. A child
ignores Ctrl-C (the parent stops the pool) and exits when the parent is gone.

Anything that goes wrong in the pool rather than in the feed (a child killed, a result
that does not pickle, a file that changed under the taxonomy) raises :class:`PoolFailure`;
the collector then parses that feed in its own process as before. A broken pool is
replaced on the next feed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing import spawn
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from bot.errors import HeraldError
from bot.model import Item
from bot.pipeline.prepare import Prepared, StaleTaxonomy, TaxonomySpec, parse_and_prepare

log = logging.getLogger("herald.pool")

#: Seconds a child may take over one feed before it counts as hung (a feed that big is
#: parsed in the worker's own process then, as without a pool).
DEADLINE = 120.0

class PoolFailure(RuntimeError):
    """The pool, not the feed, failed: prepare the feed in this process instead."""


def available() -> bool:
    """Whether this platform can run the pool (it spawns its children)."""
    return "spawn" in multiprocessing.get_all_start_methods()


def default_processes() -> int:
    """One child a core."""
    return os.cpu_count() or 1


_launch_lock = threading.Lock()


class _Process(SpawnProcess):
    """A child started without the parent's ``__main__``: multiprocessing would have it
    import that module (for ``herald``, the whole CLI) to find functions defined there;
    the pool's functions live in :mod:`bot.pipeline.prepare`."""

    def start(self) -> None:
        with _launch_lock:
            original = spawn.get_preparation_data

            def without_main(name: str) -> dict[str, Any]:
                data: dict[str, Any] = original(name)
                data.pop("init_main_from_name", None)
                data.pop("init_main_from_path", None)
                return data

            spawn.get_preparation_data = without_main
            try:
                super().start()
            finally:
                spawn.get_preparation_data = original


class _Context(SpawnContext):
    Process = _Process


def _child_start() -> None:
    """In each child: leave Ctrl-C to the parent, and exit once the parent is gone rather
    than wait forever on a queue nobody writes to."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2.0)
        os._exit(0)

    threading.Thread(target=watch, name="herald-pool-watch", daemon=True).start()


class PreparePool:
    """A pool of ``processes`` children that parse and prepare feeds, started at its first
    feed and replaced when broken. Thread-safe; :meth:`close` ends it."""

    def __init__(self, processes: int, spec: TaxonomySpec, *, merge: bool) -> None:
        self.processes = max(1, processes)
        self.spec = spec
        self.merge = merge
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        #: Why the pool is not used any more (the taxonomy changed under it), or None.
        self.disabled: str | None = None
        #: Seconds a child may take over one feed: a child that hangs (stopped, or stuck
        #: in a library) is killed with its pool, and the feed is parsed in this process.
        self.deadline = DEADLINE

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise PoolFailure("the pool is shut down")
            if self._executor is None:
                context = _Context()
                self._executor = ProcessPoolExecutor(self.processes, mp_context=context,
                                                     initializer=_child_start)
                log.debug("started a pool of %d processes", self.processes)
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def _kill(self, executor: ProcessPoolExecutor) -> None:
        """End a pool whose child hangs: its processes are killed, then it is discarded."""
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            try:
                process.kill()
            except (OSError, ValueError):
                pass  # already gone
        self._discard(executor)

    def parse(self, body: bytes, *, source: str, url: str, collected_at: datetime,
              content_type: str | None, headers: Mapping[str, str],
              notes: list[str] | None = None) -> tuple[list[Item], list[Prepared]]:
        """A feed's items and each one prepared, from a child; what the parse skipped or
        cut goes to ``notes`` (logged if None). A problem with the feed
        (:class:`bot.errors.HeraldError`, e.g. not a feed) is raised as it is; any other
        failure as :class:`PoolFailure`."""
        executor = self._current()
        try:
            future = executor.submit(parse_and_prepare, body, self.spec, merge=self.merge,
                                     source=source, url=url, collected_at=collected_at,
                                     content_type=content_type, headers=dict(headers))
            items, prepared, said = future.result(timeout=self.deadline)
        except TimeoutError as exc:
            self._kill(executor)
            raise PoolFailure(f"a pool process took over {self.deadline:.0f} s") from exc
        except HeraldError:
            raise
        except StaleTaxonomy as exc:  # every feed would fail so: say it once, and stop
            with self._lock:
                first, self.disabled = self.disabled is None, str(exc)
            if first:
                log.warning("%s: feeds are parsed in this process until Herald restarts",
                            exc)
            raise PoolFailure(str(exc)) from exc
        except BrokenProcessPool as exc:
            self._discard(executor)
            raise PoolFailure(f"a pool process died: {exc}") from exc
        except Exception as exc:  # pickling, a stale taxonomy, a surprise in the child
            raise PoolFailure(f"{type(exc).__name__}: {exc}") from exc
        if notes is None:
            for note in said:
                log.warning("%s: %s", source, note)
        else:
            notes.extend(said)
        return items, prepared

    def pids(self) -> list[int]:
        """The children's process ids (for measuring their memory)."""
        with self._lock:
            executor = self._executor
        return sorted(getattr(executor, "_processes", None) or ()) if executor else []

    def close(self) -> None:
        """Stop the children (cancelling what they have not started) and wait for them."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
