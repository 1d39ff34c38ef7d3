"""The ``herald`` command line (typer + rich; ``--json`` where a script would read it).

Every command takes ``--config PATH`` (or ``HERALD_CONFIG``); without either,
Herald uses ``config/default.toml``, the embedded default. Errors print one line
naming what was wrong and exit non-zero, without a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.clock import SystemClock, local_date
from bot.config import NAME_PATTERN, Settings, load_config, redact_url
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError, HeraldError
from bot.model import DeliveryStatus, KeyDate, Story

app = typer.Typer(help="Herald: collect, tag and republish a leadership academy's "
                       "announcements.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
feeds_app = typer.Typer(help="List, add and remove feeds.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
outbox_app = typer.Typer(help="The delivery outbox.", invoke_without_command=True)
subscribers_app = typer.Typer(help="Digest subscribers.", no_args_is_help=True)
stories_app = typer.Typer(help="The collected stories (and fixing merges).",
                          invoke_without_command=True)
import_app = typer.Typer(help="Import posts from elsewhere.", no_args_is_help=True)
digest_app = typer.Typer(help="The weekly digest email.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts for the web app.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(outbox_app, name="outbox")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(stories_app, name="stories")
app.add_typer(import_app, name="import")
app.add_typer(digest_app, name="digest")
app.add_typer(users_app, name="users")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Config file (default: $HERALD_CONFIG, else config/default.toml).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

T = TypeVar("T")


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=err, show_path=False)
        level = logging.INFO if verbose else logging.WARNING
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
        level = logging.INFO
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("apscheduler", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {_escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def errors() -> Iterator[None]:
    """Turn Herald's errors into one readable line and an exit code."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except HeraldError as exc:
        raise fail(str(exc), 1) from None
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise fail(f"database error: {redact_url(detail)}", 1) from None


def settings_for(config: Path | None) -> Settings:
    with errors():
        return load_config(config)


def with_herald(config: Path | None, fn: Callable[[Any], T], *, prepare: bool = True,
                console: Console | None = None) -> T:
    from bot.app import Herald

    settings = settings_for(config)
    with errors():
        herald = Herald(settings, console=console or out)
        try:
            if prepare:
                herald.prepare()
            return fn(herald)
        finally:
            with contextlib.suppress(Exception):
                herald.close()


# ----------------------------------------------------------------------------- run

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


# ----------------------------------------------------------------------------- feeds

def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "—"


