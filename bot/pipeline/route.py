"""Routing: which targets a story goes to, from the ``[[routes]]`` in config.

A route matches when every filter it gives matches: ``domains``, ``kinds``,
``programmes`` and ``sources`` each need one value in common with the story. A
route with no filters takes every story. A story goes to the union of the
targets of every route that matches, each once, and only to enabled targets.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from bot.config import RouteConfig


def _hits(wanted: Sequence[str] | None, have: Collection[str]) -> bool:
    return wanted is None or any(w in have for w in wanted)


def route(*, domains: Collection[str], kind: str, programmes: Collection[str],
          sources: Collection[str], routes: Iterable[RouteConfig],
          enabled_targets: Collection[str]) -> list[str]:
    """Target names for a story with these tags, in route order, without repeats."""
    targets: dict[str, None] = {}
    for r in routes:
        if (_hits(r.domains, domains) and _hits(r.kinds, (kind,))
                and _hits(r.programmes, programmes) and _hits(r.sources, sources)):
            for name in r.to:
                if name in enabled_targets:
                    targets[name] = None
    return list(targets)
