"""``herald feeds``: list, add, edit, poll now and remove feeds."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli._base import (
    ConfigOpt,
    JsonOpt,
    _escape,
    _when,
    err,
    fail,
    feeds_app,
    out,
    with_herald,
)
from bot.durations import format_duration
from bot.shapes import FeedOut, dump
from bot.urls import redact_url

DisplayNameOpt = Annotated[str | None, typer.Option(
    "--title", "--display-name",
    help="What people see, such as \"Academy news\" (default: the page's title for the "
         "feed, else the name).")]


@feeds_app.command("list")
def feeds_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every source, from the config file and from `feeds add`, with its poll state (its
    last error in plain words)."""
    from bot.sources.plain import plain_error

    def show(herald: Any) -> None:
        rows = herald.store.list_sources()
        if as_json:
            print(dump(FeedOut.of(r) for r in rows))
            return
        table = Table(title="Feeds")
        for col in ("name", "display name", "from", "url", "every", "last poll",
                    "next poll", "errors", "last error"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.name, _escape(r.display_name or ""),
                          "config file" if r.origin == "config" else "feeds add",
                          redact_url(r.url), format_duration(r.every), _when(r.last_polled_at),
                          _when(r.next_poll_at) if r.enabled and not r.paused else "paused",
                          str(r.error_count),
                          _escape(plain_error(r.last_error).words if r.last_error
                                  else _warned(r.warnings)))
        out.print(table)

    with_herald(config, show)


def _warned(warnings: list[str]) -> str:
    """A source's warnings in one cell: the first, and how many more."""
    if not warnings:
        return ""
    more = f" (+{len(warnings) - 1} more: feeds list --json)" if len(warnings) > 1 else ""
    return f"warning: {warnings[0]}{more}"


def _refused(exc: Exception, fields: dict[str, str]) -> typer.Exit:
    """One error line (in plain words), and the technical detail on the next."""
    from bot.sources.plain import Unreadable
    from bot.usecases.feeds import FeedRefused

    if isinstance(exc, FeedRefused):
        return fail(f"{fields.get(exc.field, '')}{exc}", 2)
    if isinstance(exc, Unreadable) and exc.detail != exc.message:
        err.print(f"detail: {_escape(redact_url(exc.detail))}", soft_wrap=True)
    return fail(str(exc), 1)


def _several(exc: Any) -> typer.Exit:
    lines = [f"{redact_url(exc.site)} links {len(exc.choices)} feeds; choose one with "
             "--pick N or give its address:"]
    lines += [f"  {i}. {c.feed.display_name or c.format or 'feed'} ({c.format}, "
              f"{c.count} entries): {redact_url(c.feed.url)}"
              for i, c in enumerate(exc.choices, 1)]
    out.print(_escape("\n".join(lines)), soft_wrap=True)
    return typer.Exit(3)


@feeds_app.command("add")
def feeds_add(url: Annotated[str, typer.Argument(
                  help="The feed's address, a site's page that links its feed, or a local "
                       "path.")],
              title: DisplayNameOpt = None,
              name: Annotated[str | None, typer.Option(
                  "--name", help="Its name in Herald (default: made from the display name "
                                 "or the address).")] = None,
              every: Annotated[str, typer.Option("--every", help="Poll interval.")] = "15m",
              pick: Annotated[int | None, typer.Option(
                  "--pick", min=1, help="When the page links several feeds: which (1, 2...).")]
              = None,
              announce_backlog: Annotated[bool, typer.Option(
                  "--announce-backlog",
                  help="Announce the entries its first poll finds that are older than "
                       "worker.announce_since (by default they are stored, not announced)."
              )] = False,
              config: ConfigOpt = None) -> None:
    """Add a feed (kept in the database), after one fetch through the SSRF guard shows it
    is a feed and not one already there (as the web app's feed form does). A site's page
    is read for the feeds it links: the only one is taken; of several, --pick chooses.
    Its first poll is a backfill: older entries are stored and tagged but not announced,
    unless --announce-backlog."""
    from bot.errors import HeraldError
    from bot.usecases.feeds import SeveralFeeds, add_checked, check_feed, new_feed

    fields = {"name": "--name: ", "every": "--every: ", "display_name": "--title: "}
    try:
        feed = new_feed(url, name, every, display_name=title, allow_local=True)
    except HeraldError as exc:
        raise _refused(exc, fields) from None

    def add(herald: Any) -> Any:
        try:
            check = check_feed(herald, feed)
        except SeveralFeeds as several:
            if pick is None:
                raise _several(several) from None
            if pick > len(several.choices):
                raise fail(f"--pick {pick}: the page links {len(several.choices)} feeds",
                           2) from None
            check = several.choices[pick - 1]
        except HeraldError as exc:
            raise _refused(exc, fields) from None
        return add_checked(herald, check, announce_backlog=announce_backlog), check

    row, check = with_herald(config, add)
    found = f" (linked from {_escape(redact_url(check.site))})" if check.site else ""
    out.print(f"added feed [bold]{row.name}[/bold]"
              + (f" “{_escape(row.display_name)}”" if row.display_name else "")
              + f" ({_escape(redact_url(row.url))}){found}, every "
              f"{format_duration(row.every)}, {check.count} entries found; "
              + ("its old entries will be announced too" if row.announce_backlog else
                 "its first poll announces only recent entries"), soft_wrap=True)
    if check.warning:
        out.print(f"warning: {check.warning}", soft_wrap=True)


@feeds_app.command("edit")
def feeds_edit(name: Annotated[str, typer.Argument(help="The feed's name.")],
               url: Annotated[str | None, typer.Option(
                   "--url", help="A new address (checked as `feeds add` checks one).")]
               = None,
               title: DisplayNameOpt = None,
               every: Annotated[str | None, typer.Option("--every", help="Poll interval.")]
               = None,
               config: ConfigOpt = None) -> None:
    """Change a feed's address, display name (--title "" clears it) or poll interval; its
    name stays. Feeds from the config file are changed in the file."""
    from bot.errors import HeraldError
    from bot.usecases.feed_edit import edit_feed
    from bot.usecases.feeds import SeveralFeeds

    fields = {"url": "--url: ", "every": "--every: ", "display_name": "--title: "}

    def edit(herald: Any) -> Any:
        try:
            return edit_feed(herald, name, url=url, display_name=title, every=every,
                             allow_local=True)[0]
        except SeveralFeeds as several:
            raise _several(several) from None
        except HeraldError as exc:
            raise _refused(exc, fields) from None

    row = with_herald(config, edit)
    out.print(f"feed [bold]{row.name}[/bold]: {_escape(row.shown_name)}, "
              f"{_escape(redact_url(row.url))}, every {format_duration(row.every)}",
              soft_wrap=True)


@feeds_app.command("poll")
def feeds_poll(name: Annotated[str, typer.Argument(help="The feed's name.")],
               config: ConfigOpt = None) -> None:
    """Make a feed due now: the running worker polls it on its next round (`herald
    collect` polls every due feed at once)."""
    from bot.usecases.feed_edit import poll_now

    row = with_herald(config, lambda h: poll_now(h, name))
    out.print(f"feed [bold]{row.name}[/bold] is due now: the worker polls it on its next "
              "round", soft_wrap=True)


@feeds_app.command("remove")
def feeds_remove(name: Annotated[str, typer.Argument(help="The feed's name.")],
                 config: ConfigOpt = None) -> None:
    """Remove a feed added with `feeds add` (its stories stay)."""
    with_herald(config, lambda h: h.store.remove_source(name))
    out.print(f"removed feed [bold]{name}[/bold]")