@feeds_app.command("list")
def feeds_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every source, from the config file and from `feeds add`, with its poll state."""
    def show(herald: Any) -> None:
        rows = herald.store.list_sources()
        if as_json:
            print(json.dumps([{
                "name": r.name, "origin": r.origin, "type": r.kind, "url": redact_url(r.url),
                "every": format_duration(r.every), "enabled": r.enabled,
                "last_polled_at": r.last_polled_at.isoformat() if r.last_polled_at else None,
                "last_ok_at": r.last_ok_at.isoformat() if r.last_ok_at else None,
                "next_poll_at": r.next_poll_at.isoformat() if r.next_poll_at else None,
                "last_error": r.last_error, "error_count": r.error_count} for r in rows],
                indent=2))
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


def _name_from(location: str) -> str:
    from urllib.parse import urlsplit

    base = urlsplit(location).hostname if "://" in location else Path(location).stem
    slug = re.sub(r"[^a-z0-9]+", "-", (base or "feed").lower()).strip("-")[:60]
    return slug or "feed"


@feeds_app.command("add")
def feeds_add(url: Annotated[str, typer.Argument(help="Feed URL or local path.")],
              name: Annotated[str | None, typer.Option("--name")] = None,
              every: Annotated[str, typer.Option("--every", help="Poll interval.")] = "15m",
              announce_backlog: Annotated[bool, typer.Option(
                  "--announce-backlog",
                  help="Announce the entries its first poll finds that are older than "
                       "worker.announce_since (by default they are stored, not announced)."
              )] = False,
              config: ConfigOpt = None) -> None:
    """Add a feed (kept in the database). Its first poll is a backfill: older entries are
    stored and tagged but not announced, unless --announce-backlog."""
    try:
        interval = parse_duration(every)
    except ValueError as exc:
        raise fail(f"--every: {exc}", 2) from None
    name = name or _name_from(url)
    if not re.match(NAME_PATTERN, name):
        raise fail(f"--name: {name!r} is not a valid name (lowercase letters, digits, -, _)", 2)
    if "://" not in url:
        path = Path(url).expanduser()
        if not path.exists():
            raise fail(f"{url}: no such file", 2)
        url = str(path.resolve())
    elif not url.lower().startswith(("http://", "https://")):
        raise fail(f"{url}: only http(s) URLs and local paths are supported", 2)
    else:
        from bot.sources.guard import UrlGuard

        with errors():
            UrlGuard(settings_for(config).config.http.allow_networks).check(url)
    row = with_herald(config, lambda h: h.store.add_source(
        name, url, interval, SystemClock().now(), announce_backlog=announce_backlog))
    out.print(f"added feed [bold]{row.name}[/bold] ({redact_url(row.url)}), every "
              f"{format_duration(row.every)}; "
              + ("its old entries will be announced too" if row.announce_backlog else
                 "its first poll announces only recent entries"))


@feeds_app.command("remove")
def feeds_remove(name: str, config: ConfigOpt = None) -> None:
    """Remove a feed added with `feeds add` (its stories stay)."""
    with_herald(config, lambda h: h.store.remove_source(name))
    out.print(f"removed feed [bold]{name}[/bold]")


# ----------------------------------------------------------------------------- stories

def story_json(story: Story, today: date) -> dict[str, Any]:
    """A story for ``--json``; a key date before ``today`` has ``"passed": true``."""
    return {
        "id": story.id, "title": story.title, "url": story.url, "summary": story.summary,
        "kind": story.kind, "revision": story.revision,
        "tags": [{"slug": t.slug, "group": t.group.value, "reason": t.reason,
                  "manual": t.manual} for t in story.tags],
        "dates": [{"what": d.what, "date": d.date.isoformat(), "at_time": d.at_time,
                   "place": d.place, "passed": d.date < today} for d in story.dates],
        "items": [{"source": i.source, "url": i.url, "title": i.title,
                   "published_at": i.published_at.isoformat()} for i in story.items],
        "first_seen": story.first_seen.isoformat(), "updated_at": story.updated_at.isoformat(),
    }


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
    found, today = with_herald(config, lambda h: (
        h.store.list_stories(since=cutoff, tag=tag),
        local_date(h.clock.now(), h.settings.config.worker.timezone)))
    if as_json:
        print(json.dumps([story_json(s, today) for s in found], indent=2, ensure_ascii=False))
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
def stories_merge(keep: int, other: int, config: ConfigOpt = None) -> None:
    """Merge story OTHER into story KEEP (they announce the same thing)."""
    report = with_herald(config, lambda h: h.store.merge_stories(keep, other, h.routing,
                                                                 h.clock.now()))
    for line in report.lines():
        out.print(_escape(line))


@stories_app.command("announce")
def stories_announce(story_id: int, config: ConfigOpt = None) -> None:
    """Announce an old entry that a new feed's first poll stored but did not announce."""
    def go(h: Any) -> tuple[Any, bool]:
        stats = h.store.announce_story(story_id, h.routing, h.clock.now())
        return stats, h.store.get_story(story_id).hold

    stats, held = with_herald(config, go)
    out.print(f"story {story_id} announced: {stats.deliveries} deliveries queued"
              + ("; it is stopped, so nothing goes out until it is let go" if held else ""))


