"""``herald run``: the worker, or one full cycle with ``--once``."""

from __future__ import annotations

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


def _once(herald: Any) -> tuple[Any, Any]:
    """One cycle, then the web app's queued emails (``bot.outmail``), as the worker would."""
    from bot.outmail import send_outmail

    return herald.cycle(), send_outmail(herald)


@app.command()
def run(config: ConfigOpt = None,
        once: Annotated[bool, typer.Option("--once", help="One full cycle, then exit.")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the worker: poll sources on their intervals and dispatch the outbox."""
    setup_logging(verbose)
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
    from bot.worker import run_worker

    with_herald(config, run_worker, prepare=False)
