"""Schema migrations with Alembic, driven from code (no alembic.ini to keep in step).

``schema_state`` says whether a database is empty, current or older than this
version of Herald; ``upgrade`` brings it to the newest revision.

Alembic (and the Mako templates it loads) adds about 7 MB to importing Herald, and
every start of Herald checks the schema. So the check reads ``alembic_version`` itself
and compares it with :data:`REVISIONS`, and Alembic is imported only to migrate;
``tests/test_store.py`` asserts that ``REVISIONS`` is exactly Alembic's history.

A worker that finds an empty database migrates it in a short-lived child process
(``upgrade_in_child``), so the long-lived process never imports Alembic at all: the
import and the migration scripts would otherwise stay in its memory (about 10 MB, see
bench/RESULTS.md) for as long as it runs.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from bot.errors import StoreError
from bot.urls import redact_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Every revision in ``migrations/versions``, oldest first; the last is the head. Add a
#: migration's revision here when you add the migration (a test compares the two).
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009",
             "0010", "0011", "0012", "0013", "0014", "0015", "0016")
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


#: The PostgreSQL advisory lock that one migration at a time holds (any fixed number).
_MIGRATE_LOCK = 0x6865726C  # "herl"


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Hold off other Herald processes migrating the same SQLite file (a lock file beside
    it) while this one does: ``herald serve`` and ``herald run`` started together on an
    empty database both migrated, and one failed on "table sources already exists".
    PostgreSQL is held off inside the migration's own transaction (``upgrade``)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        yield
        return
    import fcntl

    try:
        lock = open(f"{database}.migrate.lock", "a+b")  # noqa: SIM115 - closed below
    except OSError:  # a folder Herald cannot write to: the database itself will say so
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision``, one process at a time: a second process that waited finds
    the work done (Alembic reads the version after the wait)."""
    from alembic import command

    cfg = alembic_config()
    with _one_at_a_time(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo the migrations after ``revision`` (for tests of each migration's way back)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


#: The child's last line of standard error, when it failed, starts with this.
_FAILED = "herald-migrate-failed: "


def describe_failure(exc: BaseException) -> str:
    """One readable line for a failed migration, as ``herald``'s error handler writes a
    database error (the driver's first line, any password in a URL left out)."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return f"database error: {redact_url(detail)}"
    first = (str(exc).splitlines() or [""])[0]
    return f"migration failed: {type(exc).__name__}: {redact_url(first)}"


def upgrade_in_child(url: str, *, timeout: float = 600.0) -> None:
    """Migrate the database at ``url`` to the head in a child process of its own.

    The URL goes to the child on its standard input (a password in it never shows in the
    process list). A failure raises ``StoreError`` with the child's one-line account of
    it (see ``describe_failure``)."""
    root = Path(__file__).resolve().parents[2]  # where ``bot`` was imported from
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH"))
                                         if p)}
    code = "import sys; from bot.store.migrate import child_main; sys.exit(child_main())"
    try:
        done = subprocess.run([sys.executable, "-c", code], input=url, text=True, env=env,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StoreError(f"migrating the database took longer than {timeout:.0f} s") from exc
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines()
    told = [ln[len(_FAILED):] for ln in lines if ln.startswith(_FAILED)]
    if told:
        raise StoreError(told[-1])
    last = redact_url(lines[-1]) if lines else f"exit code {done.returncode}"
    raise StoreError(f"migration failed: {last}")


def child_main() -> int:
    """The child of ``upgrade_in_child``: read a URL on standard input, migrate, exit."""
    from bot.store import make_engine

    url = sys.stdin.read().strip()
    try:
        engine = make_engine(url)
    except Exception as exc:
        print(_FAILED + describe_failure(exc), file=sys.stderr)
        return 1
    try:
        upgrade(engine)
    except Exception as exc:  # Alembic and the drivers raise their own types
        print(_FAILED + describe_failure(exc), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
