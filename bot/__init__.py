"""Herald: collects a leadership academy's announcements and republishes them.

The package is laid out along the data flow (see DESIGN.md): ``sources`` emit
:class:`bot.model.Item`, ``pipeline`` turns items into stories (pure functions),
``store`` persists stories and the delivery outbox, ``dispatch`` sends through
``channels``, and ``worker``/``cli`` drive it all.
"""

__version__ = "0.1.0"
