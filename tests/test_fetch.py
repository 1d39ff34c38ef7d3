"""Fetching feed bytes over real HTTP on loopback, and from local files."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import FetchError, NotModified
from bot.sources.fetch import Fetched, Validators, body_hash, fetch, make_client

MB = 1_000_000
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Academy test feed</title>
<link>https://academy.example.org/</link><description>For fetch tests</description>
<item><title>Coaching offer</title><guid>fetch-test-1</guid></item>
</channel></rss>
"""


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=5.0, max_redirects=5, user_agent="test") as c:
        yield c


@pytest.fixture
def quick_client() -> Iterator[httpx.Client]:
    with make_client(timeout=0.5, max_redirects=5, user_agent="test") as c:
        yield c


def get(url: str, client: httpx.Client, validators: Validators | None = None,
        max_body: int = MB) -> Fetched:
    return fetch(url, client=client, validators=validators or Validators(), max_body=max_body)


def headers_of_last(server: Any, path: str) -> dict[str, str]:
    for _, p, headers in reversed(server.requests):
        if p.split("?")[0] == path:
            return {k.lower(): v for k, v in headers.items()}
    raise AssertionError(f"no request for {path}")


# ---------------------------------------------------------------- conditional GET


def test_first_fetch_returns_body_and_validators(feed_server: Any, client: httpx.Client
                                                 ) -> None:
    url = feed_server.add("/feed.xml", FEED)
    got = get(url, client)
    assert isinstance(got, Fetched)
    assert got.body == FEED
    assert got.content_type is not None and got.content_type.startswith("application/rss+xml")
    assert got.final_url == url
    res = feed_server.state.resources["/feed.xml"]
    assert got.validators.etag == res.etag
    assert got.validators.last_modified == res.last_modified
    assert got.validators.body_hash == body_hash(FEED)
    assert got.headers["etag"] == res.etag
    sent = headers_of_last(feed_server, "/feed.xml")
    assert sent["user-agent"] == "test"
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_second_fetch_with_validators_is_not_modified(feed_server: Any,
                                                      client: httpx.Client) -> None:
    url = feed_server.add("/feed.xml", FEED)
    first = get(url, client)
    with pytest.raises(NotModified, match="304"):
        get(url, client, first.validators)
    sent = headers_of_last(feed_server, "/feed.xml")
    assert sent["if-none-match"] == first.validators.etag
    assert sent["if-modified-since"] == first.validators.last_modified
    assert feed_server.hits("/feed.xml") == 2


def test_last_modified_alone_gets_304(feed_server: Any, client: httpx.Client) -> None:
    url = feed_server.add("/feed.xml", FEED)
    first = get(url, client)
    with pytest.raises(NotModified):
        get(url, client, Validators(last_modified=first.validators.last_modified))
    assert "if-none-match" not in headers_of_last(feed_server, "/feed.xml")


def test_server_ignoring_validators_same_bytes_is_not_modified(feed_server: Any,
                                                               client: httpx.Client) -> None:
    url = feed_server.add("/feed.xml", FEED)
    first = get(url, client)
    feed_server.state.ignore_conditional = True
    with pytest.raises(NotModified, match="same bytes"):
        get(url, client, first.validators)
    # the server did answer 200 with the whole body: our hash caught it
    assert headers_of_last(feed_server, "/feed.xml")["if-none-match"] == first.validators.etag


def test_changed_body_is_fetched_again(feed_server: Any, client: httpx.Client) -> None:
    url = feed_server.add("/feed.xml", FEED)
    first = get(url, client)
    changed = FEED.replace(b"Coaching offer", b"Coaching offer (updated)")
    feed_server.add("/feed.xml", changed)
    second = get(url, client, first.validators)
    assert second.body == changed
    assert second.validators.etag != first.validators.etag
    assert second.validators.body_hash == body_hash(changed)


# ---------------------------------------------------------------- errors


def test_http_500_is_a_fetch_error(feed_server: Any, client: httpx.Client) -> None:
    with pytest.raises(FetchError, match="HTTP 500") as info:
        get(feed_server.url("/status/500"), client)
    assert info.value.retry_after is None
    assert info.value.url == feed_server.url("/status/500")


@pytest.mark.parametrize("code", [503, 429])
def test_retry_after_is_kept(feed_server: Any, client: httpx.Client, code: int) -> None:
    with pytest.raises(FetchError, match=f"HTTP {code}") as info:
        get(feed_server.url(f"/status/{code}"), client)
    assert info.value.retry_after == 120


def test_http_404_is_a_fetch_error(feed_server: Any, client: httpx.Client) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        get(feed_server.url("/nothing-here.xml"), client)


def test_slow_server_times_out(feed_server: Any, quick_client: httpx.Client) -> None:
    feed_server.state.slow_seconds = 3
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        get(feed_server.url("/slow"), quick_client)
    assert time.monotonic() - started < 2.5


def test_slow_drip_fails_within_bounded_time(feed_server: Any, quick_client: httpx.Client
                                             ) -> None:
    # each byte arrives well within the read timeout, but the whole body would take ~12 s
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        get(feed_server.url("/drip"), quick_client)
    assert time.monotonic() - started < 3


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_whole_request_deadline(
        feed_server: Any, quick_client: httpx.Client) -> None:
    # Each byte of the status line and headers comes well within the read timeout; before
    # the deadline covered the headers, the fetch waited for all of them and succeeded.
    with pytest.raises(FetchError, match="deadline") as caught:
        get(feed_server.url("/slow-headers"), quick_client)
    assert "/slow-headers" in str(caught.value)  # the error names the feed


