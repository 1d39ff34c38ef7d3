"""``herald config check`` and ``herald db upgrade``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli._base import (
    ConfigOpt,
    _escape,
    config_app,
    db_app,
    errors,
    fail,
    out,
    settings_for,
)
from bot.durations import format_duration
from bot.urls import redact_url

if TYPE_CHECKING:
    from bot.checks import Check


@config_app.command("check")
def config_check(
    config: ConfigOpt = None,
    online: Annotated[bool, typer.Option(
        "--online", help="Also try each enabled target (Slack auth.test, the Teams "
                         "webhook's host, SMTP login) and each feed once; sends nothing.")
    ] = False,
) -> None:
    """Validate the config file and say what it sets up (secrets are never shown).

    Exits 2 when the config is invalid, 1 when an enabled target or source lacks its
    secret (or, with --online, when a check failed), else 0."""
    from bot.app import secrets

    settings = settings_for(config)
    cfg = settings.config
    with errors():
        found = secrets(settings)
    missing = [s for s in found if s.required and not s.is_set]
    checks: list[Check] = []
    if online:
        # Tried before the headline is printed, so that it never says ok above a failure.
        from bot.checks import online_checks

        with errors():
            checks = list(online_checks(settings))
    failures = sum(not check.ok for check in checks)
    verdict = ("[red]incomplete[/red]" if missing else
               "[red]failed online checks[/red]" if failures else "[green]ok[/green]")
    out.print(verdict
              + f": {_escape(str(settings.file.resolve() if settings.file else '(none)'))}",
              soft_wrap=True)
    where = " (the bundled default: var/ is in the working folder)" if settings.bundled else ""
    out.print(f"  database: {redact_url(settings.database_url)}", markup=False, soft_wrap=True)
    out.print(f"  var: {settings.var_dir}{where}", markup=False, soft_wrap=True)
    out.print(f"  outbox: {settings.outbox_dir}", markup=False, soft_wrap=True)
    out.print(f"  taxonomy: {settings.taxonomy_path}"
              + ("" if cfg.paths.taxonomy else " (bundled)"), markup=False, soft_wrap=True)
    out.print("  tagger: " + ("rules only" if settings.tagger_off else
                              f"rules and {settings.tagger_path or 'the bundled model'}"),
              markup=False, soft_wrap=True)
    for s in cfg.sources:
        where = redact_url(s.url) if s.url else f"@{s.handle} on X"
        if s.url and not s.url.lower().startswith(("http://", "https://")):
            where = str(settings.resolve(s.url))
        out.print(f"  source {s.name}: {where} every {format_duration(s.every)}"
                  + ("" if s.enabled else " (disabled)"), markup=False, soft_wrap=True)
    for t in cfg.targets:
        out.print(f"  target {t.name}: {t.type}" + ("" if t.enabled else " (disabled)"),
                  markup=False)
    for i, r in enumerate(cfg.routes):
        filters = {k: v for k, v in r.model_dump().items() if k != "to" and v}
        out.print(f"  route {i}: {filters or 'every story'} → {', '.join(r.to)}",
                  markup=False)
    for secret in found:
        var, user = secret.variable, secret.user
        if secret.is_set:
            out.print(f"  secret {var}: set (for {user})", markup=False)
        elif secret.required:
            out.print(f"  [red]missing secret[/red] {var}: {user} needs it "
                      "(set it, or set enabled = false)", soft_wrap=True)
        elif secret.without:
            out.print(f"  secret {var}: not set, optional ({user}): {secret.without}",
                      markup=False, soft_wrap=True)
        else:
            out.print(f"  secret {var}: not set ({user} is disabled)", markup=False)
    for check in checks:
        mark = "[green]ok[/green]" if check.ok else "[red]failed[/red]"
        out.print(f"  {mark} {check.what}: ", end="", soft_wrap=True)
        out.print(check.detail, markup=False, soft_wrap=True)
    if online:
        out.print(f"[red]online checks: {failures} of {len(checks)} failed[/red]" if failures
                  else f"[green]online checks: all {len(checks)} ok[/green]")
    if missing or failures:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply the database migrations this version of Herald needs."""
    from bot.store import Store, migrate

    settings = settings_for(config)
    with errors():
        store = Store.open(settings.database_url)
        try:
            before = migrate.current_revision(store.engine)
            store.upgrade()
            after = migrate.current_revision(store.engine)
        except Exception as exc:  # alembic and drivers raise their own types
            raise fail(f"migration failed on {redact_url(settings.database_url)}: {exc}") from None
        finally:
            store.close()
    where = redact_url(settings.database_url)
    if before == after:
        out.print(f"database at {where} is up to date (schema {after})", soft_wrap=True)
    else:
        out.print(f"database at {where} migrated from schema {before or '(empty)'} to {after}; "
                  "it is up to date", soft_wrap=True)
