"""A worker migrates an empty database in a short-lived child process, so it never
imports Alembic (bench/RESULTS.md, "Peak memory"); a failure there reads as it would have
read in the worker itself."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.errors import StoreError
from bot.store import Store
from bot.store.migrate import SchemaState, describe_failure, upgrade_in_child
from tests.conftest import ROOT

#: Each test starts a migrating process: the full run (pytest --all) has them.
pytestmark = pytest.mark.slow


def _fresh_interpreter(url: str) -> dict[str, object]:
    code = ("import json, sys; from bot.store import Store; s = Store.open(sys.argv[1]); "
            "before = s.schema_state(); s.ensure_schema(in_child=True); "
            "print(json.dumps({'before': before.value, 'after': s.schema_state().value, "
            "'alembic': 'alembic' in sys.modules})); s.close()")
    out = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_an_empty_database_is_migrated_without_alembic_in_the_process(db_url: str) -> None:
    assert _fresh_interpreter(db_url) == {"before": "empty", "after": "current",
                                          "alembic": False}
    s = Store.open(db_url)
    try:
        assert s.schema_state() is SchemaState.CURRENT
    finally:
        s.close()


def test_a_failed_migration_in_the_child_reads_as_it_did_in_process(tmp_path: Path) -> None:
    # A table of Herald's name that is not Herald's: the first migration cannot create it.
    path = tmp_path / "herald.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sources (x)")
    url = f"sqlite:///{path}"
    with pytest.raises(StoreError) as in_child:
        upgrade_in_child(url)
    s = Store.open(url)
    try:
        assert s.schema_state() is SchemaState.EMPTY
        with pytest.raises(OperationalError) as in_process:
            s.ensure_schema()
    finally:
        s.close()
    assert str(in_child.value) == describe_failure(in_process.value)
    assert str(in_child.value) == "database error: table sources already exists"


def test_a_password_in_the_url_is_not_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as failed:
        upgrade_in_child("postgresql+psycopg://herald:s3cret@127.0.0.1:1/nothing")
    assert "s3cret" not in str(failed.value)
    assert str(failed.value).startswith("database error:")


def test_a_database_in_memory_is_migrated_in_process() -> None:
    s = Store.open("sqlite://")
    try:
        s.ensure_schema(in_child=True)  # a child could not see it
        assert s.schema_state() is SchemaState.CURRENT
    finally:
        s.close()


def test_processes_migrating_one_empty_database_at_once_all_succeed(db_url: str) -> None:
    """Found from outside: ``herald serve`` and ``herald run`` started together on an empty
    database both migrated; one failed with "table sources already exists" (SQLite) or a
    duplicate key in ``pg_type`` (PostgreSQL). Migrations now go one at a time, and the
    one that waited finds the work done."""
    children = [subprocess.Popen([sys.executable, "-c", (
        "import sys; from bot.store.migrate import child_main; sys.exit(child_main())")],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(3)]
    for child in children:
        assert child.stdin is not None
        child.stdin.write(db_url)
        child.stdin.close()
    errors = [(child.wait(timeout=120), child.stderr.read() if child.stderr else "")
              for child in children]
    assert [code for code, _ in errors] == [0, 0, 0], errors
    s = Store.open(db_url)
    try:
        assert s.schema_state() == SchemaState.CURRENT
    finally:
        s.close()
