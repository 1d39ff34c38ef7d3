"""``herald outbox``: the deliveries, and queueing failed ones again."""

from __future__ import annotations

from typing import Annotated

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
    rows = with_herald(config, lambda h: h.store.list_deliveries(status))
    if as_json:
        print(dump(DeliveryOut.of(d) for d in rows))
        return
    table = Table(title=f"Outbox ({len(rows)})")
    for col in ("id", "story", "target", "status", "tries", "next try", "reason / id"):
        table.add_column(col, overflow="fold")
    for d in rows:
        table.add_row(str(d.id), str(d.story_id), d.target, d.status.value, str(d.attempts),
                      _when(d.next_attempt_at) if d.status.value in ("pending", "failed")
                      else "", _escape(d.last_error or d.external_id or ""))
    out.print(table)


@outbox_app.command("retry")
def outbox_retry(delivery_id: Annotated[int, typer.Argument(
                     help="The delivery's id (the first column of `herald outbox`).")],
                 config: ConfigOpt = None) -> None:
    """Queue a failed or dead delivery again, now."""
    d = with_herald(config, lambda h: h.store.retry_delivery(delivery_id, SystemClock().now()))
    out.print(f"delivery {d.id} (story {d.story_id} → {d.target}) queued again")
