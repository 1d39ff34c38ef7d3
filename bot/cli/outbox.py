"""``herald outbox``: the deliveries, the targets paused for refused credentials, queueing
failed ones again and resuming paused targets."""

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
    out,
    outbox_app,
    with_herald,
)
from bot.clock import SystemClock
from bot.model import DeliveryStatus
from bot.shapes import DeliveryOut, dump


@outbox_app.callback()
def outbox(ctx: typer.Context, config: ConfigOpt = None,
           status: Annotated[str | None, typer.Option(
               "--status", help="pending, in_flight, sent, failed, dead, retracted "
                                "(a merged-away story's message, deleted) or left (one that "
                                "could not be)")] = None,
           as_json: JsonOpt = False) -> None:
    """The deliveries: where each story went or why it did not."""
    if ctx.invoked_subcommand is not None:
        return
    allowed = tuple(s.value for s in DeliveryStatus)
    if status and status not in allowed:
        raise fail(f"--status must be one of {', '.join(allowed)}", 2)
    rows, paused = with_herald(config, lambda h: (h.store.list_deliveries(status),
                                                  h.store.paused_targets()))
    if as_json:
        print(dump(DeliveryOut.of(d, paused.get(d.target)) for d in rows))
        return
    table = Table(title=f"Outbox ({len(rows)})")
    for col in ("id", "story", "target", "status", "tries", "next try", "reason / id"):
        table.add_column(col, overflow="fold")
    for d in rows:
        waits = d.status.value in ("pending", "failed")
        pause = paused.get(d.target) if waits else None
        # A paused target's deliveries go when its probe gets through, not before.
        next_try = max(filter(None, (d.next_attempt_at, pause.next_probe_at))) \
            if pause and pause.next_probe_at else d.next_attempt_at
        table.add_row(str(d.id), str(d.story_id), d.target, d.status.value, str(d.attempts),
                      _when(next_try) if waits else "",
                      _escape(d.last_error or d.external_id or ""))
    out.print(table)
    for p in paused.values():
        out.print(f"[red]target {_escape(p.target)} is paused[/red] since {_when(p.paused_at)}: "
                  f"{_escape(p.reason)}. Its deliveries wait; the worker tries one again at "
                  f"{_when(p.next_probe_at)}, or fix its secret and run `herald outbox resume "
                  f"{_escape(p.target)}`.", soft_wrap=True)


RETRY_HELP = ("Covers the outbox's deliveries (Slack, Teams, files, and the digest target's "
              "rows); never one that was sent, retracted or left, nor one whose story was "
              "merged away or stopped. A subscriber's digest email is not in the outbox: "
              "`herald digest send --period KEY` tries the failed ones again.")


@outbox_app.command("retry", epilog=RETRY_HELP)
def outbox_retry(
        delivery_id: Annotated[int | None, typer.Argument(
            help="One delivery's id (or choose with the options).", show_default=False)] = None,
        config: ConfigOpt = None,
        every: Annotated[bool, typer.Option("--all", help="Every failed and dead delivery."
                                            )] = False,
        target: Annotated[str | None, typer.Option(
            "--target", help="Those of this target.", show_default=False)] = None,
        status: Annotated[str | None, typer.Option(
            "--status", help="Only 'failed' or only 'dead' ones.", show_default=False)] = None,
) -> None:
    """Queue failed or dead deliveries again, now, with a fresh count of tries: one by its
    id, or all of them (--all), those of one target (--target) or of one status
    (--status); the options combine."""
    chosen = every or target is not None or status is not None
    if delivery_id is not None and chosen:
        raise fail("give a delivery's id or --all/--target/--status, not both", 2)
    if delivery_id is None and not chosen:
        raise fail("say what to retry: a delivery's id, --all, --target NAME or "
                   "--status dead|failed", 2)
    if status is not None and status not in ("failed", "dead"):
        raise fail("--status must be failed or dead (only those can be retried)", 2)
    if delivery_id is not None:
        d = with_herald(config, lambda h: h.store.retry_delivery(delivery_id,
                                                                 SystemClock().now()))
        out.print(f"delivery {d.id} (story {d.story_id} → {d.target}) queued again")
        return

    def go(h: Any) -> int:
        if target is not None and target not in h.targets:
            raise fail(f"no target named {target!r}; the targets are "
                       f"{', '.join(h.targets) or 'none'}", 2)
        statuses = (status,) if status else ("failed", "dead")
        return int(h.store.retry_deliveries(SystemClock().now(), target=target,
                                            statuses=statuses))

    n = with_herald(config, go)
    out.print(f"{n} {'delivery' if n == 1 else 'deliveries'} queued again")


@outbox_app.command("resume")
def outbox_resume(
        target: Annotated[str | None, typer.Argument(
            help="The paused target.", show_default=False)] = None,
        config: ConfigOpt = None,
        every: Annotated[bool, typer.Option("--all", help="Every paused target.")] = False,
) -> None:
    """Lift a target's pause (after its secret was fixed): its waiting deliveries go at the
    worker's next dispatch. The worker also tries a paused target again by itself, once
    within 15 minutes, then less often (at most hourly), and when it starts."""
    if (target is None) == (not every):
        raise fail("name one paused target, or --all", 2)

    def go(h: Any) -> list[str]:
        return list(h.store.resume_target(None if every else target, SystemClock().now()))

    names = with_herald(config, go)
    if not names:
        raise fail(f"target {target} is not paused" if target else "no target is paused", 1)
    out.print(f"resumed {', '.join(names)}")
