"""``herald config check`` and ``herald db upgrade``."""

from __future__ import annotations

from bot.cli._base import (
    ConfigOpt,
    config_app,
    db_app,
    errors,
    fail,
    out,
    settings_for,
)
from bot.config import redact_url
from bot.durations import format_duration


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
        out.print(f"  source {s.name}: {redact_url(s.location)} every {format_duration(s.every)}"
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
