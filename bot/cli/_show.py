"""What long-running commands show besides their result: the start-up summary of
``herald run`` and ``herald serve``, and progress bars on a terminal.

The summary is one short block on a terminal and one log record elsewhere (its fields as
the record's extras in ``--log-format json``). Progress bars are drawn only where logs are
rich (a terminal, no ``--log-format``): never in a pipe, a file or JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from bot import logs, version
from bot.cli._base import err
from bot.progress import SILENT, Progress
from bot.urls import redact_url

log = logging.getLogger("herald.cli")


def database_shown(herald: Any) -> str:
    """The database the store opened, its password hidden; an SQLite file by its absolute
    path (a relative one is opened from the working folder)."""
    url = herald.store.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return f"sqlite:///{Path(url.database).resolve()}"
    return redact_url(herald.settings.database_url)


def startup_facts(herald: Any, role: str, *, web: str | None = None) -> dict[str, Any]:
    """Which config, database, sources and targets a starting process uses."""
    sources = herald.store.list_sources()
    file = herald.settings.file
    facts: dict[str, Any] = {
        "version": version(), "role": role,
        "config": str(Path(file).resolve()) if file else "(none)",
        "database": database_shown(herald),
        "sources": len(sources), "sources_enabled": sum(1 for s in sources if s.enabled),
        "targets": list(herald.targets),
    }
    if role == "worker":
        facts["worker"] = herald.owner
    if web:
        facts["web"] = web
    return facts


def show_startup(herald: Any, role: str, *, web: str | None = None) -> None:
    """Say what this process runs on: a block on a terminal, one log record elsewhere."""
    facts = startup_facts(herald, role, web=web)
    sources = f"{facts['sources']} ({facts['sources_enabled']} enabled)"
    targets = ", ".join(facts["targets"]) or "none"
    if logs.mode() == "rich":
        rows = [("config", facts["config"]), ("database", facts["database"]),
                ("sources", sources), ("targets", targets)]
        if web:
            rows.append(("web", f"{web}  (Ctrl+C stops it)"))
        err.print(f"[bold]herald {escape(facts['version'])}[/bold] · {role}", soft_wrap=True)
        for label, value in rows:
            err.print(f"  [dim]{label:<9}[/dim]{escape(value)}", soft_wrap=True)
        return
    log.info("herald %s %s starting: config %s · database %s · sources %s · targets %s%s",
             facts["version"], role, facts["config"], facts["database"], sources, targets,
             f" · web {web}" if web else "", extra=facts)


class _Bar:
    """A :class:`bot.progress.Progress` drawn as one rich task."""

    def __init__(self, bar: Any, task: Any) -> None:
        self.bar = bar
        self.task = task
        self.total = 0

    def add_total(self, n: int) -> None:
        self.total += n
        self.bar.update(self.task, total=self.total)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)


@contextmanager
def progress_bar(description: str, *, console: Console | None = None) -> Iterator[Progress]:
    """A progress bar on the terminal while the block runs (gone when it ends), or
    :data:`bot.progress.SILENT` where logs are not rich."""
    console = console or err
    if logs.mode() != "rich" or not console.is_terminal:
        yield SILENT
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import (
        Progress as Bars,
    )

    with Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
              MofNCompleteColumn(), TimeElapsedColumn(), console=console,
              transient=True) as bars:
        yield _Bar(bars, bars.add_task(description, total=None))
