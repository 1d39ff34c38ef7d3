"""Progress of long work (a collection, an X archive import, a digest run), told to whoever
shows it. The core modules call a :class:`Progress`; the command line draws rich bars with
it on a terminal (``bot.cli._show``), and everywhere else :data:`SILENT` does nothing, so
the worker and the core import no rich for it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def add_total(self, n: int) -> None:
        """``n`` more units are to be done (a batch of sources claimed, posts read)."""

    def advance(self, n: int = 1) -> None:
        """``n`` units are done."""


class _Silent:
    def add_total(self, n: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


#: Progress that nobody watches.
SILENT: Progress = _Silent()
