"""Log output (bot.logs) as people and machines read it: plain lines in a pipe, one JSON
object a line with ``--log-format json`` (the web server's access lines included), nothing
between the story panels of ``herald run --once``, and the start-up summary."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot import logs
from tests.test_cli import child_env, write_workspace

#: A plain log line: "2026-07-14 10:02:03Z INFO collect: …".
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
                       r"\S+: ")
CONSOLE = '[[targets]]\nname = "terminal"\ntype = "console"\n'
BOTH = '[[routes]]\nto = ["terminal", "files"]\n'


@pytest.fixture(autouse=True)
def _own_logging() -> Iterator[None]:
    """Each test's handler is taken off the root logger after it."""
    yield
    logs.reset()


# ----------------------------------------------------------------------------- formats

def test_text_lines_are_plain_and_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert logs.configure("text") == "text"
    log = logging.getLogger("herald.collect")
    log.info("polled %s: %d items", "news", 3)
    try:
        raise ValueError("bad feed")
    except ValueError:
        log.exception("unexpected error storing %s", "news")
    lines = capsys.readouterr().err.splitlines()
    assert TEXT_LINE.match(lines[0]), lines
    assert lines[0].endswith(" INFO collect: polled news: 3 items")
    assert "level=" not in lines[0] and "logger=" not in lines[0]
    assert lines[1].endswith("ERROR collect: unexpected error storing news")
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad feed"


def test_json_lines_carry_time_level_logger_message_extras_and_the_exception(
        capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json")
    log = logging.getLogger("herald.dispatch")
    log.warning("delivery %d failed", 7, extra={"target": "staff-slack",
                                                "retry_in": timedelta(minutes=2)})
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("channel crashed")
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/ 200")  # quiet
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(records) == 2
    first, second = records
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first | {"time": None} == {
        "time": None, "level": "WARNING", "logger": "herald.dispatch",
        "message": "delivery 7 failed", "target": "staff-slack", "retry_in": 120.0}
    assert second["message"] == "channel crashed"
    assert "ZeroDivisionError" in second["exc"]


@pytest.mark.slow
def test_the_log_format_comes_from_the_environment_too(tmp_path: Path) -> None:
    from tests.test_cli import herald

    config = write_workspace(tmp_path)
    result = herald(tmp_path, "run", "--once", "--config", config,
                    env=child_env(HERALD_LOG_FORMAT="json"))
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    start = next(r for r in records if r.get("role") == "run --once")
    assert start["config"] == str(config.resolve())
    assert start["database"] == f"sqlite:///{(tmp_path / 'var' / 'herald.db').resolve()}"
    assert (start["sources"], start["sources_enabled"]) == (1, 1)
    assert start["targets"] == ["files", "digest"]
    assert "Herald run complete" in result.stdout


def test_held_records_come_out_after_the_block_in_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("text")
    log = logging.getLogger("herald.dispatch")
    with logs.held():
        log.info("one")
        log.warning("two")
        print("panel", file=sys.stderr)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "panel"
    assert [line.rsplit(": ", 1)[1] for line in err[1:]] == ["one", "two"]


def test_access_lines_hide_the_tokens_of_signed_links(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    logs.configure("json")
    access = logging.getLogger("uvicorn.access")
    for path in ("/unsubscribe/eyJzIjoxfQ.Zx1.abc?x=1", "/setup/ImFkbWluIg.axE.5iq",
                 "/queue/12", "/invite/g4x7tWObSecret", "/reset/qMpuMVhkSecret",
                 "/users/3/reset-link"):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["path"] for r in records] == ["/unsubscribe/***?x=1", "/setup/***", "/queue/12",
                                            "/invite/***", "/reset/***", "/users/3/reset-link"]
    assert not any("Secret" in r["message"] for r in records)
    assert "eyJ" not in records[0]["message"] and "ImFk" not in records[1]["message"]


# ----------------------------------------------------------------------------- run --once

def _logged(lines: list[str]) -> list[str]:
    """The log lines among ``lines`` (in any format: the dispatcher's lines say "sent")."""
    return [line for line in lines if TEXT_LINE.match(line) or "sent story" in line]


def _panels_span(text: str) -> tuple[int, int]:
    lines = text.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("╭"))
    last = max(n for n, line in enumerate(lines) if line.startswith("╰"))
    return first, last


