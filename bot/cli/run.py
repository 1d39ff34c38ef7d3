"""``herald run``: the worker, or one full cycle with ``--once`` and an exit code that
says how it went (the ``EXIT_*`` constants)."""

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

#: ``herald run --once``'s exit codes (README, "Exit codes"; ``herald digest send`` uses
#: 0, 1, 2 and 4 the same way).
EXIT_OK = 0
EXIT_HERALD = 1  # Herald could not run: the database, an unexpected error
EXIT_USAGE = 2  # a usage or config error
EXIT_SOURCES = 3  # at least one source failed in this cycle
EXIT_DELIVERIES = 4  # a delivery, reminder or queued email failed, died or waits on a pause
EXIT_BOTH = 5  # 3 and 4

EXIT_HELP = ("Exit codes of --once: 0 all well; 1 Herald could not run (database, "
             "unexpected error); 2 usage or config error; 3 a source failed in this "
             "cycle; 4 a delivery, a reminder or a queued email failed, died or waits "
             "because its target is paused; 5 both 3 and 4.")


def exit_code(sources_failed: int, deliveries_failed: int) -> int:
    """The exit code of one cycle from what failed in it."""
    if sources_failed and deliveries_failed:
        return EXIT_BOTH
    if sources_failed:
        return EXIT_SOURCES
    return EXIT_DELIVERIES if deliveries_failed else EXIT_OK


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


@app.command(epilog=EXIT_HELP)
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
        r = stats.reminders
        # Reminders only when there is news of them: most cycles send none.
        reminded = (f" · {r.sent} reminders sent"
                    + (f", {r.failed + r.dead} failed" if r.failed + r.dead else "")
                    + (f", {r.held} waiting on a paused target" if r.held else "")
                    if r is not None and (r.sent or r.failed or r.dead or r.held) else "")
        out.print(
            f"[bold]Herald run complete[/bold]: {c.polled} sources polled "
            f"({c.changed} changed, {c.unchanged} unchanged, {c.errors} failed) · "
            f"{c.ingest.new_items} new items · {len(c.ingest.new_stories)} new stories, "
            f"{len(set(c.ingest.updated_stories))} updated · "
            f"{d.sent} deliveries sent, {d.updated} updated, {d.failed + d.dead} failed"
            + (f", {d.held} waiting on a paused target" if d.held else "") + reminded,
            soft_wrap=True)
        for result in c.results:
            if result.status == "error":
                from bot.sources.plain import in_one_line

                out.print(f"  [red]source {result.source} failed:[/red] "
                          f"{_escape(in_one_line(result.error or ''))}", soft_wrap=True)
        for line in [*d.errors, *(r.errors if r is not None else [])][:20]:
            out.print(f"  [red]{_escape(line)}[/red]", soft_wrap=True)
        for target, reason in d.paused.items():
            out.print(f"  [red]target {_escape(target)} is paused:[/red] {_escape(reason)}; "
                      "its deliveries wait. Fix its secret, then `herald outbox resume "
                      f"{_escape(target)}` (or the worker tries again within the hour)",
                      soft_wrap=True)
        if mail.sent or mail.failed or mail.dead or mail.held:
            out.print(f"{mail.sent} emails sent, {mail.failed + mail.dead} failed"
                      + (f", {mail.held} waiting for the paused email target" if mail.held
                         else "") + " (confirmations from the web app)", soft_wrap=True)
        for line in mail.errors[:5]:
            out.print(f"  [red]{_escape(line)}[/red]", soft_wrap=True)
        reminders_failed = r.failed + r.dead + r.held if r is not None else 0
        code = exit_code(c.errors, d.failed + d.dead + d.held + mail.failed + mail.dead
                         + mail.held + reminders_failed)
        if code:
            raise typer.Exit(code)
        return
    with_herald(config, _worker, prepare=False)
