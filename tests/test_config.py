"""Loading the config file: every mistake becomes one ConfigError naming file, key and fix.

Each case is a small TOML text written to tmp_path and read with ``load_settings`` (the
config, then the checks that need the channels, the taxonomy and the tagger); the
environment is always passed in as a dict, never taken from ``os.environ``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app import load_settings, secrets
from bot.config import DEFAULT_CONFIG, config_path, load_config
from bot.errors import ConfigError
from bot.urls import redact_url
from tests.conftest import CONFIG_DIR

TAXONOMY = CONFIG_DIR / "taxonomy.toml"
SECRET_TYPE = "tests.fakes.secret_channel:SecretChannel"

# An inline table, so that whatever a case adds after it stays at the top level.
HEADER = f"paths = {{ taxonomy = {json.dumps(str(TAXONOMY))} }}\n"
FILES = '[[targets]]\nname = "files"\ntype = "file"\n'
NEWS = '[[sources]]\nname = "news"\nurl = "news.xml"\n'
SECRET = f'[[targets]]\nname = "vault"\ntype = "{SECRET_TYPE}"\n'


def write(tmp_path: Path, text: str, name: str = "herald.toml") -> Path:
    """The config, beside the local feeds its cases name (a missing one is an error)."""
    path = tmp_path / name
    path.write_text(HEADER + text, encoding="utf-8")
    for feed in ("news.xml", "a.xml", "b.xml"):
        (tmp_path / feed).touch()
    return path


def config_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return str(info.value)


# (id, TOML after the header, key named in the message, words saying what is allowed)
BAD_CONFIGS = [
    ("unknown top-level key", 'colour = "blue"\n', "colour",
     ["unknown key", "database", "sources", "targets", "routes", "worker"]),
    ("unknown key in a source", NEWS + 'colour = "red"\n', "sources[0] (news).colour",
     ["unknown key", "every", "url", "enabled"]),
    ("interval is a boolean", NEWS + "every = true\n", "sources[0] (news).every",
     ["expected a duration", "15m", "True"]),
    ("interval is a word", NEWS + 'every = "soon"\n', "sources[0] (news).every",
     ["expected a duration", "'soon'"]),
    ("interval has a bad unit", NEWS + 'every = "1x"\n', "sources[0] (news).every",
     ["expected a duration", "units s, m, h, d, w"]),
    ("interval of zero", NEWS + 'every = "0s"\n', "sources[0] (news).every",
     ["above zero"]),
    ("bad source name", '[[sources]]\nname = "News Feed"\nurl = "a.xml"\n',
     "sources[0] (News Feed).name", ["not a valid name", "lowercase letters"]),
    ("second source has a bad name", NEWS + '[[sources]]\nname = "-x"\nurl = "b.xml"\n',
     "sources[1] (-x).name", ["not a valid name"]),
    ("duplicate source names", NEWS + NEWS, "sources", ["unique", "repeated: news"]),
    ("unknown source type", '[[sources]]\nname = "news"\ntype = "atom"\nurl = "a.xml"\n',
     "sources[0] (news).type", ["'atom' is not allowed", "'rss'"]),
    ("source without url", '[[sources]]\nname = "news"\n', "sources[0] (news).url",
     ["required"]),
    ("misspelt URL scheme", '[[sources]]\nname = "news"\nurl = "htp://academy.example/feed"\n',
     "sources[0] (news).url", ["unknown URL scheme 'htp'", "http:// or https://"]),
    ("URL without a host", '[[sources]]\nname = "news"\nurl = "https:///feed.xml"\n',
     "sources[0] (news).url", ["names no host"]),
    ("missing local feed", '[[sources]]\nname = "news"\nurl = "feeds/gone.xml"\n',
     "sources[0] (news).url", ["feeds/gone.xml does not exist",
                               "relative to the config file's folder"]),
    ("missing tagger weights", '[tagging]\nmodel = "weights/none.json"\n', "tagging.model",
     ["tagger weights file", "weights/none.json does not exist"]),
    ("bare number as a duration", '[worker]\nlease = 300\n', "worker.lease",
     ["300 is not a duration; did you mean '300m'?"]),
    ("route to an unknown target", FILES + '[[routes]]\nto = ["nowhere"]\n', "routes[0].to",
     ["unknown target 'nowhere'", "defined targets: digest, files"]),
    ("route with an unknown domain",
     FILES + '[[routes]]\ndomains = ["cooking"]\nto = ["files"]\n', "routes[0].domains",
     ["unknown domain 'cooking'", "learning-capacity", "individual-effectiveness"]),
    ("route with an unknown kind",
     FILES + '[[routes]]\nkinds = ["gossip"]\nto = ["files"]\n', "routes[0].kinds",
     ["unknown kind 'gossip'", "cohort-opening"]),
    ("route to nothing", FILES + "[[routes]]\nto = []\n", "routes[0].to", ["at least 1"]),
    ("button for an unknown kind", '[brand]\nbuttons = { nonsense-kind = "Go" }\n',
     "brand.buttons", ["the unknown kind 'nonsense-kind'", "known kinds:", "cohort-opening"]),
    ("unknown target type", FILES + '[[targets]]\nname = "x"\ntype = "pigeon"\n',
     "targets[1] (x).type", ["unknown target type 'pigeon'", "console", "file",
                             "package.module:Class"]),
    ("target class that cannot be imported",
     '[[targets]]\nname = "x"\ntype = "no_such_module_here:Thing"\n', "targets[0] (x).type",
     ["cannot load channel"]),
    ("unknown option for a file target", FILES + 'colour = "red"\n',
     "targets[0] (files).colour", ["unknown key for a file target", "dir", "enabled"]),
    ("duplicate target names", FILES + FILES, "targets", ["repeated: files"]),
    ("unknown time zone", '[worker]\ntimezone = "Mars/Olympus"\n', "worker.timezone",
     ["unknown time zone", "Europe/London"]),
    ("unsupported database", '[database]\nurl = "mysql://u:pw@db.example/herald"\n',
     "database.url", ["'mysql' is not supported", "sqlite", "postgresql"]),
    ("database url is garbage", '[database]\nurl = "not a url at all"\n', "database.url",
     ["not a database URL", "sqlite:///"]),
    # Issue #17: a switch is true or false and a count a whole number, never coerced
    # ("yes" read as on, 1 as true, [true] as one day before).
    ("reminders switch is a word", '[reminders]\nenabled = "yes"\n', "reminders.enabled",
     ["'yes' is not true or false", "without quotes"]),
    ("reminders broadcast is a number", '[reminders]\nalso_to_channel = 1\n',
     "reminders.also_to_channel", ["1 is not true or false"]),
    ("reminder days are booleans", '[reminders]\ndays_before = { deadline = [true] }\n',
     "reminders.days_before.deadline[0]", ["True is not a whole number"]),
    ("reminder days are a fraction", '[reminders]\ndays_before = { event = [1.5] }\n',
     "reminders.days_before.event[0]", ["1.5 is not a whole number"]),
    ("reminder days are text", '[reminders]\ndays_before = { event = ["1"] }\n',
     "reminders.days_before.event[0]", ["'1' is not a whole number"]),
    ("route reminders is a word",
     FILES + '[[routes]]\nto = ["files"]\nreminders = "off"\n', "routes[0].reminders",
     ["'off' is not true or false"]),
]


@pytest.mark.parametrize(("text", "key", "allowed"),
                         [case[1:] for case in BAD_CONFIGS],
                         ids=[case[0] for case in BAD_CONFIGS])
def test_bad_config_names_file_key_and_what_is_allowed(
        tmp_path: Path, text: str, key: str, allowed: list[str]) -> None:
    path = write(tmp_path, text)
    message = config_error(path)
    assert message.startswith(str(path))
    assert f"key '{key}'" in message
    for words in allowed:
        assert words in message


def test_config_error_keeps_key_and_file_as_attributes(tmp_path: Path) -> None:
    path = write(tmp_path, FILES + '[[routes]]\nto = ["nowhere"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert info.value.key == "routes[0].to"
    assert info.value.file == str(path)


def test_more_than_one_problem_is_counted(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "a = 1\nb = 2\n"))
    assert "key 'a'" in message
    assert "and 1 more problem" in message


@pytest.mark.parametrize("every", ["15", "15.5", '"15"'])
def test_a_bare_number_is_not_an_interval(tmp_path: Path, every: str) -> None:
    # Read as seconds, `every = 15` polled a feed every fifteen seconds.
    message = config_error(write(tmp_path, NEWS + f"every = {every}\n"))
    assert "key 'sources[0] (news).every'" in message
    assert "is not a duration; did you mean '15" in message


def test_a_disabled_source_may_name_a_file_not_there_yet(tmp_path: Path) -> None:
    text = '[[sources]]\nname = "later"\nurl = "later.xml"\nenabled = false\n'
    assert load_config(write(tmp_path, text), environ={}).config.sources[0].enabled is False


def test_a_size_may_still_be_a_number_of_bytes(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "[http]\nmax_body = 2048\n"), environ={})
    assert settings.config.http.max_body == 2048


def test_route_may_name_a_source_added_later(tmp_path: Path) -> None:
    # `herald feeds add` keeps feeds in the database, so a route may name one ahead of time.
    text = FILES + '[[routes]]\nsources = ["added-later"]\nto = ["files"]\n'
    settings = load_config(write(tmp_path, text), environ={})
    assert settings.config.routes[0].sources == ["added-later"]


def test_route_rejects_an_impossible_source_name(tmp_path: Path) -> None:
    text = FILES + '[[routes]]\nsources = ["Not A Name"]\nto = ["files"]\n'
    message = config_error(write(tmp_path, text))
    assert "key 'routes[0].sources'" in message
    assert "'Not A Name' is not a valid source name" in message


# ------------------------------------------------------------------ secrets in the environment

def test_a_config_loads_without_its_targets_secret_and_secrets_lists_it(tmp_path: Path) -> None:
    # Reading the config is what `stories`, `outbox`, `feeds list` and `serve` do: none of
    # them sends, so none needs the token.
    settings = load_settings(write(tmp_path, SECRET), environ={"OTHER": "x"})
    missing = [s for s in secrets(settings) if s.required and not s.is_set]
    assert [(s.variable, s.user) for s in missing] == [
        ("FAKE_TOKEN", f"target vault ({SECRET_TYPE})")]


def test_empty_secret_variable_counts_as_missing(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SECRET), environ={"FAKE_TOKEN": ""})
    assert [s.variable for s in secrets(settings) if s.required and not s.is_set] == [
        "FAKE_TOKEN"]


def test_secret_variable_name_can_be_chosen_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SECRET + 'token_env = "VAULT_TOKEN"\n')
    settings = load_settings(path, environ={"FAKE_TOKEN": "x"})
    assert [s.variable for s in secrets(settings) if s.required and not s.is_set] == [
        "VAULT_TOKEN"]
    settings = load_settings(path, environ={"VAULT_TOKEN": "s3cr3t"})
    assert settings.config.targets[0].options == {"token_env": "VAULT_TOKEN"}
    assert not [s for s in secrets(settings) if s.required and not s.is_set]


def test_disabled_target_does_not_need_its_secret(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SECRET + "enabled = false\n"), environ={})
    assert settings.config.targets[0].enabled is False
    assert not [s for s in secrets(settings) if s.required]


def test_an_x_source_loads_without_its_token_and_secrets_lists_it(tmp_path: Path) -> None:
    text = '[[sources]]\nname = "academy-x"\ntype = "x"\nusername = "academy"\n'
    settings = load_settings(write(tmp_path, text), environ={})
    assert [(s.variable, s.user) for s in secrets(settings) if s.required and not s.is_set] \
        == [("X_BEARER_TOKEN", "source academy-x (x)")]


def test_secret_present_in_environ_is_fine(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SECRET), environ={"FAKE_TOKEN": "s3cr3t"})
    target = settings.target("vault")
    assert target.type == SECRET_TYPE
    # The file names the variable; the value stays in the environment.
    assert "s3cr3t" not in repr(settings.config)


def test_unknown_option_of_a_loaded_channel_lists_its_options(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, SECRET + 'token = "oops"\n'),
                           environ={"FAKE_TOKEN": "x"})
    assert "key 'targets[0] (vault).token'" in message
    assert "token_env" in message


# ------------------------------------------------------------------ the file itself

def test_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "sources = [\n")
    message = config_error(path)
    assert message.startswith(str(path))
    assert "not valid TOML" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "herald.toml"
    message = config_error(path)
    assert str(path) in message
    assert "does not exist" in message


def test_missing_taxonomy_file_names_the_path_and_what_it_is_relative_to(
        tmp_path: Path) -> None:
    path = tmp_path / "herald.toml"
    path.write_text('paths = { taxonomy = "no-such-taxonomy.toml" }\n', encoding="utf-8")
    message = config_error(path)
    assert message.startswith(str(path))
    assert "key 'paths.taxonomy'" in message
    assert str(tmp_path / "no-such-taxonomy.toml") in message
    assert f"relative to the config file's folder, {tmp_path}" in message


def test_a_config_without_a_taxonomy_uses_the_bundled_one(tmp_path: Path) -> None:
    # Before, taxonomy.toml had to sit next to the config, even with the key left out.
    path = tmp_path / "elsewhere" / "herald.toml"
    path.parent.mkdir()
    path.write_text(FILES, encoding="utf-8")
    settings = load_settings(path, environ={})
    assert settings.taxonomy_path == CONFIG_DIR / "taxonomy.toml"


def test_default_config_loads_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(DEFAULT_CONFIG, environ={})
    cfg = settings.config
    assert settings.file == DEFAULT_CONFIG
    assert settings.bundled
    assert [s.name for s in cfg.sources] == ["academy-news", "academy-x-posts"]
    assert {t.type for t in cfg.targets} == {"console", "file"}
    # The bundled default keeps var/ in the working folder (its own is inside the package).
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'herald.db'}"
    assert settings.outbox_dir == tmp_path / "var" / "outbox"
    assert settings.taxonomy_path == CONFIG_DIR / "taxonomy.toml"
    assert settings.resolve("sample/academy-news.xml").is_file()


# ------------------------------------------------------------------ environment overrides

def test_database_url_from_environ_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///from-file.db"\n')
    assert load_config(path, environ={}).database_url == f"sqlite:///{tmp_path}/from-file.db"
    pg = "postgresql+psycopg://herald:pw@127.0.0.1:5432/herald"
    settings = load_config(path, environ={"DATABASE_URL": pg})
    assert settings.database_url == pg
    assert settings.config.database.url == "sqlite:///from-file.db"


def test_bad_database_url_from_environ_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    message = config_error(path, environ={"DATABASE_URL": "mysql://u@h/db"})
    assert "key 'DATABASE_URL (environment)'" in message
    assert "'mysql' is not supported" in message


def test_herald_config_picks_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, NEWS, name="chosen.toml")
    environ = {"HERALD_CONFIG": str(path)}
    assert config_path(None, environ) == path
    settings = load_config(environ=environ)
    assert settings.file == path
    assert [s.name for s in settings.config.sources] == ["news"]


def test_explicit_path_beats_herald_config(tmp_path: Path) -> None:
    chosen = write(tmp_path, NEWS, name="chosen.toml")
    assert config_path(chosen, {"HERALD_CONFIG": str(tmp_path / "other.toml")}) == chosen


def test_without_path_or_variable_herald_toml_here_else_the_default_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_path(None, {}) == DEFAULT_CONFIG
    local = tmp_path / "herald.toml"
    local.write_text("", encoding="utf-8")
    assert config_path(None, {}) == local


def test_relative_paths_are_read_from_the_config_folder(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, NEWS), environ={})
    assert settings.resolve("news.xml") == tmp_path / "news.xml"
    assert settings.taxonomy_path == TAXONOMY


# ------------------------------------------------------------------ redaction

@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://u:secret@h/db", "postgresql+psycopg://u:***@h/db"),
    ("postgresql://herald:p4ss@db.example:5432/herald?sslmode=require",
     "postgresql://herald:***@db.example:5432/herald?sslmode=require"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///var/herald.db", "sqlite:///var/herald.db"),
    ("https://academy.example.org/feed.xml", "https://academy.example.org/feed.xml"),
    # what URL parsers accept and simple patterns miss
    ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://:secret@h/db", "postgresql://:***@h/db"),
    ("postgresql://h/db?user=u&password=secret", "postgresql://h/db?user=u&password=***"),
    ("https://x.example/invoke?api-version=1&sig=secret", "https://x.example/invoke?"
     "api-version=1&sig=***"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_source_errors_never_show_a_password_in_the_url() -> None:
    from bot.errors import FetchError

    err = FetchError("HTTP 500", url="https://reader:hunter2@academy.example.org/feed.xml")
    assert "hunter2" not in str(err) and "reader:***@" in str(err)
