"""The command line and the web app share their use cases and their JSON shapes.

Adding a feed is one operation (``bot/usecases/feeds.py``) behind ``herald feeds add`` and
the web app's feed form: both refuse a feed whose server answers 404, a page that is not a
feed, a copy of a feed already there (same name, or the same canonical URL) and an address
the SSRF guard refuses, each with the same message. The feeds are served by the loopback
feed server, which the configs here allow (``[http] allow_networks = ["127.0.0.0/8"]``);
the CLI runs as ``python -m bot`` in a child process, the web app in-process.

A story, a delivery and a feed read the same from ``--json`` and from ``/api``
(``bot/shapes.py``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from tests.fakes.feed_server import FeedServer, running_feed_server
from tests.test_cli import FEED, TAXONOMY, flat, herald, json_out
from tests.web_helpers import APPROVER, Web, make_web

NOT_A_FEED = b"<!doctype html><html><head><title>Our news</title></head><body>Hi</body></html>"
ALLOW_LOOPBACK = {"allow_networks": ["127.0.0.0/8"]}


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with running_feed_server() as s:
        s.add("/news.xml", FEED.encode())
        s.add("/other.xml", FEED.replace("test-academy", "other-academy").encode())
        s.add("/page.html", NOT_A_FEED, "text/html; charset=utf-8")
        yield s


def write_config(root: Path, server: FeedServer, database: Path | None = None,
                 sources: str | None = None) -> Path:
    """A config with one feed, `news`, read from the loopback server."""
    config = root / "herald.toml"
    db = f'[database]\nurl = "sqlite:///{database}"\n' if database else ""
    config.write_text(
        f"paths = {{ taxonomy = {json.dumps(str(TAXONOMY))} }}\n{db}"
        '[http]\nallow_networks = ["127.0.0.0/8"]\n'
        '[tagging]\nmodel = "off"\n'
        + (sources if sources is not None else
           f'[[sources]]\nname = "news"\nurl = "{server.url("/news.xml")}"\n')
        + '[[targets]]\nname = "files"\ntype = "file"\n[[routes]]\nto = ["files"]\n',
        encoding="utf-8")
    return config


def feed_names(root: Path, config: Path) -> list[str]:
    return sorted(f["name"] for f in json_out(herald(root, "feeds", "list", "--json",
                                                     "--config", config)))


def cli_refusal(root: Path, config: Path, *args: str) -> str:
    """The one-line error ``herald feeds add ARGS`` gives (it must give one)."""
    result = herald(root, "feeds", "add", *args, "--config", config, code=None)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    return flat(result.stderr)


# -- herald feeds add -------------------------------------------------------------------------

@pytest.mark.slow
def test_feeds_add_refuses_a_url_that_answers_404(tmp_path: Path, server: FeedServer) -> None:
    config = write_config(tmp_path, server)
    error = cli_refusal(tmp_path, config, server.url("/missing.xml"), "--name", "missing")
    assert "404" in error and server.url("/missing.xml") in error
    assert feed_names(tmp_path, config) == ["news"]


@pytest.mark.slow
def test_feeds_add_refuses_a_page_that_is_not_a_feed(tmp_path: Path,
                                                      server: FeedServer) -> None:
    config = write_config(tmp_path, server)
    error = cli_refusal(tmp_path, config, server.url("/page.html"), "--name", "page")
    assert server.url("/page.html") in error
    assert feed_names(tmp_path, config) == ["news"]


@pytest.mark.slow
def test_feeds_add_refuses_a_feed_already_there(tmp_path: Path, server: FeedServer) -> None:
    config = write_config(tmp_path, server)
    news = server.url("/news.xml")
    # The same URL under another name; its canonical form too (a tracking parameter).
    for url in (news, news + "?utm_source=newsletter"):
        error = cli_refusal(tmp_path, config, url, "--name", "news-again")
        assert "the feed “news” already reads" in error, error
    # Another feed under the same name.
    error = cli_refusal(tmp_path, config, server.url("/other.xml"), "--name", "news")
    assert "a feed named 'news' already exists" in error
    assert feed_names(tmp_path, config) == ["news"]


@pytest.mark.slow
def test_feeds_add_warns_of_an_empty_feed_and_adds_it(tmp_path: Path, server: FeedServer
                                                      ) -> None:
    config = write_config(tmp_path, server)
    server.add("/empty.xml", b'<?xml version="1.0"?><rss version="2.0"><channel>'
               b"<title>Empty</title><link>https://academy.example.org/</link>"
               b"<description>x</description></channel></rss>")
    added = flat(herald(tmp_path, "feeds", "add", server.url("/empty.xml"), "--name",
                        "empty", "--config", config).stdout)
    assert "added feed empty" in added and "0 entries found" in added
    assert "warning: This feed has no entries" in added


@pytest.mark.slow
def test_feeds_add_accepts_a_good_loopback_feed(tmp_path: Path, server: FeedServer) -> None:
    config = write_config(tmp_path, server)
    url = server.url("/other.xml")
    before = server.hits("/other.xml")
    added = herald(tmp_path, "feeds", "add", url, "--name", "other", "--every", "30m",
                   "--config", config)
    assert "added feed other" in flat(added.stdout) and "3 entries found" in flat(added.stdout)
    assert server.hits("/other.xml") == before + 1
    feeds = {f["name"]: f for f in json_out(herald(tmp_path, "feeds", "list", "--json",
                                                   "--config", config))}
    assert set(feeds) == {"news", "other"}
    assert feeds["other"]["url"] == url and feeds["other"]["every"] == "30m"
    assert feeds["other"]["origin"] == "database" and feeds["other"]["paused"] is False


@pytest.mark.slow
def test_feeds_add_redacts_the_url_it_names_in_an_error(tmp_path: Path,
                                                        server: FeedServer) -> None:
    config = write_config(tmp_path, server)
    secret = server.url("/missing.xml").replace("http://", "http://reader:pw-S3CRET@") \
        + "?token=tok-S3CRET"
    error = cli_refusal(tmp_path, config, secret, "--name", "private")
    assert "404" in error and "S3CRET" not in error and "reader:***@" in error


# -- the same refusal from either face --------------------------------------------------------

@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory, server: FeedServer
          ) -> Iterator[tuple[Web, Path, Path]]:
    """The web app and a CLI workspace, each with the feed `news` from the loopback server."""
    web_root = tmp_path_factory.mktemp("web")
    web = make_web(web_root, FixedClock(datetime(2026, 11, 5, 9, 0, tzinfo=UTC)),
                   http=ALLOW_LOOPBACK, sources=[{"name": "news",
                                                  "url": server.url("/news.xml")}])
    cli_root = tmp_path_factory.mktemp("cli")
    yield web, cli_root, write_config(cli_root, server)
    web.close()


REFUSED = [  # (url, or a path on the loopback server; name; every), a word of the message
    pytest.param("/missing.xml", "missing", "", "404", id="http-404"),
    pytest.param("/page.html", "page", "", "page.html", id="not-a-feed"),
    pytest.param("/news.xml", "news-again", "", "already reads", id="same-url"),
    pytest.param("/news.xml?utm_source=mail", "news-again", "", "already reads",
                 id="same-canonical-url"),
    pytest.param("/other.xml", "news", "", "already exists", id="same-name"),
    pytest.param("http://10.0.0.5/feed.xml", "inside", "", "private network",
                 id="ssrf-guard"),
    pytest.param("ftp://example.org/feed", "ftp", "", "http:// or https://", id="scheme"),
    pytest.param("/other.xml", "Bad Name!", "", "not a valid name", id="bad-name"),
    pytest.param("/other.xml", "other", "10s", "once a minute", id="too-often"),
    pytest.param("/other.xml", "other", "often", "poll interval", id="not-a-duration"),
]
_ALERT = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)


@pytest.mark.slow
@pytest.mark.parametrize(("url", "name", "every", "words"), REFUSED)
def test_the_web_form_and_the_cli_refuse_alike(faces: tuple[Web, Path, Path],
                                               server: FeedServer, url: str, name: str,
                                               every: str, words: str) -> None:
    web, cli_root, config = faces
    url = server.url(url) if url.startswith("/") else url
    ap = web.staff(APPROVER)
    checked = ap.post("/feeds/check", {"url": url, "name": name, "every": every})
    assert checked.status_code == 422
    found = _ALERT.search(checked.text)
    assert found, checked.text
    message = html.unescape(found.group(1)).strip()
    assert words in message, message
    # Posting the add form without the check page is refused with the same message.
    added = ap.post("/feeds", {"url": url, "name": name, "every": every})
    assert added.status_code in (409, 422)
    assert message in html.unescape(added.text)
    assert [s.name for s in web.store.list_sources()] == ["news"]

    args = [url, "--name", name] + (["--every", every] if every else [])
    assert message in cli_refusal(cli_root, config, *args)


# -- JSON shapes ------------------------------------------------------------------------------

def keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, all the way down (lists by their first)."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys(value[0])] if value else []
    return None


def without_passed(story: dict[str, Any]) -> dict[str, Any]:
    """A story without its dates' ``passed`` (the CLI's today is the real clock's)."""
    return {**story, "dates": [{k: v for k, v in d.items() if k != "passed"}
                               for d in story["dates"]]}