@stories_app.command("split")
def stories_split(story_id: int, item_url: str, config: ConfigOpt = None) -> None:
    """Move the item at ITEM_URL out of STORY_ID into a story of its own."""
    new_id, _ = with_herald(config, lambda h: h.store.split_item(story_id, item_url,
                                                                 h.routing, h.clock.now()))
    out.print(f"the item at {_escape(item_url)} is story {new_id} now")


@import_app.command("x-archive")
def import_x_archive(path: Path, config: ConfigOpt = None,
                     source: Annotated[str | None, typer.Option(
                         "--source", help="Source name (default x-archive-<username>).")]
                     = None,
                     include_replies: Annotated[bool, typer.Option("--include-replies")]
                     = False,
                     include_retweets: Annotated[bool, typer.Option("--include-retweets")]
                     = False,
                     post: Annotated[bool, typer.Option(
                         "--post", help="Also send the imported stories to the targets "
                         "(off: a backfill is stored and tagged, not announced again).")]
                     = False) -> None:
    """Import an X account's downloaded archive (folder or data/tweets.js)."""
    from bot.sources.x_archive import read_archive
    from bot.store._ingest import RoutingContext

    def go(h: Any) -> tuple[Any, Any, int]:
        account, items = read_archive(path, source=source, include_replies=include_replies,
                                      include_retweets=include_retweets,
                                      collected_at=h.clock.now())
        ctx = h.routing if post else RoutingContext(h.taxonomy, (), (), h.routing.merge)
        stats = h.store.ingest(items, ctx, h.clock.now())
        return account, stats, len(items)

    account, stats, count = with_herald(config, go)
    out.print(f"@{account.username}: {count} posts read · {stats.new_items} new items · "
              f"{len(stats.new_stories)} new stories · "
              f"{stats.new_items - len(stats.new_stories)} joined existing stories"
              + ("" if post else " (not posted: add --post to announce them)"),
              soft_wrap=True)


# ----------------------------------------------------------------------------- outbox

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
        print(json.dumps([{
            "id": d.id, "story_id": d.story_id, "target": d.target, "status": d.status.value,
            "attempts": d.attempts, "next_attempt_at": d.next_attempt_at.isoformat()
            if d.next_attempt_at else None, "external_id": d.external_id,
            "last_error": d.last_error, "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "release_at": d.release_at.isoformat() if d.release_at else None,
        } for d in rows], indent=2))
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
def outbox_retry(delivery_id: int, config: ConfigOpt = None) -> None:
    """Queue a failed or dead delivery again, now."""
    d = with_herald(config, lambda h: h.store.retry_delivery(delivery_id, SystemClock().now()))
    out.print(f"delivery {d.id} (story {d.story_id} → {d.target}) queued again")


# ----------------------------------------------------------------------------- subscribers

def _domains_option(value: str | None, herald: Any) -> list[str] | None:
    if not value or value == "all":
        return None
    wanted = [d.strip() for d in value.split(",") if d.strip()]
    known = herald.taxonomy.slugs("domain")
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise fail(f"--domains: unknown {', '.join(unknown)}; choose from {', '.join(known)} "
                   "or 'all'", 2)
    return wanted


@subscribers_app.command("add")
def subscribers_add(email: str, config: ConfigOpt = None,
                    domains: Annotated[str | None, typer.Option(
                        "--domains", help="Comma-separated domain slugs, or 'all'.")] = None
                    ) -> None:
    """Add a subscriber (confirmed: they asked you in person)."""
    sub = with_herald(config, lambda h: h.store.add_subscriber(
        email, domains=_domains_option(domains, h), now=SystemClock().now()))
    out.print(f"subscribed {_escape(sub.email)} to "
              f"{'every domain' if sub.domains is None else ', '.join(sub.domains)}")
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
            "frequency": s.frequency, "active": s.active,
            "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            "unsubscribed_at": s.unsubscribed_at.isoformat() if s.unsubscribed_at else None,
            "last_digest": {"period": d.period, "status": d.status, "error": d.last_error}
            if (d := last.get(s.id)) else None,
        } for s in subs], indent=2))
        return
    table = Table(title=f"Subscribers ({len(subs)})")
    for col in ("email", "domains", "state", "last digest"):
        table.add_column(col, overflow="fold")
    for s in subs:
        state = ("unsubscribed" if s.unsubscribed_at else
                 "active" if s.confirmed_at else "awaiting confirmation")
        table.add_row(_escape(s.email), "all" if s.domains is None else ", ".join(s.domains),
                      state, _escape(_last_digest(last.get(s.id))))
    out.print(table)


