"""`herald run --once` publishing for real: the CLI, the loopback Slack and Teams servers,
each new story once per routed target, nothing on the second run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR
from tests.fakes.slack_server import running_fake_slack
from tests.fakes.teams_webhook import running_teams_webhook

pytestmark = pytest.mark.slow

CONFIG = """
[database]
url = "sqlite:///{db}"

[paths]
taxonomy = "{taxonomy}"
outbox = "{outbox}"

[[sources]]
name = "academy-news"
url = "{news}"
announce_backlog = true

[[sources]]
name = "academy-x-posts"
url = "{posts}"
announce_backlog = true

[[targets]]
name = "staff-slack"
type = "slack"
channel = "#academy-news"
base_url = "{slack}"

[[targets]]
name = "staff-teams"
type = "teams"

[[targets]]
name = "coaching-slack"
type = "slack"
channel = "C0COACH"
base_url = "{slack}"

[[routes]]
to = ["staff-slack", "staff-teams"]

[[routes]]
kinds = ["coaching-offer"]
to = ["coaching-slack"]
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_run_once_posts_each_story_once_per_routed_target(tmp_path: Path) -> None:
    with running_fake_slack(channels={"academy-news": "C0NEWS", "coaching": "C0COACH"}) as slack, \
            running_teams_webhook() as teams:
        config = tmp_path / "herald.toml"
        config.write_text(CONFIG.format(
            db=tmp_path / "herald.db", taxonomy=CONFIG_DIR / "taxonomy.toml",
            outbox=tmp_path / "outbox", news=CONFIG_DIR / "sample" / "academy-news.xml",
            posts=CONFIG_DIR / "sample" / "nwla-posts.json", slack=slack.base_url))
        env = {k: v for k, v in os.environ.items()
               if k not in ("HERALD_CONFIG", "DATABASE_URL", "SLACK_BOT_TOKEN")}
        env.update(SLACK_BOT_TOKEN="xoxb-good", TEAMS_WEBHOOK_URL=teams.url)
        first = run(["run", "--once", "--config", str(config)], tmp_path, env)
        assert first.returncode == 0, first.stderr
        stories = json.loads(run(["stories", "--json", "--config", str(config)], tmp_path,
                                 env).stdout)
        assert stories
        news = slack.posted("C0NEWS")
        assert len(news) == len(stories)
        assert len(teams.received) == len(stories)
        coaching = [s for s in stories if s["kind"] == "coaching-offer"]
        assert coaching and len(slack.posted("C0COACH")) == len(coaching)
        # Each Slack message names its delivery, and no two messages share one.
        ids = [m["metadata"]["event_payload"]["delivery_id"] for m in slack.posted()]
        assert len(ids) == len(set(ids))
        titles = sorted(m["blocks"][0]["text"]["text"] for m in news)
        assert titles == sorted(s["title"] for s in stories)

        second = run(["run", "--once", "--config", str(config)], tmp_path, env)
        assert second.returncode == 0, second.stderr
        assert "0 deliveries sent" in " ".join(second.stdout.split())
        assert len(slack.posted()) == len(news) + len(coaching)
        assert len(teams.received) == len(stories)
        outbox = json.loads(run(["outbox", "--json", "--config", str(config)], tmp_path,
                                env).stdout)
        # (The digest is a target too: its rows wait for the weekly digest.)
        assert {d["status"] for d in outbox if d["target"] != "digest"} == {"sent"}


def test_without_tokens_read_only_commands_start_and_config_check_names_each_missing_one(
        tmp_path: Path) -> None:
    # Before, loading the config demanded every channel's secret: `stories`, `outbox` and
    # `feeds list` stopped with "SLACK_BOT_TOKEN is not set", though none of them sends.
    config = tmp_path / "herald.toml"
    config.write_text(CONFIG.format(
        db=tmp_path / "herald.db", taxonomy=CONFIG_DIR / "taxonomy.toml",
        outbox=tmp_path / "outbox", news=CONFIG_DIR / "sample" / "academy-news.xml",
        posts=CONFIG_DIR / "sample" / "nwla-posts.json", slack="http://127.0.0.1:9/api/"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("HERALD_CONFIG", "DATABASE_URL", "SLACK_BOT_TOKEN",
                        "TEAMS_WEBHOOK_URL")}
    for command in (["stories"], ["outbox"], ["feeds", "list"]):
        started = run([*command, "--config", str(config)], tmp_path, env)
        assert started.returncode == 0, (command, started.stderr)
        assert "SLACK_BOT_TOKEN" not in started.stderr
    result = run(["config", "check", "--config", str(config)], tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = " ".join(result.stdout.split())
    assert "missing secret SLACK_BOT_TOKEN: target staff-slack (slack) needs it" in lines
    assert "missing secret SLACK_BOT_TOKEN: target coaching-slack (slack) needs it" in lines
    assert "missing secret TEAMS_WEBHOOK_URL: target staff-teams (teams) needs it" in lines
    assert "Traceback" not in result.stderr