@pytest.mark.slow
def test_a_story_and_its_deliveries_read_the_same_from_the_cli_and_the_api(
        tmp_path: Path, server: FeedServer) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(FEED, encoding="utf-8")
    web = make_web(tmp_path, FixedClock(datetime(2026, 11, 5, 9, 0, tzinfo=UTC)),
                   sources=[{"name": "test-news", "url": str(feed)}])
    try:
        web.herald.collect(all_enabled=True)
        web.herald.dispatch()
        ed = web.staff(APPROVER)
        api = ed.api("GET", "/api/stories").json()
        one = ed.api("GET", f"/api/stories/{api[0]['id']}").json()
    finally:
        web.close()
    cli_root = tmp_path / "cli"
    cli_root.mkdir()
    config = write_config(cli_root, server, database=tmp_path / "herald.db",
                          sources=f'[[sources]]\nname = "test-news"\nurl = "{feed}"\n')
    cli = json_out(herald(cli_root, "stories", "--json", "--config", config))
    outbox = json_out(herald(cli_root, "outbox", "--json", "--config", config))

    assert len(cli) == len(api) == 3
    by_id = {s["id"]: s for s in cli}
    for story in api:
        assert story["deliveries"] and story["dates"] is not None
        assert keys(by_id[story["id"]]) == keys(story)
        assert without_passed(by_id[story["id"]]) == without_passed(story)
    assert one == next(s for s in api if s["id"] == one["id"])
    # herald outbox lists the same deliveries as the stories carry.
    delivered = sorted((d for s in api for d in s["deliveries"]), key=lambda d: d["id"])
    assert sorted(outbox, key=lambda d: d["id"]) == delivered
