"""Importing Herald stays cheap: modules only some paths need are imported on those paths.

A worker imports ``bot.app`` and keeps whatever it imported for as long as it runs, so
each of these would cost its memory on every start (bench/RESULTS.md, "Peak memory"):
Alembic only migrates, feedparser reads the feeds the lxml fast path declines,
markdown-it renders announcements, slack-sdk sends. Checked in a fresh interpreter,
as lemon24/reader's ``tests/test_lazy_imports.py`` does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

LAZY = ("alembic", "feedparser", "markdown_it", "slack_sdk", "tweepy", "apscheduler",
        # The learned tagger is fitted with scikit-learn (herald tags train) and applied in
        # pure Python: a worker never imports it.
        "sklearn", "scipy", "numpy")


def imported_after(module: str) -> set[str]:
    code = (f"import sys, json, {module}; "
            "print(json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() "
            "if v is not None})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out))


#: httpx's command line (``python -m httpx``) and what it imports; bot/__init__.py keeps
#: httpx from importing it. The CLI (``bot.cli``) has click through typer.
HTTPX_CLI = ("click", "pygments")


@pytest.mark.parametrize("module", ["bot.app", "bot.cli", "bot.collect", "bot.store",
                                    "channels.slack"])
def test_importing_herald_does_not_import_what_only_some_paths_need(module: str) -> None:
    assert imported_after(module) & set(LAZY) == set()


@pytest.mark.parametrize("module", ["bot.app", "bot.collect", "bot.worker"])
def test_a_worker_does_not_import_httpx_command_line(module: str) -> None:
    modules = imported_after(module)
    assert "httpx" in modules
    assert modules & set(HTTPX_CLI) == set()


@pytest.mark.parametrize("module", ["bot.pipeline.prepare", "bot.pipeline.pool",
                                    "bot.sources.feed"])
def test_what_a_pool_child_imports_is_the_parser_and_the_pipeline(module: str) -> None:
    """A prepare pool child (bot.pipeline.pool) runs these and nothing else: none of the
    store, the HTTP client, the config's validation or the terminal."""
    assert imported_after(module) & {"sqlalchemy", "httpx", "pydantic", "rich", "alembic",
                                     "channels", *LAZY} == set()
