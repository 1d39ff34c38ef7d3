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
VOCABULARY = """harbour lantern orchard meadow copper violet granite willow falcon pebble
saffron thistle juniper marble cobalt ember glacier hazel indigo jasmine kestrel lagoon
mistral nutmeg obsidian paprika quartz russet sorrel tundra umber vervain walnut yarrow
zephyr acorn bramble cinder dahlia eider fennel gorse heather iris jackdaw kelp larch
moorland nettle osprey plover quince rowan sedge tansy upland vetch wren alder birch
cedar dogwood elder fir gingko hawthorn ilex juniperus kapok linden maple nyssa oak
poplar quillaja redwood spruce tamarack ulmus viburnum wisteria yew""".split()


def distinct_words(n: int, count: int = 12) -> str:
    """Words that two different ``n`` barely share, so items stay distinct stories."""
    import random

    return " ".join(random.Random(n).sample(VOCABULARY, count))


def item(n: int = 1, *, source: str = "news", title: str | None = None,
         text: str | None = None, url: str | None = "default",
         links: tuple[Link, ...] = (), source_kind: str = "feed", **kw: Any) -> Item:
    """A normalised item; each ``n`` gives distinct id, URL and wording."""
    return make_item(
        source=source, source_item_id=kw.pop("source_item_id", f"{source}-{n}"),
        url=f"https://academy.example.org/news/{n}" if url == "default" else url,
        title=title if title is not None else f"Announcement {n}: {distinct_words(n, 4)}",
        html=None, text=text if text is not None else
        f"{distinct_words(n + 10_000)} ({n}).",
        author=None, published_at=kw.pop("published_at", WHEN),
        collected_at=kw.pop("collected_at", WHEN), links=links, source_kind=source_kind, **kw)


def routing(targets: tuple[str, ...] = ("files",),
            routes: list[dict[str, Any]] | None = None) -> RoutingContext:
    taxonomy = load_taxonomy(CONFIG_DIR / "taxonomy.toml")
    route_cfgs = [RouteConfig(**r) for r in (routes or [{"to": list(targets)}])]
    return RoutingContext(taxonomy, tuple(route_cfgs), targets)


def rss_feed(title: str, entries: list[tuple[str, str, str]], *,
             link: str = "http://127.0.0.1/",
             published: str = "Tue, 18 Aug 2026 09:00:00 GMT") -> bytes:
    """An RSS 2.0 document of (title, link, description) entries, all published at once."""
    body = "".join(f"<item><title>{t}</title><link>{url}</link><guid>{url}</guid>"
                   f"<pubDate>{published}</pubDate><description>{d}"
                   f"</description></item>" for t, url, d in entries)
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>{title}</title>"
            f"<link>{link}</link><description>d</description>{body}"
            f"</channel></rss>").encode()
