"""The real command line, run as ``python -m bot`` in a child process.

Each test works in its own folder (the child's working directory), so ``var/``
with its SQLite file and outbox lands there. Most tests use a small config and
feed written into that folder; only the default-config test reads the bundled
samples. HERALD_CONFIG and DATABASE_URL are removed from the child's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONFIG_DIR

pytestmark = pytest.mark.slow

TIMEOUT = 120
TAXONOMY = CONFIG_DIR / "taxonomy.toml"
DEFAULT_TOML = CONFIG_DIR / "default.toml"

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Test academy</title>
    <link>https://test-academy.example/</link>
    <description>Announcements for the command line tests.</description>
    <item>
      <title>Applications open for the next cohort of our leadership development programme</title>
      <link>https://test-academy.example/news/new-cohort</link>
      <guid isPermaLink="false">test-academy-1</guid>
      <pubDate>Mon, 02 Nov 2026 09:00:00 +0000</pubDate>
      <description>Fully funded places on a new cohort, with a masterclass and webinars.
        Applications close on 30 November 2026.</description>
    </item>
    <item>
      <title>One-to-one executive coaching for new leaders</title>
      <link>https://test-academy.example/news/coaching</link>
      <guid isPermaLink="false">test-academy-2</guid>
      <pubDate>Tue, 03 Nov 2026 10:00:00 +0000</pubDate>
      <description>Book six coaching sessions with an accredited coach to build resilience
        and confidence.</description>
    </item>
    <item>
      <title>Our community of practice met in Preston</title>
      <link>https://test-academy.example/news/cop</link>
      <guid isPermaLink="false">test-academy-3</guid>
      <pubDate>Wed, 04 Nov 2026 11:00:00 +0000</pubDate>
      <description>Partners from across the integrated care system came together to share
        what they learned about place based working.</description>
    </item>
  </channel>
</rss>
"""

STORY_KEYS = {"id", "title", "url", "summary", "kind", "tags", "dates", "items",
              "first_seen", "updated_at"}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    env.update(extra)
    return env


