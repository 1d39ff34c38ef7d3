"""Schema migrations with Alembic, driven from code (no alembic.ini to keep in step).

``schema_state`` says whether a database is empty, current or older than this
version of Herald; ``upgrade`` brings it to the newest revision.
"""

from __future__ import annotations

import enum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaState(enum.StrEnum):
    EMPTY = "empty"
    CURRENT = "current"
    OLDER = "older"
    NEWER = "newer"
    FOREIGN = "foreign"  # tables, but not Herald's


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_state(engine: Engine) -> SchemaState:
    current = current_revision(engine)
    if current is None:
        tables = set(inspect(engine).get_table_names())
        return SchemaState.FOREIGN if tables & {"stories", "deliveries"} else SchemaState.EMPTY
    script = ScriptDirectory.from_config(alembic_config())
    if current == script.get_current_head():
        return SchemaState.CURRENT
    known = {rev.revision for rev in script.walk_revisions()}
    return SchemaState.OLDER if current in known else SchemaState.NEWER


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
