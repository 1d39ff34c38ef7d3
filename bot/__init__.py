"""Herald: collects a leadership academy's announcements and republishes them.

The package is laid out along the data flow (see DESIGN.md): ``sources`` emit
:class:`bot.model.Item`, ``pipeline`` turns items into stories (pure functions),
``store`` persists stories and the delivery outbox, ``dispatch`` sends through
``channels``, and ``worker``/``cli`` drive it all.
"""

__version__ = "0.1.0"


def version() -> str:
    """The installed distribution's version (``herald --version``); the source tree's
    ``__version__`` where Herald runs from a folder without being installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("herald")
    except PackageNotFoundError:
        return __version__
