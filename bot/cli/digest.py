"""``herald digest``: send or preview the weekly digest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli._base import (
    ConfigOpt,
    _escape,
    digest_app,
    out,
    with_herald,
)
from bot.cli._show import progress_bar
from bot.cli.run import EXIT_DELIVERIES

PeriodOpt = Annotated[str, typer.Option(
    "--period", help="'last' (the last complete week), 'current', or its start date.")]


@digest_app.command("send", epilog="Exit codes: 0 all sent (or nothing to send); 1 Herald "
                    "could not run; 2 usage or config error; 4 a digest failed, or waits "
                    "(the mail server could not be reached, or refused Herald's login).")
def digest_send(config: ConfigOpt = None, period: PeriodOpt = "last") -> None:
    """Send a period's digests now (each subscriber gets each period once). Tries even while
    the mail server's refusal pauses the email target; getting through resumes it."""
    from bot.digest import DigestJob, parse_period

    def go(h: Any) -> Any:
        cfg = h.settings.config.digest
        now = h.clock.now()
        chosen = parse_period(period, cfg.schedule, cfg.timezone, now)
        with progress_bar(f"digest {chosen.label}") as progress:
            stats = DigestJob(h).run(chosen, now, progress=progress,
                                      force=True)
        waiting = [r.next_attempt_at for r in h.store.list_digests(chosen.key)
                   if r.status in ("pending", "failed") and r.next_attempt_at is not None
                   and r.next_attempt_at > now]
        return stats, chosen, waiting, chosen.end > now

    stats, chosen, waiting, early = with_herald(config, go)
    later = ""
    if waiting:
        # The worker retries the last complete week; a week sent early waits for its end.
        later = (f"; {len(waiting)} waiting: `herald digest send --period {chosen.key}` again "
                 f"from {min(waiting):%Y-%m-%d %H:%M}Z"
                 + (", or the worker sends them with the week's scheduled digest" if early
                    else ", or the worker tries them again then"))
    out.print(f"digest {chosen.label}: {stats.sent} sent, {stats.empty} with nothing new, "
              f"{stats.failed} failed"
              + (f", {stats.deferred} left for later" if stats.deferred else "")
              + (f", {stats.held} waiting: the mail server refused Herald's login (fix "
                 "SMTP_URL, then send again)" if stats.held else "") + later,
              soft_wrap=True)
    for line in stats.errors[:20]:
        out.print(f"  [red]{_escape(line)}[/red]", soft_wrap=True)
    # A digest still waiting from an earlier run is as unsent as one that failed now.
    if stats.failed or stats.deferred or stats.held or waiting:
        raise typer.Exit(EXIT_DELIVERIES)


@digest_app.command("preview")
def digest_preview(config: ConfigOpt = None,
                   subscriber: Annotated[str | None, typer.Option(
                       "--subscriber", help="Whose digest (default: someone taking every "
                       "domain).")] = None,
                   period: PeriodOpt = "current",
                   output: Annotated[Path, typer.Option(
                       "--out", help="Where to write the HTML: a file, or a folder.")]
                   = Path("var/digest-preview.html")) -> None:
    """Write one digest's HTML to look at, without sending anything."""
    from bot.digest import DigestJob, parse_period
    from bot.store import Subscriber

    def go(h: Any) -> Path:
        cfg = h.settings.config.digest
        now = h.clock.now()
        chosen = parse_period(period, cfg.schedule, cfg.timezone, now)
        if subscriber:
            sub = h.store.get_subscriber(subscriber)
        else:
            sub = Subscriber(0, "preview@example.org", None, "weekly", now, None, now)
        return DigestJob(h).preview(sub, chosen, now, output)

    path = with_herald(config, go)
    out.print(f"wrote {path}")