@subscribers_app.command("remove")
def subscribers_remove(email: str, config: ConfigOpt = None) -> None:
    """Unsubscribe someone (kept on record as unsubscribed)."""
    sub = with_herald(config, lambda h: h.store.unsubscribe(email, SystemClock().now()))
    out.print(f"unsubscribed {sub.email}")


# ----------------------------------------------------------------------------- users

def _read_password(password_env: str | None) -> str:
    import getpass

    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise fail(f"--password-env: the environment variable {password_env} is not set", 2)
        return value
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise fail("the two passwords differ", 2)
    return first


PasswordEnvOpt = Annotated[str | None, typer.Option(
    "--password-env", help="Read the password from this environment variable (else it is "
                           "asked for, or read from standard input).")]


@users_app.command("add")
def users_add(email: str, role: Annotated[str, typer.Option(
                  "--role", help="editor, approver or admin.")] = "editor",
              password_env: PasswordEnvOpt = None, config: ConfigOpt = None) -> None:
    """Add a staff account for `herald serve`."""
    from bot.passwords import hash_password
    from bot.store import ROLES

    if role not in ROLES:
        raise fail(f"--role: must be one of {', '.join(ROLES)}; got {role!r}", 2)
    with errors():
        hashed = hash_password(_read_password(password_env))
    user = with_herald(config, lambda h: h.store.add_user(email, role, hashed,
                                                          SystemClock().now()))
    out.print(f"added {user.email} ({user.role})")


@users_app.command("list")
def users_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every staff account and its role."""
    users = with_herald(config, lambda h: h.store.list_users())
    rows = [{"email": u.email, "role": u.role, "disabled": u.disabled,
             "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
            for u in users]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Users ({len(users)})")
    for col in ("email", "role", "state", "last sign-in"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["email"], r["role"], "disabled" if r["disabled"] else "active",
                      r["last_login_at"] or "never")
    out.print(table)


@users_app.command("set")
def users_set(email: str, role: Annotated[str | None, typer.Option("--role")] = None,
              password: Annotated[bool, typer.Option(
                  "--password", help="Set a new password (asked for).")] = False,
              password_env: PasswordEnvOpt = None,
              disable: Annotated[bool | None, typer.Option(
                  "--disable/--enable", help="Disable or enable the account.")] = None,
              config: ConfigOpt = None) -> None:
    """Change a staff account's role, password or state (this ends its sessions)."""
    from bot.passwords import hash_password

    hashed = None
    if password or password_env:
        with errors():
            hashed = hash_password(_read_password(password_env))
    user = with_herald(config, lambda h: h.store.set_user(
        email, role=role, password_hash=hashed, disabled=disable))
    out.print(f"{user.email}: {user.role}, {'disabled' if user.disabled else 'active'}")


@users_app.command("remove")
def users_remove(email: str, config: ConfigOpt = None) -> None:
    """Remove a staff account (their announcements stay)."""
    with_herald(config, lambda h: h.store.remove_user(email))
    out.print(f"removed {email}")


# ----------------------------------------------------------------------------- serve

