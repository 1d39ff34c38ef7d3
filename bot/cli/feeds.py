"""``herald feeds``: list, add and remove feeds."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli._base import (
    ConfigOpt,
    JsonOpt,
    _escape,
    _when,
    fail,
    feeds_app,
    out,
    with_herald,
)
from bot.durations import format_duration
from bot.shapes import FeedOut, dump
from bot.urls import redact_url


@feeds_app.command("list")
def feeds_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every source, from the config file and from `feeds add`, with its poll state."""
    def show(herald: Any) -> None:
        rows = herald.store.list_sources()
        if as_json:
            print(dump(FeedOut.of(r) for r in rows))
            return
        table = Table(title="Feeds")
        for col in ("name", "from", "url", "every", "last poll", "next poll", "errors",
                    "last error"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.name, "config file" if r.origin == "config" else "feeds add",
                          redact_url(r.url), format_duration(r.every), _when(r.last_polled_at),
                          _when(r.next_poll_at) if r.enabled else "paused",
                          str(r.error_count), _escape(r.last_error or ""))
        out.print(table)

    with_herald(config, show)


@feeds_app.command("add")
def feeds_add(url: Annotated[str, typer.Argument(help="Feed URL or local path.")],
              name: Annotated[str | None, typer.Option(
                  "--name", help="Its name in Herald (default: from the URL or file).")]
              = None,
              every: Annotated[str, typer.Option("--every", help="Poll interval.")] = "15m",
              announce_backlog: Annotated[bool, typer.Option(
                  "--announce-backlog",
                  help="Announce the entries its first poll finds that are older than "
                       "worker.announce_since (by default they are stored, not announced)."
              )] = False,
              config: ConfigOpt = None) -> None:
    """Add a feed (kept in the database), after one fetch through the SSRF guard shows it
    is a feed and not one already there (as the web app's feed form does). Its first poll
    is a backfill: older entries are stored and tagged but not announced, unless
    --announce-backlog."""
    from bot.usecases.feeds import FeedRefused, add_feed, new_feed

    try:
        feed = new_feed(url, name, every, allow_local=True)
    except FeedRefused as exc:
        where = {"name": "--name: ", "every": "--every: "}.get(exc.field, "")
        raise fail(f"{where}{exc}", 2) from None
    row, check = with_herald(config, lambda h: add_feed(h, feed,
                                                        announce_backlog=announce_backlog))
    out.print(f"added feed [bold]{row.name}[/bold] ({_escape(redact_url(row.url))}), every "
              f"{format_duration(row.every)}, {check.count} entries found; "
              + ("its old entries will be announced too" if row.announce_backlog else
                 "its first poll announces only recent entries"), soft_wrap=True)


@feeds_app.command("remove")
def feeds_remove(name: Annotated[str, typer.Argument(help="The feed's name.")],
                 config: ConfigOpt = None) -> None:
    """Remove a feed added with `feeds add` (its stories stay)."""
    with_herald(config, lambda h: h.store.remove_source(name))
    out.print(f"removed feed [bold]{name}[/bold]")
