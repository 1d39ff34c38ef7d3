"""SECURITY.md stays true: every test its table names exists, every row has a result from
``scripts/security_table.py`` and none failed, and the web app's rows stay marked for
issue #5 until its tests fill them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

# The web concerns issue #7 names: each must have a row with a test that exists.
WEB_ROWS = ["Sign-in required", "CSRF", "session fixation", "Secure cookies",
            "Subscriber links", "rate-limited", "Security headers", "No secret in the web UI"]


@pytest.fixture(scope="module")
def table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("security_table",
                                                  ROOT / "scripts" / "security_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["security_table"] = module
    spec.loader.exec_module(module)
    return module


def rows(table: ModuleType) -> list:  # type: ignore[type-arg]
    return table.split_doc((ROOT / "SECURITY.md").read_text(encoding="utf-8"))[1]


def test_every_test_named_in_security_md_exists(table: ModuleType) -> None:
    found = rows(table)
    assert len(found) >= 60
    assert table.missing_tests(found) == []


def test_every_row_names_a_test_or_issue_5_and_has_a_result(table: ModuleType) -> None:
    for row in rows(table):
        if row.node is None:
            assert row.test == "web app: see issue #5", row
            continue
        assert row.result, f"{row.node} has no result: run python scripts/security_table.py"
        assert "FAIL" not in row.result and row.result != "not run", row


def test_every_web_concern_has_a_tested_row(table: ModuleType) -> None:
    tested = [r for r in rows(table) if r.node is not None]
    assert not [r for r in rows(table) if r.node is None], "a row without a test"
    for words in WEB_ROWS:
        assert any(words.lower() in r.what.lower() for r in tested), words


def test_a_missing_test_is_caught(table: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_here():\n    pass\n")
    made_up = [table.Row("Area", "x", "`tests/test_a.py::test_here`", ""),
               table.Row("Area", "y", "`tests/test_a.py::test_gone`", ""),
               table.Row("Area", "z", "`tests/test_b.py::test_here`", "")]
    assert table.missing_tests(made_up, tmp_path) == ["tests/test_a.py::test_gone",
                                                      "tests/test_b.py::test_here"]


def test_results_are_summarised_per_test(table: ModuleType) -> None:
    assert table.result_text([("pass", "")]) == "pass"
    assert table.result_text([("pass", ""), ("pass", "")]) == "pass (2 of 2)"
    assert table.result_text([("pass", ""), ("skipped", "no PG")]) == \
        "pass (1 of 2), 1 skipped"
    assert table.result_text([("skipped", "no | PG")]) == "skipped: no / PG"
    assert table.result_text([("pass", ""), ("FAIL", "boom")]) == "**FAIL** (1 of 2)"
    assert table.result_text([]) == "not run"
