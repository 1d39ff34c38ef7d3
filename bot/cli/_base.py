"""What every ``herald`` command shares: the typer apps, the consoles, the global options
(``--config``, ``--log-format``, ``--version``), ``--json``, and turning Herald's errors
into one line and an exit code."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from bot import logs, version
from bot.config import Settings
from bot.errors import ConfigError, HeraldError, InvalidEdit
from bot.urls import redact_url

app = typer.Typer(help="Herald: collect, tag and republish a leadership academy's "
                       "announcements.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
#: ``herald --config FILE COMMAND``: the config given before the command's name (a
#: command's own ``--config`` wins over it); ``--log-format``.
_global: dict[str, Any] = {"config": None, "log_format": "auto"}
feeds_app = typer.Typer(help="List, add, edit, poll and remove feeds.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
outbox_app = typer.Typer(help="The delivery outbox.", invoke_without_command=True)
subscribers_app = typer.Typer(help="Digest subscribers.", no_args_is_help=True)
stories_app = typer.Typer(help="The collected stories (and fixing merges).",
                          invoke_without_command=True)
import_app = typer.Typer(help="Import posts from elsewhere.", no_args_is_help=True)
digest_app = typer.Typer(help="The weekly digest email.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts for the web app.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(outbox_app, name="outbox")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(stories_app, name="stories")
app.add_typer(import_app, name="import")
app.add_typer(digest_app, name="digest")
app.add_typer(users_app, name="users")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

CONFIG_HELP = ("Config file (default: $HERALD_CONFIG, else herald.toml in this folder, "
               "else the bundled default).")
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP,
                                                show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

T = TypeVar("T")


class LogFormat(StrEnum):
    auto = "auto"
    text = "text"
    json = "json"


LogFormatOpt = Annotated[LogFormat, typer.Option(
    "--log-format", envvar="HERALD_LOG_FORMAT", case_sensitive=False,
    help="Log lines on stderr: auto (rich on a terminal, plain text elsewhere), text, or "
         "json (one object a line).")]


def setup_logging(verbose: bool = False, *, level: int | None = None) -> str:
    """Log in the form ``--log-format`` chose (see :mod:`bot.logs`); ``level``: the lowest
    shown (default WARNING on a terminal, INFO elsewhere or with ``verbose``)."""
    return logs.configure(_global["log_format"], verbose=verbose, level=level, console=err)


def _print_version(value: bool) -> None:
    if value:
        print(f"herald {version()}")
        raise typer.Exit()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {_escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def errors() -> Iterator[None]:
    """Turn Herald's errors into one readable line and an exit code."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (ConfigError, InvalidEdit) as exc:  # the user's input: exit 2
        raise fail(str(exc), 2) from None
    except HeraldError as exc:
        raise fail(str(exc), 1) from None
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise fail(f"database error: {redact_url(detail)}", 1) from None
    except OverflowError:
        # An id or a number too large for the database or for a date (sqlite3 raises it
        # before SQLAlchemy sees it).
        raise fail("a number given is too large (an id, a count or a duration)", 2) from None


@app.callback()
def _main(config: ConfigOpt = None, log_format: LogFormatOpt = LogFormat.auto,
          _version: Annotated[bool, typer.Option(
              "--version", "-V", callback=_print_version, is_eager=True,
              help="Print Herald's version and exit.")] = False) -> None:
    """Herald: collect, tag and republish a leadership academy's announcements."""
    _global["config"] = config
    _global["log_format"] = log_format.value
    setup_logging()


def chosen_config(config: Path | None) -> Path | None:
    """The command's ``--config``, else the one given before the command's name."""
    return config if config is not None else _global["config"]


def settings_for(config: Path | None) -> Settings:
    """The chosen config, validated (composition included: channels, tags, weights)."""
    from bot.app import load_settings

    with errors():
        return load_settings(chosen_config(config))


def with_herald(config: Path | None, fn: Callable[[Any], T], *, prepare: bool = True,
                console: Console | None = None) -> T:
    from bot.app import Herald

    settings = settings_for(config)
    with errors():
        herald = Herald(settings, console=console or out)
        try:
            if prepare:
                herald.prepare()
            return fn(herald)
        finally:
            with contextlib.suppress(Exception):
                herald.close()


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "—"
