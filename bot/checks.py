"""``herald config check --online``: try each enabled target and feed once, sending nothing.

- a Slack target: ``auth.test`` with its token (through slack-sdk, at its ``base_url``);
- a Teams target: the webhook's host answers HTTP (an ``OPTIONS`` request, which runs no
  flow and posts no card); a 401 or 403 to it fails the check, as a send would pause the
  target on one; any other answer says the host is there (the signature is checked only
  when a card is sent);
- the digest, when ``SMTP_URL`` is set: connect, TLS as configured, log in, hang up;
- each enabled feed, from the config and from the database (``herald feeds add``; a paused
  one is not polled, so not tried): fetched once through the SSRF guard
  (``[http] allow_networks``) and parsed, as the collector would (a local file is read and
  parsed);
- X sources are not tried: each read is billed; their first poll says whether the token
  works.

Targets are tried the way their channels send (not through the SSRF guard, which is for
feeds staff can add; a target's address comes from the operator's environment). A missing
secret is not tried (``config check`` lists it). Nothing is written to the database (a
SQLite file that does not exist yet is not created: it holds no feeds).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.errors import HeraldError
from bot.urls import redact_url


@dataclass(frozen=True)
class Check:
    """One thing tried: what, whether it worked, and what was seen."""

    what: str
    ok: bool
    detail: str


def online_checks(settings: Settings, *,
                  transport: httpx.BaseTransport | None = None) -> Iterator[Check]:
    """Try each enabled target, the digest's mail server and each enabled feed once."""
    from bot.app import target_options

    cfg = settings.config
    for i, target in enumerate(cfg.targets):
        if not target.enabled:
            continue
        what = f"target {target.name} ({target.type})"
        _cls, options = target_options(settings, i)
        if target.type == "slack":
            yield _slack(what, options, settings)
        elif target.type == "teams":
            yield _teams(what, options, settings)
    if cfg.digest.enabled and settings.environ.get(cfg.digest.smtp_env):
        yield _smtp(settings)
    yield from _feeds(settings, transport)


def _missing(what: str, var: str) -> Check:
    return Check(what, False, f"not tried: the environment variable {var} is not set")


def _slack(what: str, options: Any, settings: Settings) -> Check:
    token = settings.environ.get(options.token_env)
    if not token:
        return _missing(what, options.token_env)
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    client = WebClient(token=token, base_url=options.base_url,
                       timeout=options.timeout,
                       retry_handlers=[])
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        return Check(what, False, f"auth.test refused the token: {error or exc}")
    except (SlackClientError, OSError) as exc:
        return Check(what, False, f"cannot reach {options.base_url}: {type(exc).__name__}")
    team, user = answer.get("team") or "?", answer.get("user") or "?"
    return Check(what, True, f"auth.test ok: bot {user} in workspace {team}")


def _teams(what: str, options: Any, settings: Settings) -> Check:
    url = settings.environ.get(options.webhook_env)
    if not url:
        return _missing(what, options.webhook_env)
    shown = redact_url(url)
    try:
        with httpx.Client(timeout=options.timeout, follow_redirects=False) as http:
            status = http.options(url).status_code
    except httpx.HTTPError as exc:
        return Check(what, False, f"cannot reach {shown}: {type(exc).__name__}")
    if status in (401, 403):
        return Check(what, False, f"refused: HTTP {status} to OPTIONS (a send would pause "
                                  "the target; check the webhook URL and its signature)")
    return Check(what, True, f"webhook host answers (HTTP {status} to OPTIONS; no card "
                             "posted, the signature is checked when one is)")


def _smtp(settings: Settings) -> Check:
    from channels.email import SmtpSender, parse_smtp_url

    digest = settings.config.digest
    what = f"digest mail server (${digest.smtp_env})"
    try:
        smtp = parse_smtp_url(settings.environ[digest.smtp_env])
        ca = str(settings.resolve(digest.tls_ca_file)) if digest.tls_ca_file else None
        SmtpSender(smtp, ca_file=ca, timeout=15.0).login()
    except HeraldError as exc:
        return Check(what, False, str(exc))
    return Check(what, True, f"connected and logged in to {smtp.redacted()}")


def _feeds(settings: Settings, transport: httpx.BaseTransport | None) -> Iterator[Check]:
    from bot.sources.feed import read_once
    from bot.sources.fetch import make_client
    from bot.sources.guard import UrlGuard

    cfg = settings.config
    feeds = [(s.name, str(s.url)) for s in cfg.sources if s.enabled and s.type == "rss" and s.url]
    stored = _database_feeds(settings, {name for name, _url in feeds})
    if isinstance(stored, Check):
        yield stored
        stored = []
    feeds += stored
    if not feeds:
        return
    http = cfg.http
    with make_client(timeout=http.timeout.total_seconds(), max_redirects=http.max_redirects,
                     user_agent=http.user_agent, transport=transport,
                     guard=UrlGuard(http.allow_networks),
                     deadline=http.deadline.total_seconds()) as client:
        for name, url in feeds:
            what = f"source {name} ({redact_url(url)})"
            try:
                _final, items = read_once(url, source=name, client=client,
                                          max_body=http.max_body,
                                          collected_at=datetime.now(UTC),
                                          base_dir=settings.base_dir)
            except HeraldError as exc:
                from bot.sources.plain import in_one_line

                yield Check(what, False, in_one_line(exc))
                continue
            except Exception as exc:  # a parser's own error: say which, and go on
                yield Check(what, False, f"{type(exc).__name__}: {exc}")
                continue
            yield Check(what, True, f"{len(items)} entries")


def _database_feeds(settings: Settings, config_names: set[str]) -> list[tuple[str, str]] | Check:
    """The enabled, unpaused feeds added with ``herald feeds add`` (origin ``database``), as
    (name, url); a failed :class:`Check` when the database cannot be read. A SQLite file
    that does not exist yet is not created: it has no feeds."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store import Store
    from bot.store.migrate import SchemaState

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or not Path(database).expanduser().exists():
            return []
    what = f"feeds in the database ({redact_url(settings.database_url)})"
    try:
        store = Store.open(settings.database_url)
    except Exception as exc:  # a driver's own error: say which
        return Check(what, False, f"not tried: cannot open the database: {exc}")
    try:
        state = store.schema_state()
        if state is SchemaState.EMPTY:
            return []
        if state is not SchemaState.CURRENT:
            return Check(what, False, f"not tried: the database's schema is {state.value} "
                                      "(an older one: run `herald db upgrade`)")
        rows = store.list_sources()
    except (HeraldError, SQLAlchemyError) as exc:
        return Check(what, False, f"not tried: {exc}")
    finally:
        store.close()
    return [(r.name, r.url) for r in rows
            if r.origin == "database" and r.enabled and not r.paused and r.kind == "rss"
            and r.name not in config_names]