def test_run_once_prints_no_log_line_between_the_panels(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from bot.cli import app

    config = write_workspace(tmp_path, targets=CONSOLE, routes=BOTH)
    monkeypatch.chdir(tmp_path)
    for key in ("HERALD_CONFIG", "DATABASE_URL", "HERALD_LOG_FORMAT"):
        monkeypatch.delenv(key, raising=False)
    result = CliRunner().invoke(app, ["run", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    # The panels and the summary on stdout, the log lines on stderr...
    assert not _logged(result.stdout.splitlines())
    assert result.stdout.count("╭") == 3
    assert "Herald run complete" in result.stdout
    assert "sent story" in result.stderr and "polled test-news" in result.stderr
    # ...and as a terminal shows both, nothing between the first panel and the last.
    first, last = _panels_span(result.output)
    between = result.output.splitlines()[first:last + 1]
    assert not _logged(between), "\n".join(between)


@pytest.mark.slow
def test_run_once_in_one_stream_keeps_the_panels_together(tmp_path: Path) -> None:
    """stdout and stderr into one file (``> log 2>&1``), unbuffered as on a terminal."""
    config = write_workspace(tmp_path, targets=CONSOLE, routes=BOTH)
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--once", "--config",
                             str(config)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                            env=child_env(PYTHONUNBUFFERED="1"), timeout=120)
    assert result.returncode == 0, result.stdout
    first, last = _panels_span(result.stdout)
    lines = result.stdout.splitlines()
    assert not _logged(lines[first:last + 1]), result.stdout
    assert any("sent story" in line for line in lines[last:])
    assert lines[-1].startswith("Herald run complete")


@pytest.mark.slow
def test_readme_shows_the_summary_line_run_once_prints(tmp_path: Path) -> None:
    from tests.conftest import ROOT
    from tests.test_cli import flat, herald

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sample = re.search(r"```\n(Herald run complete:.*?)\n```", readme, re.S)
    assert sample, "README has no sample summary line"
    pattern = re.escape(flat(sample.group(1)))
    pattern = re.sub(r"\d+", r"\\d+", pattern)
    config = write_workspace(tmp_path)
    printed = flat(herald(tmp_path, "run", "--once", "--config", config).stdout)
    assert re.fullmatch(pattern, printed), (sample.group(1), printed)


# ----------------------------------------------------------------------------- serve

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_logs_json_lines_with_the_access_log(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--log-format", "json", "serve",
                             "--port", str(port), "--config", str(config)], cwd=tmp_path,
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8")
    guard = threading.Timer(120, proc.kill)  # a server that never starts fails, not hangs
    guard.start()
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "Application startup complete" in line:
                break
        else:
            pytest.fail("herald serve did not start:\n" + "".join(lines))
        base = f"http://127.0.0.1:{port}"
        httpx.get(f"{base}/healthz", timeout=30, trust_env=False)
        httpx.get(f"{base}/unsubscribe/eyJzIjoxfQ.Zx1.abc", timeout=30, trust_env=False)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
        lines += rest.splitlines(keepends=True)
    finally:
        guard.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert {(r["method"], r["path"]) for r in access} == {("GET", "/healthz"),
                                                          ("GET", "/unsubscribe/***")}
    assert all(isinstance(r["status"], int) for r in access)
    assert any(r["logger"] == "uvicorn.error" and "Shutting down" in r["message"]
               for r in records)
    start = next(r for r in records if r.get("role") == "web")
    assert start["web"] == f"http://127.0.0.1:{port}"
    assert start["config"] == str(config.resolve())
    assert start["targets"] == ["files", "digest"]


# ----------------------------------------------------------------------------- start-up

def test_the_start_up_summary_is_a_block_on_a_terminal(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    from io import StringIO

    from rich.console import Console

    from bot.cli import _show

    screen = StringIO()
    monkeypatch.setattr(_show, "err", Console(file=screen, width=100))
    monkeypatch.setitem(logs._state, "mode", "rich")
    facts: dict[str, Any] = {"version": "0.1.0", "role": "worker",
                             "config": "/site/herald.toml", "database": "sqlite:////x.db",
                             "sources": 3, "sources_enabled": 2, "targets": ["a", "b"]}
    monkeypatch.setattr(_show, "startup_facts", lambda *a, **k: facts)
    _show.show_startup(object(), "worker")
    shown = screen.getvalue().splitlines()
    assert shown[0] == "herald 0.1.0 · worker"
    assert [line.split() for line in shown[1:]] == [
        ["config", "/site/herald.toml"], ["database", "sqlite:////x.db"],
        ["sources", "3", "(2", "enabled)"], ["targets", "a,", "b"]]


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://herald:s3cret@127.0.0.1/herald",
     "postgresql+psycopg://herald:***@127.0.0.1/herald"),
    ("sqlite:///var/herald.db", "sqlite:///{cwd}/var/herald.db"),
])
def test_the_start_up_summary_names_the_database_without_its_password(
        url: str, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from sqlalchemy.engine import make_url

    from bot.cli._show import database_shown

    monkeypatch.chdir(tmp_path)
    herald = SimpleNamespace(store=SimpleNamespace(engine=SimpleNamespace(url=make_url(url))),
                             settings=SimpleNamespace(database_url=url))
    assert database_shown(herald) == shown.format(cwd=tmp_path.resolve())


# ----------------------------------------------------------------------------- worker

def test_a_tick_while_its_job_still_runs_is_skipped_with_one_line(
        caplog: pytest.LogCaptureFixture) -> None:
    """Instead of APScheduler's "maximum number of running instances reached" each tick."""
    from bot.worker import guarded

    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        entered.set()
        release.wait(30)

    job = guarded("collect", slow)
    first = threading.Thread(target=job)
    with caplog.at_level(logging.INFO, logger="herald.worker"):
        first.start()
        assert entered.wait(30)
        job()  # two ticks while the first run goes on
        job()
        release.set()
        first.join(30)
        job()  # the next tick runs again
    assert len(calls) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "herald.worker"]
    assert len([m for m in lines if "still running after" in m]) == 1, lines
    assert len([m for m in lines if m.startswith("collect finished in ")]) == 1, lines
