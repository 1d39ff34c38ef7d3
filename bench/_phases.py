"""What the per-system runners share: timed phases, peak memory, the server's mode switch.

Each system runs in a child process of its own (``python -m bench._herald`` or
``python -m bench._reader``) so its peak memory is its own: the peak is the high-water mark
of the child's resident set (``VmHWM`` in ``/proc/self/status``: all allocations, C ones
included), read after each phase. The child prints one ``RESULT {json}`` line.

Not ``ru_maxrss``: on Linux a process started by ``subprocess`` (vfork, then exec)
inherits in ``ru_maxrss`` the peak of its *parent's* address space at the exec, so a
child of this benchmark's parent, which holds the corpus and the fake Slack's recorded
messages, reported the parent's peak whenever that was higher than its own.

Each phase also notes the CPU time of the system's own process (``cpu_seconds``) and of
the processes under it (``pool_cpu_seconds``, those alive at the phase's end): with
Herald's prepare pool the parsing and preparing leave it, and on a machine whose cores
are busy with other work that shows what the wall time cannot.

Herald's prepare pool (``bot.pipeline.pool``) runs in processes of its own, below the
child: ``pool_mb`` is the sum of their ``VmHWM`` (every process under the child: the
fork server and its workers), read after each phase while they live; the largest sum is
reported beside the child's own peak. The sum counts the pages the workers share with the
fork server once in each, so it is an upper bound.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def peak_mb() -> float:
    """This process's own peak resident set so far, in MB.

    ``VmHWM`` where there is a ``/proc`` (Linux): ``ru_maxrss`` would carry the peak of
    the parent's address space from before the exec (see the module docstring). Elsewhere
    ``ru_maxrss``, kilobytes on Linux and the BSDs (macOS reports bytes)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (Linux: /proc/PID/task/TID/children)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        for kid in kids:
            found += [kid, *_descendants(kid)]
    return found


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants_cpu_seconds() -> float:
    """The CPU time (user and system) of every process under this one so far."""
    import os

    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for pid in _descendants(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def descendants_peak_mb() -> float:
    """The sum of the peaks of every process under this one (0 where there is no /proc)."""
    import os

    return sum(_hwm_mb(pid) for pid in _descendants(os.getpid()))


def set_mode(origin: str, *, conditional: bool) -> None:
    """Tell the feed server whether to honour conditional GET."""
    with urllib.request.urlopen(f"{origin}/_bench/mode?conditional={int(conditional)}",
                                timeout=10) as answer:
        answer.read()


def server_counts(origin: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{origin}/_bench/stats", timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


class Phases:
    """Runs named phases, timing each and noting the peak memory after it."""

    def __init__(self, profile_dir: str | None, system: str) -> None:
        self.results: dict[str, dict[str, Any]] = {}
        self.profile_dir = Path(profile_dir) if profile_dir else None
        self.system = system
        self.pool_mb = 0.0

    @contextmanager
    def _profiled(self, name: str):  # type: ignore[no-untyped-def]
        if self.profile_dir is None:
            yield
            return
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            out = self.profile_dir / f"{self.system}-{name}.txt"
            out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))

    def run(self, name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._profiled(name):
            started, cpu = time.perf_counter(), time.process_time()
            pool_cpu = descendants_cpu_seconds()
            info = work()
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            pool_cpu = descendants_cpu_seconds() - pool_cpu
        self.pool_mb = max(self.pool_mb, descendants_peak_mb())
        result = {"seconds": seconds, "cpu_seconds": cpu, "pool_cpu_seconds": pool_cpu,
                  "peak_mb": peak_mb(),
                  "pool_mb": self.pool_mb, **info}
        self.results[name] = result
        print(f"  {self.system:>18} {name:<10} {seconds:8.2f} s ({cpu:.2f} s CPU here,"
              f" {pool_cpu:.2f} s in the pool)"
              f"  {result['peak_mb']:6.0f} MB"
              f" (+{self.pool_mb:.0f} MB pool)"
              f"  {json.dumps(info)}", file=sys.stderr, flush=True)
        return result

    def emit(self, **extra: Any) -> None:
        print("RESULT " + json.dumps({"phases": self.results, "peak_mb": peak_mb(),
                                      "pool_mb": self.pool_mb, **extra}),
              flush=True)
