"""``herald stories`` (list, merge, split, announce) and ``herald import x-archive``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli._base import (
    ConfigOpt,
    JsonOpt,
    _escape,
    fail,
    import_app,
    out,
    stories_app,
    with_herald,
)
from bot.cli._show import progress_bar
from bot.clock import SystemClock, local_date
from bot.durations import parse_duration
from bot.model import Delivery, KeyDate, Reminder, Story
from bot.shapes import dump, reminders_by_story, stories_out

StoryArg = Annotated[int, typer.Argument(metavar="STORY_ID", help="The story's id.")]

#: Posts stored per transaction by ``import x-archive`` (the progress bar moves by these).
IMPORT_CHUNK = 200


def _date_cell(kd: KeyDate, today: date) -> str:
    """"event 2026-09-24 09:30–13:00 Preston", "applications-close 2026-09-07 (passed)"."""
    parts = [kd.what, kd.date.isoformat(), kd.at_time, kd.place,
             "(passed)" if kd.date < today else None]
    return " ".join(p for p in parts if p)


@stories_app.callback()
def stories(ctx: typer.Context, config: ConfigOpt = None,
            since: Annotated[str | None, typer.Option(
                "--since", help="Only stories first seen in this long, e.g. 7d.")] = None,
            tag: Annotated[str | None, typer.Option("--tag", help="Only with this tag slug.")]
            = None,
            as_json: JsonOpt = False) -> None:
    """The collected stories, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    cutoff = None
    if since:
        try:
            cutoff = SystemClock().now() - parse_duration(since)
        except ValueError as exc:
            raise fail(f"--since: {exc}", 2) from None
    def read(h: Any) -> tuple[list[Story], dict[int, list[Delivery]], date,
                              dict[int, list[Reminder]]]:
        found = h.store.list_stories(since=cutoff, tag=tag)
        ids = [s.id for s in found]
        sent = h.store.deliveries_for(ids) if as_json else {}
        reminders = reminders_by_story(h.store.list_reminders(story_ids=ids)) \
            if as_json else {}
        return found, sent, local_date(h.clock.now(), h.settings.config.worker.timezone), \
            reminders

    found, sent, today, reminders = with_herald(config, read)
    if as_json:
        print(dump(stories_out(found, sent, today, reminders)))
        return
    table = Table(title=f"{len(found)} stories")
    for col in ("id", "title", "kind", "domains", "programmes", "key dates", "items"):
        table.add_column(col, overflow="fold")
    for s in found:
        table.add_row(str(s.id), _escape(s.title), s.kind, ", ".join(s.domains),
                      ", ".join(s.programmes),
                      _escape(", ".join(_date_cell(d, today) for d in s.dates)),
                      str(len(s.items)))
    out.print(table)


@stories_app.command("merge")
def stories_merge(keep: Annotated[int, typer.Argument(help="The story that stays.")],
                  other: Annotated[int, typer.Argument(help="The story merged into it.")],
                  config: ConfigOpt = None) -> None:
    """Merge story OTHER into story KEEP (they announce the same thing)."""
    report = with_herald(config, lambda h: h.store.merge_stories(keep, other, h.routing,
                                                                 h.clock.now()))
    for line in report.lines():
        out.print(_escape(line))


@stories_app.command("announce")
def stories_announce(story_id: StoryArg, config: ConfigOpt = None) -> None:
    """Announce an old entry that a new feed's first poll stored but did not announce."""
    def go(h: Any) -> tuple[Any, bool]:
        stats = h.store.announce_story(story_id, h.routing, h.clock.now())
        return stats, h.store.get_story(story_id).hold

    stats, held = with_herald(config, go)
    out.print(f"story {story_id} announced: {stats.deliveries} deliveries queued"
              + ("; it is stopped, so nothing goes out until it is let go" if held else ""))


@stories_app.command("split")
def stories_split(story_id: StoryArg,
                  item_url: Annotated[str, typer.Argument(
                      help="The URL of the item to move out (see `stories --json`).")],
                  config: ConfigOpt = None) -> None:
    """Move the item at ITEM_URL out of STORY_ID into a story of its own."""
    new_id, _ = with_herald(config, lambda h: h.store.split_item(story_id, item_url,
                                                                 h.routing, h.clock.now()))
    out.print(f"the item at {_escape(item_url)} is story {new_id} now")


@import_app.command("x-archive")
def import_x_archive(path: Annotated[Path, typer.Argument(
                         help="The unzipped archive's folder, or its data/tweets.js.")],
                     config: ConfigOpt = None,
                     source: Annotated[str | None, typer.Option(
                         "--source", help="Source name (default x-archive-<username>).")]
                     = None,
                     include_replies: Annotated[bool, typer.Option(
                         "--include-replies", help="Also replies to other accounts.")]
                     = False,
                     include_retweets: Annotated[bool, typer.Option(
                         "--include-retweets", help="Also retweets of other accounts.")]
                     = False,
                     post: Annotated[bool, typer.Option(
                         "--post", help="Also send the imported stories to the targets "
                         "(off: a backfill is stored and tagged, not announced again).")]
                     = False) -> None:
    """Import an X account's downloaded archive (folder or data/tweets.js)."""
    from bot.pipeline.normalize import is_repost
    from bot.sources.x_archive import read_archive
    from bot.store import IngestStats
    from bot.store._ingest import RoutingContext

    def go(h: Any) -> tuple[Any, Any, int]:
        with progress_bar("importing posts") as progress:
            now = h.clock.now()
            account, items = read_archive(path, source=source,
                                          include_replies=include_replies,
                                          include_retweets=include_retweets, collected_at=now)
            progress.add_total(len(items))
            ctx = h.routing if post else RoutingContext(h.taxonomy, (), (), h.routing.merge)
            # Stored in chunks, in the order one ingest would place them (reposts last, so
            # that each joins its post's story): the same stories, a moving bar.
            ordered = sorted(items, key=is_repost)
            stats = IngestStats()
            for start in range(0, len(ordered), IMPORT_CHUNK):
                chunk = ordered[start:start + IMPORT_CHUNK]
                stats.add(h.store.ingest(chunk, ctx, now))
                progress.advance(len(chunk))
        return account, stats, len(items)

    account, stats, count = with_herald(config, go)
    out.print(f"@{account.username}: {count} posts read · {stats.new_items} new items · "
              f"{len(stats.new_stories)} new stories · "
              f"{stats.new_items - len(stats.new_stories)} joined existing stories"
              + ("" if post else " (not posted: add --post to announce them)"),
              soft_wrap=True)
