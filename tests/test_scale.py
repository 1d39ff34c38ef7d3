"""Several workers on one PostgreSQL database, no coordinator: 3 `herald run` processes,
300 feeds on a loopback server, six Slack channels on the loopback Slack server. One worker
is SIGKILLed mid-run. At the end every story was posted exactly once to its target, and
nothing is left claimed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.builders import rss_feed
from tests.conftest import CONFIG_DIR
from tests.fakes.feed_server import running_feed_server
from tests.fakes.slack_server import running_fake_slack

pytestmark = pytest.mark.slow

FEEDS = 300
CHANNELS = 6
SYLLABLES = ["ka", "lo", "mi", "ter", "vo", "san", "del", "ri", "po", "tun", "gal", "be",
             "nor", "shi", "qua", "ze", "mar", "fen", "lis", "dor"]


def words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                    for _ in range(n))


def config(tmp_path: Path, db_url: str, feeds: list[str], slack_url: str) -> Path:
    lines = [f'[database]\nurl = "{db_url}"\n',
             f'[paths]\ntaxonomy = "{CONFIG_DIR / "taxonomy.toml"}"\n'
             f'outbox = "{tmp_path / "outbox"}"\n',
             '[worker]\ncollect_tick = "1s"\ndispatch_every = "1s"\nlease = "8s"\n',
             '[digest]\nenabled = false\n', '[http]\nallow_networks = ["127.0.0.0/8"]\n']
    for n, url in enumerate(feeds):
        lines.append(f'[[sources]]\nname = "feed-{n:03d}"\nurl = "{url}"\nevery = "1h"\n'
                     'announce_backlog = true\n')
    for c in range(CHANNELS):
        lines.append(f'[[targets]]\nname = "slack-{c}"\ntype = "slack"\nchannel = "C0CH{c}"\n'
                     f'base_url = "{slack_url}"\n')
        members = ", ".join(f'"feed-{n:03d}"' for n in range(FEEDS) if n % CHANNELS == c)
        lines.append(f'[[routes]]\nsources = [{members}]\nto = ["slack-{c}"]\n')
    path = tmp_path / "herald.toml"
    path.write_text("\n".join(lines))
    return path


@pytest.mark.postgres
def test_three_workers_one_killed_every_story_posted_once(tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(7)
    with running_feed_server() as server, running_fake_slack(
            channels={f"ch{c}": f"C0CH{c}" for c in range(CHANNELS)}) as slack:
        urls = []
        shared = [(f"Shared {words(rng, 3)}", f"https://academy.example.org/shared/{k}",
                   words(rng, 40)) for k in range(20)]
        for n in range(FEEDS):
            own = (f"Post {n} {words(rng, 4)}", f"https://feed{n}.example/post/{n}",
                   words(rng, 40))
            entries = [own] + ([shared[n % 20]] if n < 40 else [])
            urls.append(server.add(f"/feed/{n}.xml", rss_feed(f"Feed {n}", entries, link=f"https://feed{n}.example/")))
        cfg = config(tmp_path, pg_url, urls, slack.base_url)
        env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG",
                                                                "DATABASE_URL")}
        env["SLACK_BOT_TOKEN"] = "xoxb-good"
        assert subprocess.run([sys.executable, "-m", "bot", "db", "upgrade", "--config",
                               str(cfg)], env=env, cwd=tmp_path, timeout=60).returncode == 0
        workers = [subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(cfg)],
                                    env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                    stderr=open(tmp_path / f"worker-{i}.log", "w"))  # noqa: SIM115
                   for i in range(3)]
        expected = FEEDS + len(shared)  # one story per announcement, shared ones once
        try:
            deadline = time.monotonic() + 60
            while len(slack.posted()) < 60 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(slack.posted()) >= 60, "the workers did not start posting"
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=10)
            deadline = time.monotonic() + 240
            while len(slack.posted()) < expected and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # let anything in flight land
        finally:
            for w in workers[1:]:
                w.send_signal(signal.SIGTERM)
            for w in workers[1:]:
                try:
                    w.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    w.kill()
        logs = "\n".join((tmp_path / f"worker-{i}.log").read_text() for i in range(3))
        assert all(w.returncode == 0 for w in workers[1:]), logs[-3000:]
        posted = slack.posted()
        ids = Counter(m["metadata"]["event_payload"]["delivery_id"] for m in posted)
        assert [d for d, n in ids.items() if n > 1] == [], "a delivery was posted twice"
        per_story = Counter(m["metadata"]["event_payload"]["story_id"] for m in posted)
        assert [s for s, n in per_story.items() if n > 1] == []
        engine = create_engine(pg_url)
        try:
            with engine.connect() as conn:
                stories = conn.execute(text("SELECT count(*) FROM stories")).scalar_one()
                statuses = dict(conn.execute(text(
                    "SELECT status, count(*) FROM deliveries GROUP BY status")).all())
                live = conn.execute(text(
                    "SELECT count(*) FROM sources WHERE lease_until > now()")).scalar_one()
        finally:
            engine.dispose()
        assert stories == expected
        assert statuses == {"sent": expected}, statuses
        assert len(posted) == expected
        assert live == 0, "a source is still claimed"