def test_the_configured_deadline_bounds_a_fetch_longer_than_its_read_timeout(
        feed_server: Any) -> None:
    with make_client(timeout=5.0, deadline=0.5, max_redirects=5, user_agent="t") as c:
        with pytest.raises(FetchError, match=r"0\.5 s deadline"):
            get(feed_server.url("/slow-headers"), c)
        feed_server.add("/ok.xml", FEED)  # the client is fine for the next fetch
        assert get(feed_server.url("/ok.xml"), c).body == FEED


def test_setting_the_stop_event_ends_a_fetch_under_way(feed_server: Any) -> None:
    stop = threading.Event()
    with make_client(timeout=5.0, deadline=120.0, max_redirects=5, user_agent="t",
                     stop=stop) as c:
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        try:
            with pytest.raises(FetchError, match="shutting down"):
                get(feed_server.url("/slow-headers"), c)
        finally:
            timer.cancel()


def test_redirect_is_followed(feed_server: Any, client: httpx.Client) -> None:
    target = feed_server.add("/feed.xml", FEED)
    got = get(feed_server.url("/redirect/feed.xml"), client)
    assert got.body == FEED
    assert got.final_url == target
    assert feed_server.hits("/redirect/feed.xml") == 1
    assert feed_server.hits("/feed.xml") == 1


def test_redirect_loop_is_a_fetch_error(feed_server: Any, client: httpx.Client) -> None:
    with pytest.raises(FetchError, match="too many redirects"):
        get(feed_server.url("/loop"), client)
    assert feed_server.hits("/loop") == 6  # the first request and five redirects


def test_big_body_is_refused(feed_server: Any, client: httpx.Client) -> None:
    with pytest.raises(FetchError, match="1000000-byte limit"):
        get(feed_server.url("/big"), client, max_body=MB)


def test_body_just_under_the_limit_is_read(feed_server: Any, client: httpx.Client) -> None:
    body = b"<rss>" + b" " * (MB - 5)
    url = feed_server.add("/edge.xml", body)
    assert len(get(url, client, max_body=MB).body) == MB
    with pytest.raises(FetchError, match="limit"):
        get(url, client, max_body=MB - 1)


def test_gzip_bomb_counts_the_decompressed_size(feed_server: Any, client: httpx.Client
                                                ) -> None:
    with pytest.raises(FetchError, match="1000000-byte limit"):
        get(feed_server.url("/gzip-bomb"), client, max_body=MB)


def test_connection_reset_is_a_fetch_error(feed_server: Any, client: httpx.Client) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        get(feed_server.url("/reset"), client)
    # a reset, seen at once, not a timeout of the 5 s client
    assert "timed out" not in str(info.value)
    assert time.monotonic() - started < 2


def test_connection_reset_is_tried_twice_then_fails(feed_server: Any,
                                                   client: httpx.Client) -> None:
    with pytest.raises(FetchError, match=r"ReadError|RemoteProtocolError"):
        get(feed_server.url("/reset"), client)
    assert [p for _m, p, _h in feed_server.state.requests] == ["/reset", "/reset"]


def test_a_connection_broken_once_is_retried_on_a_fresh_one(feed_server: Any,
                                                            client: httpx.Client) -> None:
    """A keep-alive connection closed under the request costs the source nothing: the
    second attempt gets the feed."""
    feed_server.add("/news.xml", FEED)
    fetched = get(feed_server.url("/flaky/news.xml"), client)
    assert fetched.body == FEED
    assert [p for _m, p, _h in feed_server.state.requests] == ["/flaky/news.xml"] * 2


def test_refused_connection_is_a_fetch_error(client: httpx.Client) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError):
        get(f"http://127.0.0.1:{port}/feed.xml", client)


def test_remote_without_client_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="no HTTP client"):
        fetch("https://academy.example.org/feed.xml", client=None, validators=Validators(),
              max_body=MB)


# ---------------------------------------------------------------- local files


def test_local_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    got = fetch(str(path), client=None, validators=Validators(), max_body=MB)
    assert got.body == FEED
    assert got.validators == Validators(body_hash=body_hash(FEED))
    assert got.final_url == str(path)


def test_local_file_relative_to_base_dir_and_file_url(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "a.xml").write_bytes(FEED)
    rel = fetch("feeds/a.xml", client=None, validators=Validators(), max_body=MB,
                base_dir=tmp_path)
    url = fetch((tmp_path / "feeds" / "a.xml").as_uri(), client=None,
                validators=Validators(), max_body=MB)
    assert rel.body == url.body == FEED


def test_local_file_same_hash_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = fetch(str(path), client=None, validators=Validators(), max_body=MB)
    with pytest.raises(NotModified):
        fetch(str(path), client=None, validators=first.validators, max_body=MB)
    path.write_bytes(FEED + b"\n")
    assert fetch(str(path), client=None, validators=first.validators, max_body=MB).body \
        == FEED + b"\n"


def test_missing_local_file_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no such file"):
        fetch(str(tmp_path / "absent.xml"), client=None, validators=Validators(), max_body=MB)


def test_local_directory_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="folder"):
        fetch(str(tmp_path), client=None, validators=Validators(), max_body=MB)


def test_local_file_over_the_limit_is_a_fetch_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    with pytest.raises(FetchError, match="limit"):
        fetch(str(path), client=None, validators=Validators(), max_body=len(FEED) - 1)