@app.command("serve")
def serve(host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port")] = 8000,
          config: ConfigOpt = None) -> None:
    """Run the web app (queue, stories, feeds, subscribers) with uvicorn."""
    import uvicorn

    from bot.app import Herald
    from bot.web import create_app

    settings = settings_for(config)
    with errors():
        herald = Herald(settings)
        herald.prepare()
        app = create_app(herald)
        if not herald.store.count_users():
            from bot.web.setup import setup_link

            shown = "localhost" if host in ("0.0.0.0", "::") else host
            link = setup_link(app.state.ctx.signer, f"http://{shown}:{port}")
            out.print("No staff accounts yet. Open this link (valid for a day) to create the "
                      f"first admin:\n  {link}\n(or run `herald users add EMAIL --role "
                      "admin`)", soft_wrap=True)
    try:
        # X-Forwarded-For/-Proto are believed from the addresses in FORWARDED_ALLOW_IPS
        # (uvicorn's setting; loopback when unset): a proxy on another host must be listed
        # there, or every client looks like the proxy to the sign-in and subscribe limits.
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
    finally:
        herald.store.close()


# ----------------------------------------------------------------------------- digest

PeriodOpt = Annotated[str, typer.Option(
    "--period", help="'last' (the last complete week), 'current', or its start date.")]


@digest_app.command("send")
def digest_send(config: ConfigOpt = None, period: PeriodOpt = "last") -> None:
    """Send a period's digests now (each subscriber gets each period once)."""
    from bot.digest import DigestJob, parse_period

    def go(h: Any) -> Any:
        cfg = h.settings.config.digest
        now = h.clock.now()
        chosen = parse_period(period, cfg.schedule, cfg.timezone, now)
        stats = DigestJob(h).run(chosen, now)
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
              + (f", {stats.deferred} left for later" if stats.deferred else "") + later,
              soft_wrap=True)
    for line in stats.errors[:20]:
        out.print(f"  [red]{_escape(line)}[/red]", soft_wrap=True)
    if stats.failed or stats.deferred:
        raise typer.Exit(1)


@digest_app.command("preview")
def digest_preview(config: ConfigOpt = None,
                   subscriber: Annotated[str | None, typer.Option(
                       "--subscriber", help="Whose digest (default: someone taking every "
                       "domain).")] = None,
                   period: PeriodOpt = "current",
                   output: Annotated[Path, typer.Option("--out", help="File or folder.")]
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


# ----------------------------------------------------------------------------- config, db

@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate the config file and say what it sets up (secrets are never shown)."""
    settings = settings_for(config)
    cfg = settings.config
    out.print(f"[green]ok[/green]: {settings.file}")
    out.print(f"  database: {redact_url(settings.database_url)}")
    out.print(f"  taxonomy: {settings.taxonomy_path}")
    out.print("  tagger: " + ("rules only" if settings.tagger_off else
                              f"rules and {settings.tagger_path or 'the bundled model'}"),
              markup=False)
    for s in cfg.sources:
        out.print(f"  source {s.name}: {redact_url(s.url)} every {format_duration(s.every)}"
                  + ("" if s.enabled else " (disabled)"))
    for t in cfg.targets:
        out.print(f"  target {t.name}: {t.type}" + ("" if t.enabled else " (disabled)"))
    for i, r in enumerate(cfg.routes):
        filters = {k: v for k, v in r.model_dump().items() if k != "to" and v}
        out.print(f"  route {i}: {filters or 'every story'} → {', '.join(r.to)}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply the database migrations this version of Herald needs."""
    from bot.store import Store

    settings = settings_for(config)
    with errors():
        store = Store.open(settings.database_url)
        try:
            store.upgrade()
        except Exception as exc:  # alembic and drivers raise their own types
            raise fail(f"migration failed on {redact_url(settings.database_url)}: {exc}") from None
        finally:
            store.close()
    out.print(f"database at {redact_url(settings.database_url)} is up to date")


from bot.cli_tags import tags_app  # noqa: E402  (it builds on the helpers above)

app.add_typer(tags_app, name="tags")


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()


if __name__ == "__main__":
    main()
