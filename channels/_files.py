"""Atomic writes for the outputs that are files (the file channel, the digest's files).

A write goes to a temporary file in the same folder, named
``.tmp-<host>-<pid>-<random><suffix>``, is flushed to disk and renamed over its target, so
a reader never sees half a file. A writer killed in between leaves its temporary file
behind; :func:`sweep_stale` removes the ones whose process (on this host) is gone, and
any older than an hour (another host's, sharing the folder), so crashes do not pile them
up. Each output sweeps its folder before its first write.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from pathlib import Path

TEMP_PREFIX = ".tmp-"
#: A temporary file this old is a dead writer's, whoever wrote it (a write takes ms).
STALE_AFTER = 3600.0


def _host() -> str:
    return socket.gethostname()[:40] or "host"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{_host()}-{os.getpid()}-",
                               suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _writer(name: str) -> tuple[str, int] | None:
    """(host, pid) from a temporary file's name, or None for a name we did not make."""
    stem = name[len(TEMP_PREFIX):].split(".", 1)[0]
    parts = stem.rsplit("-", 2)  # mkstemp's random part has no "-"
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def sweep_stale(folder: Path, now: float | None = None) -> list[str]:
    """Remove the temporary files that dead writers left in ``folder``; returns their
    names. A file of a live process on this host, or a young one of another host, stays."""
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    for path in candidates:
        writer = _writer(path.name)
        try:
            old = now - path.stat().st_mtime > STALE_AFTER
        except OSError:
            continue
        dead = (writer is not None and writer[0] == _host() and writer[1] != os.getpid()
                and not _alive(writer[1]))
        if old or dead:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return removed
