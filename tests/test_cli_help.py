"""The command line's help and ``--version``: every command and option says what it is for,
in one line; flags show no ``<bool>`` (typer 0.29 shows one, hence its pin in
pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import bot
from bot.cli import app

runner = CliRunner()


def commands(cmd: Any = None, path: tuple[str, ...] = ("herald",)
             ) -> Iterator[tuple[tuple[str, ...], Any]]:
    cmd = cmd or typer.main.get_command(app)
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from commands(sub, (*path, name))


ALL = list(commands())


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_and_option_has_a_one_line_help(path: tuple[str, ...], cmd: Any
                                                      ) -> None:
    assert (cmd.help or "").strip(), f"{' '.join(path)} has no help"
    missing = [p.name for p in cmd.params if p.name != "help" and not (p.help or "").strip()]
    assert not missing, f"{' '.join(path)}: no help for {missing}"


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_help_shows_no_bool_placeholder(path: tuple[str, ...], cmd: Any) -> None:
    result = runner.invoke(app, [*path[1:], "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_run_help_says_what_once_does() -> None:
    text = " ".join(runner.invoke(app, ["run", "--help"], terminal_width=100).output.split())
    assert "--once" in text and "One full cycle" in text
    assert "--verbose" in text and "More log lines" in text
    assert "--once <bool>" not in text


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_installed_version(flag: str) -> None:
    result = runner.invoke(app, [flag])
    assert result.exit_code == 0
    assert result.stdout == f"herald {bot.version()}\n"
    assert bot.version() == "0.1.0"


def test_version_without_an_installed_distribution_is_the_source_trees(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert bot.version() == bot.__version__


def test_the_log_format_is_a_global_option_and_checked() -> None:
    result = runner.invoke(app, ["--log-format", "xml", "stories"])
    assert result.exit_code == 2
    assert "xml" in result.output and "json" in result.output
