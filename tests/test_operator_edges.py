"""Operator edges an outside attack on issue #14 found: a secret pasted where its
variable's name belongs, secret query parameters under other names, durations and ids too
large to mean anything, ``herald init`` given an empty name, a file or a symbolic link,
``db upgrade`` saying what it did, and bidirectional overrides in titles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import load_config
from bot.durations import parse_duration
from bot.errors import ConfigError
from bot.text import clean_text
from bot.urls import redact_url

SECRET = "xoxb-1234-REALTOKENVALUE"


def invoke(*args: str, cwd: Path) -> tuple[int, str]:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args), env={"HERALD_CONFIG": ""})
    finally:
        os.chdir(old)
    return result.exit_code, result.output


@pytest.fixture
def site(tmp_path: Path) -> Path:
    code, output = invoke("init", "site", cwd=tmp_path)
    assert code == 0, output
    return tmp_path / "site"


@pytest.mark.parametrize(("kind", "key"), [("slack", "token_env"), ("teams", "webhook_env")])
def test_a_secret_pasted_into_an_env_key_is_refused_and_never_shown(
        site: Path, kind: str, key: str) -> None:
    extra = 'channel = "#news"\n' if kind == "slack" else ""
    secret = SECRET if kind == "slack" else "https://10.0.0.1/invoke?sig=REALSIG"
    with (site / "herald.toml").open("a") as fh:
        fh.write(f'\n[[targets]]\nname = "staff"\ntype = "{kind}"\n{extra}{key} = "{secret}"\n')
    code, output = invoke("config", "check", cwd=site)
    assert code == 2
    assert f"(staff).{key}" in output and "NAME of an environment variable" in output
    assert "REALTOKENVALUE" not in output and "REALSIG" not in output


def test_an_x_sources_and_the_digests_env_keys_take_names_only(tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text('[digest]\nsmtp_env = "smtp://user:pw@10.0.0.1"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config, {})
    assert "digest.smtp_env" in str(caught.value) and "pw@" not in str(caught.value)


@pytest.mark.parametrize("name", ["api_key", "apikey", "access_token", "client_secret",
                                  "signature", "X-Amz-Signature", "X-Amz-Credential", "auth",
                                  "refresh_token", "key", "sig", "password"])
def test_secret_query_parameters_are_redacted_under_the_names_apis_give_them(name: str
                                                                             ) -> None:
    shown = redact_url(f"https://10.0.0.1/feed.xml?page=2&{name}=S3CRET&keyword=leaders")
    assert "S3CRET" not in shown
    assert "page=2" in shown and "keyword=leaders" in shown


@pytest.mark.parametrize("text", ["9999999d", "99999999999d", "3651d", "600w"])
def test_a_duration_past_ten_years_is_refused_in_words(text: str) -> None:
    with pytest.raises(ValueError, match="too long; the longest duration is 3650d"):
        parse_duration(text)


def test_a_poll_interval_past_ten_years_stops_the_config_with_its_key(site: Path) -> None:
    text = (site / "herald.toml").read_text()
    (site / "herald.toml").write_text(text.replace('every = "15m"', 'every = "99999999999d"',
                                                   1))
    code, output = invoke("config", "check", cwd=site)
    assert code == 2 and "every" in output and "too long" in output
    assert "Traceback" not in output


def test_feeds_add_and_stories_since_refuse_durations_past_ten_years(site: Path) -> None:
    code, output = invoke("feeds", "add", "sample/academy-news.xml", "--name", "again",
                          "--every", "9999999d", cwd=site)
    assert code == 2 and "too long" in output
    code, output = invoke("stories", "--since", "99999999999d", cwd=site)
    assert code == 2 and "too long" in output


def test_an_id_too_large_for_the_database_is_one_line_not_a_traceback(site: Path) -> None:
    code, output = invoke("outbox", "retry", "99999999999999999999", cwd=site)
    assert code == 2, output
    assert "too large" in output


def test_init_refuses_an_empty_name_a_file_and_a_symbolic_link(tmp_path: Path) -> None:
    code, output = invoke("init", "", cwd=tmp_path)
    assert code == 2 and "give the folder" in output
    assert not (tmp_path / "herald.toml").exists()
    (tmp_path / "afile").write_text("x")
    for args in (("init", "afile"), ("init", "afile", "--force")):
        code, output = invoke(*args, cwd=tmp_path)
        assert code == 2 and "is a file, not a folder" in output
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "herald.toml").symlink_to(tmp_path / "victim.toml")
    code, output = invoke("init", "linked", "--force", cwd=tmp_path)
    assert code == 2 and "symbolic link" in output
    assert not (tmp_path / "victim.toml").exists()


def test_init_quotes_a_folder_with_spaces_in_its_hint(tmp_path: Path) -> None:
    code, output = invoke("init", "weird name", cwd=tmp_path)
    assert code == 0 and "cd 'weird name' && herald run --once" in output


def test_db_upgrade_says_what_it_migrated(site: Path) -> None:
    code, output = invoke("db", "upgrade", cwd=site)
    assert code == 0 and "migrated from schema (empty) to" in output
    code, output = invoke("db", "upgrade", cwd=site)
    assert code == 0 and "is up to date (schema" in output


def test_bidirectional_overrides_are_dropped_from_text_and_marks_kept() -> None:
    assert clean_text("Cohort \u202eneht\u202c open \u2067x\u2069") == "Cohort neht open x"
    assert clean_text("\u05e9\u05dc\u05d5\u05dd \u200f ok") == "\u05e9\u05dc\u05d5\u05dd \u200f ok"
