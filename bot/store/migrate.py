"""Schema migrations with Alembic, driven from code (no alembic.ini to keep in step).

``schema_state`` says whether a database is empty, current or older than this
version of Herald; ``upgrade`` brings it to the newest revision.

Alembic (and the Mako templates it loads) adds about 7 MB to importing Herald, and
every start of Herald checks the schema. So the check reads ``alembic_version`` itself
and compares it with :data:`REVISIONS`, and Alembic is imported only to migrate;
``tests/test_store.py`` asserts that ``REVISIONS`` is exactly Alembic's history.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from bot.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Every revision in ``migrations/versions``, oldest first; the last is the head. Add a
#: migration's revision here when you add the migration (a test compares the two).
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009",
             "0010", "0011", "0012", "0013", "0014", "0015")
HEAD = REVISIONS[-1]

#: The table (and column) where Alembic records the revision a database is at.
VERSION_TABLE = "alembic_version"


class SchemaState(enum.StrEnum):
    EMPTY = "empty"
    CURRENT = "current"
    OLDER = "older"
    NEWER = "newer"
    FOREIGN = "foreign"  # tables, but not Herald's


def alembic_config() -> Config:
    # Imported here: only migrating needs Alembic (see the module docstring).
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def script_revisions() -> tuple[str, ...]:
    """Every revision of the migration scripts, oldest first, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return tuple(rev.revision for rev in reversed(list(script.walk_revisions())))


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None (no version table, or no row in it),
    read as Alembic's ``MigrationContext.get_current_revision`` does."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:  # Alembic refuses this too: Herald's history has one branch
        raise StoreError(f"{VERSION_TABLE} has {len(rows)} rows (several heads); "
                         "Herald's migrations have one")
    return rows[0] if rows else None


def schema_state(engine: Engine) -> SchemaState:
    current = current_revision(engine)
    if current is None:
        tables = set(inspect(engine).get_table_names())
        return SchemaState.FOREIGN if tables & {"stories", "deliveries"} else SchemaState.EMPTY
    if current == HEAD:
        return SchemaState.CURRENT
    return SchemaState.OLDER if current in REVISIONS else SchemaState.NEWER


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo the migrations after ``revision`` (for tests of each migration's way back)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
