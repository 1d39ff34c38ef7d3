"""Shared fixtures: a clock, stores on SQLite and PostgreSQL, config builders, paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.config import Settings, parse_config
from bot.store import Store
from tests.fakes.slack_server import FakeSlack, running_fake_slack
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook

ROOT = Path(__file__).resolve().parents[1]
#: The files Herald ships (bot/data): the default config, the taxonomy, the samples.
CONFIG_DIR = ROOT / "bot" / "data"
DATA = Path(__file__).resolve().parent / "data"
REFERENCE = Path(os.environ.get("HERALD_REFERENCE_DIR",
                                ROOT.parent / "shared" / "reference"))
PG_URL = os.environ.get("HERALD_TEST_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def reference_dir(*parts: str) -> Path:
    """A folder of ../shared/reference, or skip the test with the reason."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference material not found at {path} (set HERALD_REFERENCE_DIR); "
                    "it is not shipped with Herald")
    return path


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 8, 20, 9, 0, tzinfo=UTC))


def _pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    try:
        with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                             dbname=url.database, password=url.password, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL at {url.render_as_string(hide_password=True)} is not reachable: {exc}"


_PG_REASON: list[str | None] = []


def pg_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_pg_available())
    return _PG_REASON[0]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    reason = pg_reason()
    if reason:
        pytest.skip(reason)
    from sqlalchemy import create_engine, text

    schema = f"herald_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'herald.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()


