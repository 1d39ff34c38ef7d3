"""Builders for test data: items, routing contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.config import RouteConfig
from bot.model import Item, Link
from bot.pipeline.normalize import make_item
from bot.pipeline.tagging import load_taxonomy
from bot.store._ingest import RoutingContext
from tests.conftest import CONFIG_DIR

WHEN = datetime(2026, 8, 18, 10, 0, tzinfo=UTC)


def item(n: int = 1, *, source: str = "news", title: str | None = None,
         text: str | None = None, url: str | None = "default",
         links: tuple[Link, ...] = (), source_kind: str = "feed", **kw: Any) -> Item:
    """A normalised item; each ``n`` gives distinct id, URL and wording."""
    return make_item(
        source=source, source_item_id=kw.pop("source_item_id", f"{source}-{n}"),
        url=f"https://academy.example.org/news/{n}" if url == "default" else url,
        title=title if title is not None else f"Announcement number {n} about our work",
        html=None, text=text if text is not None else
        f"Body of announcement {n}: details that differ for each one, number {n}.",
        author=None, published_at=kw.pop("published_at", WHEN),
        collected_at=kw.pop("collected_at", WHEN), links=links, source_kind=source_kind, **kw)


def routing(targets: tuple[str, ...] = ("files",),
            routes: list[dict[str, Any]] | None = None) -> RoutingContext:
    taxonomy = load_taxonomy(CONFIG_DIR / "taxonomy.toml")
    route_cfgs = [RouteConfig(**r) for r in (routes or [{"to": list(targets)}])]
    return RoutingContext(taxonomy, tuple(route_cfgs), targets)
