"""Progress of long work: the collector, ``import x-archive`` and the digest (in
tests/test_digest.py) count what they do through ``bot.progress``, and the command line
draws a bar from it only on a terminal."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot import logs
from bot.app import Herald
from bot.cli import _show
from bot.progress import SILENT
from tests.conftest import CONFIG_DIR, ROOT, make_settings


@pytest.fixture(autouse=True)
def _own_logging() -> Iterator[None]:
    yield
    logs.reset()


class Counted:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0

    def add_total(self, n: int) -> None:
        self.total += n

    def advance(self, n: int = 1) -> None:
        self.done += n


def test_a_collection_counts_each_source_claimed_and_done(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    sample = CONFIG_DIR / "sample"
    gone = tmp_path / "gone.xml"
    gone.touch()  # there when the config is checked, gone by the poll: that source fails
    settings = make_settings(tmp_path, {"sources": [
        {"name": "news", "url": str(sample / "academy-news.xml")},
        {"name": "missing", "url": str(gone)}]})
    gone.unlink()
    herald = Herald(settings, clock=clock)
    try:
        herald.prepare()
        progress = Counted()
        stats = herald.collect(all_enabled=True, progress=progress)
    finally:
        herald.close()
    assert stats.polled == 2 and stats.errors == 1
    assert (progress.total, progress.done) == (2, 2)


def test_a_failed_source_says_when_it_is_polled_next_in_words(tmp_path: Path, clock,  # type: ignore[no-untyped-def]
                                                              caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    gone = tmp_path / "gone.xml"
    gone.touch()  # there when the config is checked, gone by the poll: the source fails
    settings = make_settings(tmp_path, {"sources": [
        {"name": "missing", "url": str(gone), "every": "15m"}]})
    gone.unlink()
    herald = Herald(settings, clock=clock)
    try:
        herald.prepare()
        with caplog.at_level(logging.WARNING, logger="herald.collect"):
            herald.collect(all_enabled=True)
    finally:
        herald.close()
    line = next(r.getMessage() for r in caplog.records if "next poll in" in r.getMessage())
    assert re.search(r"next poll in \d+ (s|min)$", line), line  # not 0:03:41.226113


def test_an_x_archive_import_in_chunks_stores_what_one_ingest_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import app, stories

    archive = ROOT / "tests" / "data" / "x-archive"
    monkeypatch.chdir(tmp_path)
    for key in ("HERALD_CONFIG", "DATABASE_URL", "HERALD_LOG_FORMAT"):
        monkeypatch.delenv(key, raising=False)
    found = {}
    for chunk in (1, 200):
        monkeypatch.setattr(stories, "IMPORT_CHUNK", chunk)
        folder = tmp_path / f"chunk-{chunk}"
        folder.mkdir()
        config = folder / "herald.toml"
        config.write_text(f'paths = {{ taxonomy = "{CONFIG_DIR / "taxonomy.toml"}" }}\n'
                          f'[database]\nurl = "sqlite:///{folder / "herald.db"}"\n',
                          encoding="utf-8")
        result = CliRunner().invoke(app, ["import", "x-archive", str(archive),
                                          "--include-replies", "--include-retweets",
                                          "--config", str(config)])
        assert result.exit_code == 0, result.output
        listed = CliRunner().invoke(app, ["stories", "--json", "--config", str(config)])
        found[chunk] = sorted(tuple(sorted(i["url"] for i in s["items"]))
                              for s in json.loads(listed.stdout))
    assert found[1] == found[200]
    assert found[1]


def test_no_bar_where_logs_are_not_rich() -> None:
    screen = StringIO()
    console = Console(file=screen, force_terminal=True)
    for mode in ("text", "json"):
        logs._state["mode"] = mode
        with _show.progress_bar("collecting", console=console) as progress:
            assert progress is SILENT
    assert screen.getvalue() == ""


def test_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    monkeypatch.setitem(logs._state, "mode", "rich")
    with _show.progress_bar("collecting", console=console) as progress:
        progress.add_total(2)
        progress.advance()
        progress.advance()
    assert "collecting" in screen.getvalue() and "2/2" in screen.getvalue()
