"""Herald: collects a leadership academy's announcements and republishes them.

The package is laid out along the data flow (see DESIGN.md): ``sources`` emit
:class:`bot.model.Item`, ``pipeline`` turns items into stories (pure functions),
``store`` persists stories and the delivery outbox, ``dispatch`` sends through
``channels``, and ``worker``/``cli`` drive it all.
"""

import sys as _sys

__version__ = "0.1.0"

# httpx imports its own command line (``python -m httpx``: click, rich's syntax and
# progress modules, pygments) whenever it is imported, falling back to a stub when that
# import fails. Herald never runs it; marking it absent before httpx is imported saves
# about 2.7 MB in every process (bench/RESULTS.md, "Peak memory";
# tests/test_lazy_imports.py). This leans on an httpx internal: should the name change,
# the command line is imported again, and that test says so.
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def version() -> str:
    """The installed distribution's version (``herald --version``); the source tree's
    ``__version__`` where Herald runs from a folder without being installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("herald")
    except PackageNotFoundError:
        return __version__
