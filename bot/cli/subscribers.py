"""``herald subscribers``: the digest's subscribers."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli._base import (
    ConfigOpt,
    JsonOpt,
    _escape,
    fail,
    out,
    subscribers_app,
    with_herald,
)
from bot.clock import SystemClock


def _domains_option(value: str | None, herald: Any, group: str = "domain"
                    ) -> list[str] | None:
    """``--domains`` (or ``--kinds``, with ``group="kind"``): slugs, or None for all."""
    if not value or value == "all":
        return None
    wanted = [d.strip() for d in value.split(",") if d.strip()]
    known = herald.taxonomy.slugs(group)
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise fail(f"--{group}s: unknown {', '.join(unknown)}; choose from "
                   f"{', '.join(known)} or 'all'", 2)
    return wanted


def _choices(slugs: tuple[str, ...] | None) -> str:
    return "all" if slugs is None else ", ".join(slugs)


@subscribers_app.command("add")
def subscribers_add(email: Annotated[str, typer.Argument(help="Their email address.")],
                    config: ConfigOpt = None,
                    domains: Annotated[str | None, typer.Option(
                        "--domains", help="Comma-separated domain slugs, or 'all'.")] = None,
                    kinds: Annotated[str | None, typer.Option(
                        "--kinds", help="Comma-separated kind slugs (e.g. "
                        "cohort-opening,event), or 'all'.")] = None
                    ) -> None:
    """Add a subscriber (confirmed: they asked you in person)."""
    sub = with_herald(config, lambda h: h.store.add_subscriber(
        email, domains=_domains_option(domains, h), now=SystemClock().now(),
        kinds=_domains_option(kinds, h, "kind")))
    out.print(f"subscribed {_escape(sub.email)} to "
              f"{'every domain' if sub.domains is None else ', '.join(sub.domains)}"
              f"{'' if sub.kinds is None else '; only ' + ', '.join(sub.kinds)}")
    if not sub.email.partition("@")[0].isascii():
        out.print("  note: a non-ASCII address; the digest reaches it only through a mail "
                  "server that offers SMTPUTF8")


def _last_digest(row: Any) -> str:
    """One subscriber's latest digest in a few words: its period, state and why it
    failed (the mail server's words, shown as text)."""
    if row is None:
        return ""
    text = f"{row.period} {row.status}"
    if row.status in ("failed", "dead") and row.last_error:
        text += f": {row.last_error}"
    return text


@subscribers_app.command("list")
def subscribers_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every subscriber with their domains, state and latest digest (and why it failed)."""
    subs, last = with_herald(config, lambda h: (h.store.list_subscribers(),
                                                h.store.last_digests()))
    if as_json:
        print(json.dumps([{
            "email": s.email, "domains": list(s.domains) if s.domains is not None else "all",
            "kinds": list(s.kinds) if s.kinds is not None else "all",
            "frequency": s.frequency, "active": s.active,
            "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            "unsubscribed_at": s.unsubscribed_at.isoformat() if s.unsubscribed_at else None,
            "last_digest": {"period": d.period, "status": d.status, "error": d.last_error}
            if (d := last.get(s.id)) else None,
        } for s in subs], indent=2))
        return
    table = Table(title=f"Subscribers ({len(subs)})")
    for col in ("email", "domains", "kinds", "state", "last digest"):
        table.add_column(col, overflow="fold")
    for s in subs:
        state = ("unsubscribed" if s.unsubscribed_at else
                 "active" if s.confirmed_at else "awaiting confirmation")
        table.add_row(_escape(s.email), _choices(s.domains), _choices(s.kinds),
                      state, _escape(_last_digest(last.get(s.id))))
    out.print(table)


@subscribers_app.command("remove")
def subscribers_remove(email: Annotated[str, typer.Argument(help="Their email address.")],
                       config: ConfigOpt = None) -> None:
    """Unsubscribe someone (kept on record as unsubscribed)."""
    sub = with_herald(config, lambda h: h.store.unsubscribe(email, SystemClock().now()))
    out.print(f"unsubscribed {sub.email}")
