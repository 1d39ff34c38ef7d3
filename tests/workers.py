"""Helpers for tests that run Herald as real processes: an RSS feed of distinct
announcements, a config file, a worker started and stopped with bounded waits, and a
snapshot of the final state to compare runs by."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, text

from tests.builders import distinct_words
from tests.conftest import CONFIG_DIR

PYTHON = [sys.executable, "-m", "bot"]


def rss(feed: str, numbers: range | list[int]) -> bytes:
    """An RSS 2.0 feed with one distinct announcement per number."""
    body = "".join(
        f"<item><title>Announcement {n}: {distinct_words(n, 4)}</title>"
        f"<link>https://{feed}.example.org/news/{n}</link><guid>{feed}-{n}</guid>"
        f"<pubDate>Tue, 18 Aug 2026 09:{n % 60:02d}:00 GMT</pubDate>"
        f"<description>{distinct_words(n + 10_000, 14)} ({n}).</description></item>"
        for n in numbers)
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>{feed}</title><link>https://{feed}.example.org/</link>"
            f"<description>d</description>{body}</channel></rss>").encode()


def worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    env.update(extra)
    return env


def write_config(tmp_path: Path, *, db_url: str, sources: dict[str, str],
                 targets: list[dict[str, str]], worker: dict[str, str] | None = None,
                 every: str = "1h") -> Path:
    """A TOML config: the sources (name → URL), the targets, one route to all of them."""
    w = {"collect_tick": "1s", "dispatch_every": "1s", "lease": "3s", **(worker or {})}
    lines = [f'[database]\nurl = "{db_url}"\n',
             f'[paths]\ntaxonomy = "{CONFIG_DIR / "taxonomy.toml"}"\n'
             f'outbox = "{tmp_path / "outbox"}"\n',
             "[worker]\n" + "".join(f'{k} = "{v}"\n' for k, v in w.items()),
             "[digest]\nenabled = false\n", '[http]\nallow_networks = ["127.0.0.0/8"]\n']
    for name, url in sources.items():
        # The fixtures' entries are old: announce them (a first poll would not, by default).
        lines.append(f'[[sources]]\nname = "{name}"\nurl = "{url}"\nevery = "{every}"\n'
                     'announce_backlog = true\n')
    for target in targets:
        lines.append("[[targets]]\n" + "".join(f'{k} = "{v}"\n' for k, v in target.items()))
    names = ", ".join(f'"{t["name"]}"' for t in targets)
    lines.append(f"[[routes]]\nto = [{names}]\n")
    path = tmp_path / "herald.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def herald(config: Path, *args: str, env: dict[str, str], timeout: float = 60
           ) -> subprocess.CompletedProcess[str]:
    """Run one ``herald`` command to its end (bounded) and return what it printed."""
    started = time.monotonic()
    done = subprocess.run([*PYTHON, *args, "--config", str(config)], env=env,
                          cwd=config.parent, capture_output=True, text=True, timeout=timeout)
    print(f"herald {' '.join(args)}: exit {done.returncode} in "
          f"{time.monotonic() - started:.1f} s")
    return done


@dataclass
class Worker:
    """A ``herald run`` process with its log file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]

    @classmethod
    def start(cls, config: Path, env: dict[str, str], log_path: Path) -> Worker:
        log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        proc = subprocess.Popen([*PYTHON, "run", "--config", str(config)], env=env,
                                cwd=config.parent, stdout=subprocess.DEVNULL, stderr=log)
        return cls(proc, log_path, log)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait (bounded); SIGKILL if it does not stop. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0,
             interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (a bound, not a check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def delivery_statuses(db_url: str) -> Counter[str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return Counter(dict(conn.execute(text(
                "SELECT status, count(*) FROM deliveries GROUP BY status")).all()))
    finally:
        engine.dispose()


def snapshot(db_url: str, outbox: Path, slack_posts: list[dict[str, Any]]) -> dict[str, Any]:
    """What a run leaves behind, without ids and times that differ between runs: the
    stories with their tags, the deliveries per (story, target) and their states, the
    files written, and the Slack messages posted."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stories = {r.id: r for r in conn.execute(text(
                "SELECT id, title, url FROM stories WHERE merged_into IS NULL"))}
            tags = Counter()  # type: Counter[tuple[str, str]]
            for r in conn.execute(text("SELECT story_id, slug FROM story_tags")):
                tags[(stories[r.story_id].url, r.slug)] += 1
            deliveries = Counter((stories[r.story_id].url, r.target, r.status) for r in
                                 conn.execute(text(
                                     "SELECT story_id, target, status FROM deliveries")))
            items = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
    finally:
        engine.dispose()
    files = Counter()  # type: Counter[tuple[str, str]]
    for path in outbox.rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        files[(doc["target"], doc["payload"]["url"])] += 1
    leftovers = sorted(p.name for p in outbox.rglob(".tmp-*"))
    posted = Counter(m["metadata"]["event_payload"]["delivery_id"] for m in slack_posts)
    slack = Counter()  # type: Counter[str]
    for m in slack_posts:
        slack[m["channel"]] += 1
    return {"stories": sorted((s.title, s.url) for s in stories.values()),
            "items": items, "tags": dict(tags), "deliveries": dict(deliveries),
            "files": dict(files), "tmp_files": leftovers,
            "slack_per_channel": dict(slack),
            "slack_texts": sorted(m["text"] for m in slack_posts),
            "slack_posted_twice": sorted(d for d, n in posted.items() if n > 1)}
