"""The ``herald`` command line (typer + rich; ``--json`` where a script would read it).

One module per command group; ``bot.cli._base`` holds what they share. Every command
takes ``--config PATH`` (before or after the command's name) or ``HERALD_CONFIG``;
without either, ``herald.toml`` in the working folder (``herald init`` writes one), else
the bundled default config. Errors print one line naming what was wrong and exit
non-zero, without a traceback.
"""

from __future__ import annotations

import os

from bot.cli import (  # noqa: F401  (each module adds its commands to the apps)
    admin,
    digest,
    edits,
    feeds,
    init,
    outbox,
    reminders,
    run,
    serve,
    stories,
    subscribers,
    tags,
    users,
)
from bot.cli._base import app
from bot.cli.tags import tags_app

app.add_typer(tags_app, name="tags")

__all__ = ["app", "main"]


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