def make_settings(tmp_path: Path, data: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Settings from a dict (TOML-shaped); taxonomy from config/, outbox under tmp_path."""
    base: dict[str, Any] = {
        "database": {"url": f"sqlite:///{tmp_path / 'herald.db'}"},
        "paths": {"taxonomy": str(CONFIG_DIR / "taxonomy.toml"),
                  "outbox": str(tmp_path / "outbox")},
        "targets": [{"name": "files", "type": "file"}],
        "routes": [{"to": ["files"]}],
        # The rules alone: these tests state the tags the rules give. The learned model's
        # own tests (test_learned_tagger, test_tags_cli, test_corpus) turn it on.
        "tagging": {"model": "off"},
    }
    for key, value in (data or {}).items():
        base[key] = value
    # The fixtures' entries are old: their sources announce them on a first poll (which by
    # default announces only recent entries), unless a test says otherwise.
    base["sources"] = [{"announce_backlog": True, **s} for s in base.get("sources", [])]
    return parse_config(base, file=tmp_path / "herald.toml", environ=environ or {})


@pytest.fixture
def feed_server() -> Iterator[Any]:
    from tests.fakes.feed_server import running_feed_server

    with running_feed_server() as server:
        yield server


@pytest.fixture
def web(tmp_path: Path, clock: FixedClock) -> Iterator[Any]:
    """The web app on SQLite with the test accounts (tests/web_helpers.py)."""
    from tests.web_helpers import make_web

    w = make_web(tmp_path, clock)
    yield w
    w.close()


@pytest.fixture
def dbweb(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[Any]:
    """The web app on each backend (SQLite, and PostgreSQL when it answers)."""
    from tests.web_helpers import make_web

    w = make_web(tmp_path, clock, db_url=db_url)
    yield w
    w.close()


@pytest.fixture
def make_rig(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Builds a Herald driven from outside on each backend (tests/gate_rig.py)."""
    from tests.gate_rig import rigs

    yield from rigs(tmp_path, db_url, monkeypatch)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """The loopback fake Slack Web API, as it starts (a module may define its own)."""
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture
def teams() -> Iterator[FakeTeamsWebhook]:
    """The loopback fake Teams webhook (a module may define its own)."""
    with running_teams_webhook() as fake:
        yield fake


# The fast lane. Plain `pytest` (no paths, no -m) leaves out two kinds of test: those marked
# `slow` (they start processes: `herald` commands, several workers, pip, mypy; drive a
# browser; or sweep a corpus) and the PostgreSQL runs, which this conftest marks `postgres`
# (a test on the `postgresql` side of `db_url`, or asking for `pg_url`): each costs a fresh
# schema and its migrations, and together they were most of the rest. Their SQLite twins stay.
# `pytest --all` runs everything (CI's `.ci/run` does); `-m EXPR` or naming files or tests
# selects exactly what was asked, slow or not. Naming only folders (`pytest tests`) is still
# the lane, and `-k EXPR` narrows it: the counts it prints are of what `-k` kept.

_LEFT_OUT = pytest.StashKey[tuple[int, int]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--all", action="store_true", dest="herald_all",
                     help="also run the tests marked slow and the PostgreSQL runs (the full "
                          "run, as .ci/run does); plain `pytest` leaves them out")


def _on_postgresql(item: pytest.Item) -> bool:
    """The item runs against PostgreSQL: it asks for pg_url, or a parameter says postgresql."""
    if "pg_url" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(
        isinstance(value, str) and value == "postgresql" for value in callspec.params.values())


def _fast_lane(config: pytest.Config) -> bool:
    """True when nothing chose the tests: no --all, no -m, no files or test ids (folders
    alone, as in ``pytest tests``, choose nothing in particular)."""
    if config.getoption("herald_all") or config.getoption("markexpr"):
        return False
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    return all(Path(config.invocation_params.dir, arg).is_dir() for arg in config.args)


@pytest.hookimpl(tryfirst=True)  # before -m reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _on_postgresql(item) and not item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.postgres)


class _Lane:
    """Leaves the slow and PostgreSQL tests out of the fast lane: a plugin of its own so
    that its hook runs after ``-k`` has kept what it asked for."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if not _fast_lane(config):
            return
        slow = [item for item in items if item.get_closest_marker("slow")]
        postgres = [item for item in items if item.get_closest_marker("postgres")
                    and not item.get_closest_marker("slow")]
        if slow or postgres:
            left_out = {id(item) for item in slow + postgres}
            items[:] = [item for item in items if id(item) not in left_out]
            config.hook.pytest_deselected(items=slow + postgres)
        config.stash[_LEFT_OUT] = (len(slow), len(postgres))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    slow, postgres = config.stash.get(_LEFT_OUT, (0, 0))
    if slow or postgres:
        terminalreporter.write_line(
            f"The fast lane left out {slow} slow tests (processes, browsers, corpus sweeps) "
            f"and {postgres} PostgreSQL runs: `pytest --all` runs everything, as CI does; "
            "`pytest -m slow` or `pytest -m postgres` runs only those.")


# A test that starts a program (Python, a browser, pip...) must be marked slow, or the fast
# lane would slowly fill with them: the teardown fails it, naming the command. Only
# subprocess.Popen is watched (so `subprocess.run`, asyncio and Playwright's driver), not
# multiprocessing: a process pool inside Herald is the code under test, not the test's.

_SPAWNED: list[str] = []
_WATCHING: list[bool] = [False]


def _watch_spawns() -> None:
    import subprocess

    if getattr(subprocess.Popen, "_herald_watched", False):
        return
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def execute_child(self: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
        if _WATCHING[0]:
            shown = args if isinstance(args, str | bytes) else " ".join(map(str, args))
            _SPAWNED.append(str(shown)[:200])
        return original(self, args, *rest, **kwargs)

    subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]
    subprocess.Popen._herald_watched = True  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    _watch_spawns()
    config.pluginmanager.register(_Lane(), "herald-fast-lane")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _SPAWNED.clear()
    _WATCHING[0] = item.get_closest_marker("slow") is None


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    spawned, watching = list(_SPAWNED), _WATCHING[0]
    _SPAWNED.clear()
    _WATCHING[0] = False
    if watching and spawned:
        pytest.fail(f"{item.nodeid} started a process ({spawned[0]}) but is not marked "
                    "slow: mark it (@pytest.mark.slow, or pytestmark in its module) so the "
                    "fast lane stays fast", pytrace=False)