def herald(cwd: Path, *args: str | Path, env: dict[str, str] | None = None,
           code: int | None = 0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot ARGS`` in cwd; check the exit code unless code is None."""
    result = subprocess.run([sys.executable, "-m", "bot", *map(str, args)], cwd=cwd,
                            env=env or child_env(), capture_output=True, text=True,
                            encoding="utf-8", timeout=TIMEOUT)
    if code is not None:
        assert result.returncode == code, (
            f"exit {result.returncode}, expected {code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def flat(text: str) -> str:
    """Text with all runs of whitespace made one space (rich wraps at the terminal width)."""
    return " ".join(text.split())


def summary_counts(stdout: str) -> dict[str, int]:
    text = flat(stdout)
    assert "Herald run complete" in text, stdout
    found = {}
    for label in ("new items", "new stories", "deliveries sent"):
        match = re.search(rf"(\d+) {label}", text)
        assert match, f"no '{label}' in the summary: {text}"
        found[label] = int(match.group(1))
    return found


def outbox_files(root: Path) -> list[Path]:
    folder = root / "var" / "outbox"
    return sorted(folder.rglob("*.json")) if folder.exists() else []


def write_workspace(root: Path, targets: str = "", routes: str = "") -> Path:
    """A feed and a config in root; returns the config path."""
    (root / "feed.xml").write_text(FEED, encoding="utf-8")
    config = root / "herald.toml"
    config.write_text(
        f"paths = {{ taxonomy = {json.dumps(str(TAXONOMY))} }}\n"
        '[[sources]]\nname = "test-news"\nurl = "feed.xml"\nevery = "15m"\n'
        'announce_backlog = true\n'
        '[[targets]]\nname = "files"\ntype = "file"\n'
        + targets
        + (routes or '[[routes]]\nto = ["files"]\n'),
        encoding="utf-8")
    return config


def json_out(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder with its own config where one `run --once` has collected the test feed."""
    root = tmp_path_factory.mktemp("collected")
    config = write_workspace(root)
    herald(root, "run", "--once", "--config", config)
    return root, config


# ----------------------------------------------------------------------------- run

def test_default_config_runs_once_then_finds_nothing_new(tmp_path: Path) -> None:
    # No --config, no HERALD_CONFIG and no herald.toml in the working folder: Herald runs
    # the embedded default (bot/data/default.toml) on its bundled sample feeds, with var/
    # in the working folder.
    first = herald(tmp_path, "run", "--once")
    counts = summary_counts(first.stdout)
    assert counts["new stories"] > 0
    assert counts["deliveries sent"] > 0
    files = outbox_files(tmp_path)
    assert files, "the file target wrote nothing under var/outbox/"
    assert (tmp_path / "var" / "herald.db").exists()
    for path in files:
        body = json.loads(path.read_text(encoding="utf-8"))
        assert body["payload"]["title"]

    second = herald(tmp_path, "run", "--once")
    again = summary_counts(second.stdout)
    assert again["new stories"] == 0
    assert again["deliveries sent"] == 0
    assert outbox_files(tmp_path) == files


def test_own_config_run_once_collects_and_delivers(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    counts = summary_counts(herald(tmp_path, "run", "--once", "--config", config).stdout)
    assert counts == {"new items": 3, "new stories": 3, "deliveries sent": 3}
    files = outbox_files(tmp_path)
    assert len(files) == 3
    assert {p.parent.name for p in files} == {"files"}

    counts = summary_counts(herald(tmp_path, "run", "--once", "--config", config).stdout)
    assert counts == {"new items": 0, "new stories": 0, "deliveries sent": 0}
    assert outbox_files(tmp_path) == files


def test_herald_config_variable_picks_the_file(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    result = herald(tmp_path, "run", "--once", env=child_env(HERALD_CONFIG=str(config)))
    assert summary_counts(result.stdout)["new stories"] == 3


# ----------------------------------------------------------------------------- stories

def test_stories_json_has_the_documented_shape(collected: tuple[Path, Path]) -> None:
    root, config = collected
    stories = json_out(herald(root, "stories", "--json", "--config", config))
    assert isinstance(stories, list)
    assert len(stories) == 3
    for story in stories:
        assert set(story) >= STORY_KEYS, STORY_KEYS - set(story)
        assert isinstance(story["id"], int)
        assert story["title"] and story["url"].startswith("https://test-academy.example/")
        assert story["tags"], f"story {story['title']!r} has no tags"
        for tag in story["tags"]:
            assert {"slug", "group", "reason"} <= set(tag)
            assert tag["group"] in ("domain", "kind", "programme")
        kinds = [t["slug"] for t in story["tags"] if t["group"] == "kind"]
        assert kinds == [story["kind"]]
        for found in story["dates"]:
            assert set(found) >= {"what", "date", "at_time", "place", "passed"}
            date.fromisoformat(found["date"])
            assert isinstance(found["passed"], bool)
        assert story["items"]
        for item in story["items"]:
            assert {"source", "url", "title", "published_at"} <= set(item)
            assert item["source"] == "test-news"
            assert datetime.fromisoformat(item["published_at"]).tzinfo is not None
        first_seen = datetime.fromisoformat(story["first_seen"])
        assert first_seen.tzinfo is not None
        assert datetime.fromisoformat(story["updated_at"]) >= first_seen

    by_url = {s["url"]: s for s in stories}
    cohort = by_url["https://test-academy.example/news/new-cohort"]
    assert "2026-11-30" in [d["date"] for d in cohort["dates"]]
    # The CLI runs on the real clock, and that date is behind it for good.
    assert all(d["passed"] for d in cohort["dates"] if d["date"] == "2026-11-30")
    coaching = by_url["https://test-academy.example/news/coaching"]
    assert "individual-effectiveness" in [t["slug"] for t in coaching["tags"]]


def test_stories_tag_filter(collected: tuple[Path, Path]) -> None:
    root, config = collected
    everything = json_out(herald(root, "stories", "--json", "--config", config))
    tagged = json_out(herald(root, "stories", "--tag", "learning-capacity", "--json",
                             "--config", config))
    expected = {s["id"] for s in everything
                if "learning-capacity" in [t["slug"] for t in s["tags"]]}
    assert tagged
    assert {s["id"] for s in tagged} == expected
    assert len(tagged) < len(everything)
    nothing = json_out(herald(root, "stories", "--tag", "no-such-tag", "--json",
                              "--config", config))
    assert nothing == []


def test_stories_since(collected: tuple[Path, Path]) -> None:
    root, config = collected
    recent = json_out(herald(root, "stories", "--since", "7d", "--json", "--config", config))
    assert len(recent) == 3
    table = herald(root, "stories", "--since", "7d", "--config", config)
    assert "3 stories" in table.stdout


def test_stories_since_rejects_a_bad_duration(collected: tuple[Path, Path]) -> None:
    root, config = collected
    result = herald(root, "stories", "--since", "soon", "--config", config, code=2)
    assert "--since" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- feeds

def test_feeds_add_list_remove(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    extra = tmp_path / "extra.xml"
    extra.write_text(FEED, encoding="utf-8")

    added = herald(tmp_path, "feeds", "add", extra, "--name", "extra", "--every", "5m",
                   "--config", config)
    assert "extra" in added.stdout

    feeds = {f["name"]: f for f in json_out(herald(tmp_path, "feeds", "list", "--json",
                                                   "--config", config))}
    assert set(feeds) == {"test-news", "extra"}
    assert feeds["extra"]["origin"] == "database"
    assert feeds["extra"]["every"] == "5m"
    assert feeds["extra"]["url"] == str(extra.resolve())
    assert feeds["test-news"]["origin"] == "config"
    assert feeds["test-news"]["every"] == "15m"

    herald(tmp_path, "feeds", "remove", "extra", "--config", config)
    feeds = json_out(herald(tmp_path, "feeds", "list", "--json", "--config", config))
    assert [f["name"] for f in feeds] == ["test-news"]


def test_feeds_remove_refuses_a_config_feed(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    result = herald(tmp_path, "feeds", "remove", "test-news", "--config", config, code=None)
    assert result.returncode != 0
    assert "test-news" in result.stderr
    assert "config file" in result.stderr
    assert "Traceback" not in result.stderr
    feeds = json_out(herald(tmp_path, "feeds", "list", "--json", "--config", config))
    assert [f["name"] for f in feeds] == ["test-news"]


def test_feeds_add_rejects_a_missing_file_and_a_bad_interval(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    missing = herald(tmp_path, "feeds", "add", tmp_path / "nope.xml", "--name", "nope",
                     "--config", config, code=2)
    assert "no such file" in missing.stderr
    bad_every = herald(tmp_path, "feeds", "add", tmp_path / "feed.xml", "--name", "again",
                       "--every", "often", "--config", config, code=2)
    assert "--every" in bad_every.stderr
    for result in (missing, bad_every):
        assert "Traceback" not in result.stderr


def test_feeds_add_refuses_a_name_in_use(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    result = herald(tmp_path, "feeds", "add", tmp_path / "feed.xml", "--name", "test-news",
                    "--config", config, code=None)
    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- outbox

def test_outbox_lists_sent_deliveries(collected: tuple[Path, Path]) -> None:
    root, config = collected
    every = json_out(herald(root, "outbox", "--json", "--config", config))
    # The digest is a target too: its rows wait for the next digest.
    assert {r["status"] for r in every if r["target"] == "digest"} == {"pending"}
    rows = [r for r in every if r["target"] != "digest"]
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "sent"
        assert row["target"] == "files"
        assert Path(row["external_id"]).exists()
        assert row["sent_at"]
    assert json_out(herald(root, "outbox", "--status", "sent", "--json",
                           "--config", config)) == rows
    assert json_out(herald(root, "outbox", "--status", "failed", "--json",
                           "--config", config)) == []
    table = herald(root, "outbox", "--status", "failed", "--config", config)
    assert "Outbox (0)" in table.stdout


def test_outbox_rejects_an_unknown_status(collected: tuple[Path, Path]) -> None:
    root, config = collected
    result = herald(root, "outbox", "--status", "lost", "--config", config, code=2)
    assert "pending" in result.stderr and "dead" in result.stderr


def test_outbox_retry_of_an_unknown_delivery_fails_clearly(collected: tuple[Path, Path]) -> None:
    root, config = collected
    result = herald(root, "outbox", "retry", "999999", "--config", config, code=None)
    assert result.returncode != 0
    assert "999999" in result.stderr
    assert "no delivery" in result.stderr
    assert "Traceback" not in result.stderr


def test_failed_delivery_is_listed_and_can_be_retried(tmp_path: Path) -> None:
    # A file target whose folder would sit under a regular file cannot write anything.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder\n", encoding="utf-8")
    config = write_workspace(
        tmp_path,
        targets=f'[[targets]]\nname = "broken"\ntype = "file"\n'
                f"dir = {json.dumps(str(blocker / 'out'))}\n",
        routes='[[routes]]\nto = ["files", "broken"]\n')
    run = herald(tmp_path, "run", "--once", "--config", config, code=4)  # deliveries failed
    assert "3 failed" in flat(run.stdout)

    failed = json_out(herald(tmp_path, "outbox", "--status", "failed", "--json",
                             "--config", config))
    assert len(failed) == 3
    assert {d["target"] for d in failed} == {"broken"}
    assert all("cannot write" in d["last_error"] for d in failed)
    sent = json_out(herald(tmp_path, "outbox", "--status", "sent", "--json",
                           "--config", config))
    assert {d["target"] for d in sent} == {"files"}

    chosen = failed[0]["id"]
    retried = herald(tmp_path, "outbox", "retry", str(chosen), "--config", config)
    assert "queued again" in retried.stdout
    rows = {d["id"]: d for d in json_out(herald(tmp_path, "outbox", "--json",
                                                "--config", config))}
    assert rows[chosen]["status"] == "pending"

    refused = herald(tmp_path, "outbox", "retry", str(sent[0]["id"]), "--config", config,
                     code=None)
    assert refused.returncode != 0
    assert "only failed or dead" in refused.stderr


# ----------------------------------------------------------------------------- config, db

def test_config_check_never_prints_a_secret(tmp_path: Path) -> None:
    config = write_workspace(
        tmp_path, targets='[[targets]]\nname = "feeds-with-login"\ntype = "console"\n')
    text = config.read_text(encoding="utf-8").replace(
        'url = "feed.xml"', 'url = "https://reader:feedpass@feeds.example/news.xml"')
    config.write_text(text, encoding="utf-8")
    env = child_env(DATABASE_URL="postgresql+psycopg://u:hunter2@127.0.0.1/db")
    result = herald(tmp_path, "config", "check", "--config", config, env=env)
    output = result.stdout + result.stderr
    assert "ok" in result.stdout
    assert str(config) in flat(result.stdout)
    assert "hunter2" not in output
    assert "feedpass" not in output
    assert "u:***@127.0.0.1" in output
    assert "test-news" in output and "files" in output


def test_config_check_refuses_a_reminders_switch_that_is_not_true_or_false(
        tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    config.write_text(config.read_text(encoding="utf-8")
                      + '\n[reminders]\nenabled = "yes"\n', encoding="utf-8")
    result = herald(tmp_path, "config", "check", "--config", config, code=2)
    said = flat(result.stderr)
    assert str(config) in said and "key 'reminders.enabled'" in said
    assert "'yes' is not true or false" in said and "Traceback" not in result.stderr


def test_config_check_of_the_default_config(tmp_path: Path) -> None:
    result = herald(tmp_path, "config", "check", "--config", DEFAULT_TOML)
    assert "ok" in result.stdout
    assert "academy-news" in result.stdout


def test_db_upgrade_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    db = tmp_path / "fresh" / "herald.db"
    db.parent.mkdir()
    env = child_env(DATABASE_URL=f"sqlite:///{db}")
    result = herald(tmp_path, "db", "upgrade", "--config", config, env=env)
    assert "up to date" in flat(result.stdout)
    assert db.exists()
    # A second upgrade has nothing to do and still succeeds.
    herald(tmp_path, "db", "upgrade", "--config", config, env=env)


@pytest.mark.parametrize(("name", "text", "key"), [
    ("route", '[[routes]]\nto = ["nowhere"]\n', "routes[0].to"),
    ("interval", '[[sources]]\nname = "news"\nurl = "a.xml"\nevery = "soon"\n',
     "sources[0] (news).every"),
], ids=["route-to-unknown-target", "bad-interval"])
def test_bad_config_exits_2_with_one_line_and_no_traceback(
        tmp_path: Path, name: str, text: str, key: str) -> None:
    config = tmp_path / f"bad-{name}-config-with-a-long-enough-name-to-wrap.toml"
    config.write_text(
        f"paths = {{ taxonomy = {json.dumps(str(TAXONOMY))} }}\n"
        '[[targets]]\nname = "files"\ntype = "file"\n' + text, encoding="utf-8")
    result = herald(tmp_path, "run", "--once", "--config", config, code=2)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(config) in lines[0]
    assert f"'{key}'" in lines[0]
    assert not (tmp_path / "var").exists(), "a bad config must stop before touching var/"


def test_invalid_toml_and_missing_file_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("sources = [\n", encoding="utf-8")
    result = herald(tmp_path, "stories", "--config", broken, code=2)
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr
    missing = tmp_path / "missing.toml"
    result = herald(tmp_path, "feeds", "list", "--config", missing, code=2)
    assert str(missing) in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = herald(tmp_path, "--help")
    for command in ("run", "stories", "feeds", "outbox", "config", "db"):
        assert re.search(rf"\b{command}\b", result.stdout), command
