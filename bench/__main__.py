"""Herald against lemon24's reader on one generated corpus, served over loopback.

    python -m bench --feeds 1000 --entries 50 --db sqlite,postgresql
    python -m bench --feeds 100 --entries 50 --db sqlite --skip-reader --profile bench/profiles
    python -m bench --growth 1000,10000,50000,100000,200000
    python -m bench --feeds 200 --entries 50 --vocabulary 300 --db sqlite --skip-reader

This process generates the corpus, serves it (``bench.server``) and runs the fake Slack
Web API of the tests; each system then runs in a child process of its own, so their
peak memories are separate. Four phases per system:

``first``     every feed read for the first time: fetch, parse, store; for Herald also
              dedupe, merging, tagging, key dates and routing into the outbox;
``304``       every feed again, the server answering 304 to the conditional GET;
``200-same``  every feed again, the server ignoring conditional GET (200, same bytes);
``dispatch``  (Herald only) every delivery sent to the loopback Slack fake.

It prints wall time, entries per second and peak memory (the child's own ``VmHWM``) of
each, and Herald/reader for each poll. ``--growth`` measures instead how the cost of a
new item changes as stored stories grow (see ``bench.growth``).

For each Herald run it also prints the stories its first collection made per entry,
beside the corpus's own count of announcements per entry (a cross-post is one): a right
merging makes one story of each announcement. ``--vocabulary 300`` writes the corpus
with a small vocabulary, where unrelated entries share many words.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.corpus import announcements, generate
from bench.server import FeedServer

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("HERALD_BENCH_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PHASES = ("first", "304", "200-same", "dispatch")


def _child(module: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one system in a child process; its result, with the peak it measured itself.

    Not the ``ru_maxrss`` of wait4: that includes the peak of this process (corpus, feed
    server, the fake Slack's messages) inherited across the child's exec; see
    ``bench._phases``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", module, json.dumps(args)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"{module} failed with exit code {proc.returncode}")
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    return result


class _PgSchema:
    """A fresh PostgreSQL schema for one run, dropped afterwards."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine, text

        self.name = f"herald_bench_{uuid.uuid4().hex[:8]}"
        self._text = text
        self._admin = create_engine(PG_URL)
        with self._admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        sep = "&" if "?" in PG_URL else "?"
        self.url = f"{PG_URL}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with self._admin.begin() as conn:
            conn.execute(self._text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self._admin.dispose()


def _machine() -> str:
    load = os.getloadavg()
    return (f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _rate(entries: int, seconds: float) -> str:
    return f"{entries / seconds:9.0f}" if seconds > 0 else "        -"


def stories_line(system: str, res: dict[str, Any], entries: int, announced: int) -> str:
    """Stories per entry of a Herald run's first collection, against the corpus's own."""
    stories = res["phases"]["first"]["new_stories"]
    return (f"{system:<20} stories {stories} ({stories / entries:.4f}/entry)  corpus "
            f"announcements {announced} ({announced / entries:.4f}/entry)  "
            f"ratio {stories / announced:.3f}")


def _total(res: dict[str, Any]) -> float:
    """A system's own peak plus its pool's (the sum of its children's peaks)."""
    return float(res["peak_mb"]) + float(res.get("pool_mb", 0.0))


def report(results: dict[str, dict[str, Any]], entries: int,
           announced: int | None = None) -> str:
    """The table of every system's phases, then Herald/reader for each, then stories per
    entry against the corpus's announcements."""
    lines = [f"{'system':<20} {'phase':<10} {'wall s':>8} {'entries/s':>9} {'peak MB':>8}"
             f" {'pool MB':>8} {'total MB':>8}"]
    for system, res in results.items():
        for phase in PHASES:
            p = res["phases"].get(phase)
            if p is None:
                continue
            count = p.get("sent", 0) if phase == "dispatch" else entries
            lines.append(f"{system:<20} {phase:<10} {p['seconds']:8.2f} "
                         f"{_rate(count, p['seconds'])} {p['peak_mb']:8.0f}"
                         f" {p.get('pool_mb', 0):8.0f} {_total(p):8.0f}")
        lines.append(f"{system:<20} {'(peak)':<10} {'':8} {'':9} {res['peak_mb']:8.0f}"
                     f" {res.get('pool_mb', 0):8.0f} {_total(res):8.0f}")
    reader = results.get("reader")
    if reader:
        lines.append("")
        lines.append("Herald/reader: speed (reader's wall time / Herald's) and peak memory")
        for system, res in results.items():
            if system == "reader":
                continue
            ratios = []
            for phase in ("first", "304", "200-same"):
                mine, theirs = res["phases"][phase]["seconds"], reader["phases"][phase]["seconds"]
                ratios.append(f"{phase} {theirs / mine:6.2f}x")
            ratios.append(f"memory {res['peak_mb'] / reader['peak_mb']:.2f}x"
                          f" (with the pool {_total(res) / _total(reader):.2f}x)")
            lines.append(f"{system:<20} " + "  ".join(ratios))
    herald = {s: r for s, r in results.items() if "new_stories" in r["phases"].get("first", {})}
    if announced and herald:
        lines.append("")
        lines.append("Stories from the first collection against the corpus's announcements")
        lines.extend(stories_line(s, r, entries, announced) for s, r in herald.items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--vocabulary", type=int, default=20_000,
                        help="words in the corpus's made-up vocabulary (300: a small one, "
                             "where unrelated entries share many words)")
    parser.add_argument("--db", default="sqlite,postgresql",
                        help="Herald's backends, comma-separated: sqlite, postgresql")
    parser.add_argument("--threads", type=int, default=4,
                        help="feeds read at once, by Herald and by reader alike")
    parser.add_argument("--skip-reader", action="store_true")
    parser.add_argument("--skip-dispatch", action="store_true",
                        help="leave out Herald's dispatch phase (sending every delivery to "
                             "the loopback Slack), which reader has no counterpart of")
    parser.add_argument("--processes", type=int, default=None,
                        help="Herald's [worker] processes (default: unset, one a core; "
                             "0: no prepare pool)")
    parser.add_argument("--profile", metavar="DIR",
                        help="write a pyinstrument profile of each phase under DIR "
                             "(slower: do not compare its timings)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    parser.add_argument("--growth", metavar="SIZES",
                        help="measure per-item cost at these stored-story counts instead")
    args = parser.parse_args(argv)
    if args.growth:
        from bench.growth import main as growth_main

        growth_main([int(s) for s in args.growth.split(",")], args)
        return
    started = time.perf_counter()
    feeds = generate(args.feeds, args.entries, seed=args.seed, vocabulary=args.vocabulary)
    size = sum(len(f.body) for f in feeds)
    entries = args.feeds * args.entries
    announced = announcements(feeds)
    print(f"corpus: {args.feeds} feeds × {args.entries} entries, {size / 1e6:.1f} MB "
          f"({size / entries:.0f} bytes an entry), {announced} announcements, "
          f"{args.vocabulary} words, made in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    print(f"machine: {_machine()}", file=sys.stderr)
    sys.path.insert(0, str(ROOT))
    from tests.fakes.slack_server import running_fake_slack

    server = FeedServer(feeds).start()
    del feeds
    results: dict[str, dict[str, Any]] = {}
    try:
        with running_fake_slack() as slack:
            common = {"feeds": server.urls(), "origin": server.origin, "slack": slack.base_url,
                      "threads": args.threads, "profile": args.profile,
                      "processes": args.processes, "dispatch": not args.skip_dispatch}
            if not args.skip_reader:
                results["reader"] = _child("bench._reader", {**common, "system": "reader"})
            for db in [d.strip() for d in args.db.split(",") if d.strip()]:
                if db == "sqlite":
                    path = Path(f"/tmp/herald-bench-{uuid.uuid4().hex[:8]}.db")
                    try:
                        results["herald-sqlite"] = _child("bench._herald", {
                            **common, "system": "herald-sqlite", "db": f"sqlite:///{path}"})
                    finally:
                        for suffix in ("", "-wal", "-shm", ".worker.lock"):
                            Path(f"{path}{suffix}").unlink(missing_ok=True)
                elif db in ("postgresql", "postgres", "pg"):
                    schema = _PgSchema()
                    try:
                        results["herald-postgresql"] = _child("bench._herald", {
                            **common, "system": "herald-postgresql", "db": schema.url})
                    finally:
                        schema.drop()
                else:
                    parser.error(f"unknown --db {db!r}; use sqlite, postgresql")
                slack.state.messages.clear()
                slack.state.calls.clear()
    finally:
        server.stop()
    print(f"\nmachine: {_machine()}")
    print(f"corpus: {args.feeds} feeds × {args.entries} entries = {entries} entries "
          f"({announced} announcements), {args.vocabulary}-word vocabulary, "
          f"{size / 1e6:.1f} MB; {args.threads} threads\n")
    print(report(results, entries, announced))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "entries": entries,
                                               "announcements": announced,
                                               "bytes": size, "results": results}, indent=1))


if __name__ == "__main__":
    main()
