"""The fast lane of tests/conftest.py: what plain ``pytest``, ``pytest tests``, ``-k``,
naming a file and ``--all`` each run, and the counts it says it left out."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

_TESTS = """
import pytest

def test_quick_one(): pass

def test_quick_two(): pass

@pytest.mark.slow
def test_slow_one(): pass

@pytest.mark.slow
def test_slow_two(): pass

@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"])
def test_both(db_url): pass
"""


@pytest.fixture
def lane(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.mkpydir("suite").joinpath("test_lane.py").write_text(_TESTS, encoding="utf-8")
    pytester.makeini("[pytest]\ntestpaths = suite\nmarkers =\n    slow: slow\n"
                     "    postgres: postgres\n")
    return pytester


def _run(lane: pytest.Pytester, *args: str) -> pytest.RunResult:
    return lane.runpytest_inprocess("-p", "tests.conftest", "-p", "no:cacheprovider", *args)


def test_plain_run_leaves_out_slow_and_postgresql(lane: pytest.Pytester) -> None:
    result = _run(lane)
    result.assert_outcomes(passed=3, deselected=3)
    result.stdout.fnmatch_lines(["*left out 2 slow tests*and 1 PostgreSQL runs*"])


def test_naming_a_folder_is_still_the_lane(lane: pytest.Pytester) -> None:
    _run(lane, "suite").assert_outcomes(passed=3, deselected=3)


def test_k_counts_only_what_it_kept(lane: pytest.Pytester) -> None:
    # Before, the counts were of the whole collection (2 slow, 1 PostgreSQL) whatever -k kept.
    result = _run(lane, "-k", "one")
    result.assert_outcomes(passed=1, deselected=5)
    result.stdout.fnmatch_lines(["*left out 1 slow tests*and 0 PostgreSQL runs*"])


def test_naming_a_file_or_all_runs_everything(lane: pytest.Pytester) -> None:
    _run(lane, "suite/test_lane.py").assert_outcomes(passed=6)
    _run(lane, "--all").assert_outcomes(passed=6)
    _run(lane, "-m", "slow").assert_outcomes(passed=2, deselected=4)
