"""The SSRF guard. Refusals of private, link-local and metadata addresses are tested at the
guard, on resolved addresses from a resolver that returns them for test names: no packet
is ever sent outside 127.0.0.0/8. Loopback is allowed explicitly where a test fetches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.errors import FetchError
from bot.sources.fetch import Validators, fetch, make_client
from bot.sources.guard import UrlGuard

NAMES = {
    "feeds.example": ["93.184.215.14"],
    "metadata.test": ["169.254.169.254"],
    "metadata6.test": ["fd00:ec2::254"],
    "intranet.test": ["10.1.2.3"],
    "router.test": ["192.168.1.1"],
    "cgnat.test": ["100.64.0.1"],
    "linklocal6.test": ["fe80::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "mixed.test": ["93.184.215.14", "172.16.0.9"],
    "loop.test": ["127.0.0.1"],
}


def resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError("no such host")
    return NAMES[host]


@pytest.mark.parametrize(("url", "words"), [
    ("http://metadata.test/latest/meta-data/", "cloud metadata"),
    ("http://169.254.169.254/latest/", "cloud metadata"),
    ("http://metadata6.test/", "cloud metadata"),
    ("https://intranet.test/feed", "private address"),
    ("http://router.test/", "private address"),
    ("http://cgnat.test/", "carrier-grade NAT"),
    ("http://linklocal6.test/", "link-local"),
    ("http://mapped.test/", "loopback"),
    ("http://mixed.test/", "private address"),  # one bad address is enough
    ("http://loop.test/", "loopback"),
    ("http://[::1]:8080/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("ftp://feeds.example/feed", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
])
def test_refused(url: str, words: str) -> None:
    with pytest.raises(FetchError) as exc:
        UrlGuard(resolver=resolver).check(url)
    assert words in str(exc.value) and exc.value.permanent


def test_public_and_allowed_networks_pass() -> None:
    UrlGuard(resolver=resolver).check("https://feeds.example/rss")
    UrlGuard(["10.1.2.0/24"], resolver=resolver).check("https://intranet.test/feed")
    UrlGuard(["127.0.0.0/8"], resolver=resolver).check("http://loop.test/")
    with pytest.raises(FetchError, match="cannot resolve"):
        UrlGuard(resolver=resolver).check("http://nowhere.test/")


def test_the_real_client_checks_every_redirect(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.add("/feed.xml", b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    loopback_only = UrlGuard(["127.0.0.0/8"], resolver=resolver)
    with make_client(timeout=2, max_redirects=3, user_agent="t", guard=loopback_only) as c:
        fetched = fetch(feed_server.url("/redirect/feed.xml"), client=c,
                        validators=Validators(), max_body=10_000)
        assert fetched.body.startswith(b"<rss")
    # By default loopback is refused before any connection is made.
    with make_client(timeout=2, max_redirects=3, user_agent="t",
                     guard=UrlGuard(resolver=resolver)) as c, pytest.raises(FetchError) as exc:
        fetch(feed_server.url("/feed.xml"), client=c, validators=Validators(),
              max_body=10_000)
    assert "loopback" in str(exc.value)
    assert feed_server.hits("/feed.xml") == 1  # only the allowed fetch reached the server


def test_a_redirect_to_the_inside_is_refused_before_it_is_followed(feed_server) -> None:  # type: ignore[no-untyped-def]
    hops: list[str] = []
    guard = UrlGuard(["127.0.0.0/8"], resolver=resolver)

    def record(request: httpx.Request) -> None:
        hops.append(str(request.url))
        guard.hook(request)

    client = httpx.Client(timeout=2, follow_redirects=True, event_hooks={"request": [record]})
    with client, pytest.raises(FetchError) as exc:
        # The feed server redirects to a name that resolves to the metadata address.
        fetch(feed_server.url("/redirect-to?url=http://metadata.test/latest/"), client=client,
              validators=Validators(), max_body=10_000)
    assert "cloud metadata" in str(exc.value)
    assert hops[-1].startswith("http://metadata.test/")  # checked, and never sent


@pytest.mark.slow
def test_feeds_add_refuses_an_inside_address(tmp_path: Path) -> None:
    from tests.conftest import CONFIG_DIR

    config = tmp_path / "h.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "h.db"}"\n[paths]\n'
                      f'taxonomy = "{CONFIG_DIR / "taxonomy.toml"}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_CONFIG", "DATABASE_URL")}
    result = subprocess.run([sys.executable, "-m", "bot", "feeds", "add",
                             "http://169.254.169.254/latest/meta-data/", "--config",
                             str(config)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "cloud metadata" in result.stderr and "Traceback" not in result.stderr


def test_the_worker_refuses_an_inside_feed_unless_allowed(tmp_path: Path, feed_server) -> None:  # type: ignore[no-untyped-def]
    from bot.app import Herald
    from tests.conftest import make_settings

    url = feed_server.add("/feed.xml", b"<rss version='2.0'><channel><title>t</title>"
                                       b"<item><title>x</title><guid>1</guid></item>"
                                       b"</channel></rss>")
    refused = Herald(make_settings(tmp_path / "default", {
        "sources": [{"name": "inside", "url": url}]}))
    try:
        refused.prepare()
        stats = refused.collect(all_enabled=True)
        assert stats.errors == 1
        error = refused.store.get_source("inside").last_error or ""
        assert "loopback" in error
    finally:
        refused.close()
    assert feed_server.hits("/feed.xml") == 0  # refused before any connection

    allowed = Herald(make_settings(tmp_path / "allowed", {
        "sources": [{"name": "inside", "url": url}],
        "http": {"allow_networks": ["127.0.0.0/8"]}}))
    try:
        allowed.prepare()
        assert allowed.collect(all_enabled=True).changed == 1
    finally:
        allowed.close()
    assert feed_server.hits("/feed.xml") == 1
