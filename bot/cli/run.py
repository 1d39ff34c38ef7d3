"""``herald run``: the worker, or one full cycle with ``--once``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from bot.cli._base import (
    ConfigOpt,
    _escape,
    app,
    out,
    setup_logging,
    with_herald,
)
from bot.cli._show import progress_bar, show_startup


def _once(herald: Any) -> tuple[Any, Any]:
    """One cycle, then the web app's queued emails (``bot.outmail``), as the worker would.

    Log lines go to stderr, panels and the summary to stdout; while the console channel
    prints its panels, log lines wait and follow them, so the two never interleave."""
    from bot import logs
    from bot.outmail import send_outmail

    show_startup(herald, "run --once")
    panels = any(ch.name == "console" for ch in herald.channels.values())
    stats = herald.cycle(collecting=progress_bar("collecting"),
                         dispatching=logs.held() if panels else None)
    return stats, send_outmail(herald)


def _worker(herald: Any) -> None:
    from bot.worker import run_worker

    run_worker(herald, on_prepared=lambda: show_startup(herald, "worker"),
               first_collection=lambda: progress_bar("first collection"))


@app.command()
def run(config: ConfigOpt = None,
        once: Annotated[bool, typer.Option(
            "--once", help="One full cycle (every enabled source, then the outbox), a "
                           "summary, then exit.")] = False,
        verbose: Annotated[bool, typer.Option(
            "--verbose", "-v", help="More log lines: Herald's INFO lines on a terminal "
                                    "too, with the logger's name.")] = False) -> None:
    """Run the worker: poll sources on their intervals and dispatch the outbox.

    Without --once it runs until SIGINT or SIGTERM. With --once it polls every enabled
    source once, sends what is due, prints each new story (console targets) and a summary
    line on stdout, and exits; log lines go to stderr (on a terminal only warnings,
    unless --verbose).
    """
    # On a terminal the worker's INFO lines are its news; run --once has its summary.
    setup_logging(verbose, level=None if once else logging.INFO)
    if once:
        stats, mail = with_herald(config, _once)
        c, d = stats.collect, stats.dispatch
        out.print(
            f"[bold]Herald run complete[/bold]: {c.polled} sources polled "
            f"({c.changed} changed, {c.unchanged} unchanged, {c.errors} failed) · "
            f"{c.ingest.new_items} new items · {len(c.ingest.new_stories)} new stories, "
            f"{len(set(c.ingest.updated_stories))} updated · "
            f"{d.sent} deliveries sent, {d.updated} updated, {d.failed + d.dead} failed",
            soft_wrap=True)
        for result in c.results:
            if result.status == "error":
                out.print(f"  [red]source {result.source} failed:[/red] "
                          f"{_escape(result.error or '')}", soft_wrap=True)
        for line in d.errors[:20]:
            out.print(f"  [red]{_escape(line)}[/red]", soft_wrap=True)
        if mail.sent or mail.failed or mail.dead:
            out.print(f"{mail.sent} emails sent, {mail.failed + mail.dead} failed "
                      "(confirmations from the web app)", soft_wrap=True)
        return
    with_herald(config, _worker, prepare=False)
