"""Canonical URLs, shortener detection and URLs written out in text."""

from __future__ import annotations

import pytest

from bot.urls import canonical_url, is_shortened, urls_in_text

CANONICAL = [
    # scheme and host are lowercased; an empty path becomes "/"
    ("HTTP://Academy.Example.ORG", "http://academy.example.org/"),
    ("https://ACADEMY.example.org/News/Cohort", "https://academy.example.org/News/Cohort"),
    ("https://academy.example.org?p=5", "https://academy.example.org/?p=5"),
    # default ports are dropped, other ports kept
    ("http://academy.example.org:80/a", "http://academy.example.org/a"),
    ("https://academy.example.org:443/a", "https://academy.example.org/a"),
    ("http://academy.example.org:8080/a", "http://academy.example.org:8080/a"),
    ("https://academy.example.org:8443/a", "https://academy.example.org:8443/a"),
    ("https://academy.example.org:80/a", "https://academy.example.org:80/a"),
    ("http://academy.example.org:443/a", "http://academy.example.org:443/a"),
    # tracking parameters go, the rest stay in their order
    ("https://academy.example.org/n?utm_source=x&utm_medium=social&utm_campaign=c",
     "https://academy.example.org/n"),
    ("https://academy.example.org/n?UTM_Content=a&id=7", "https://academy.example.org/n?id=7"),
    ("https://academy.example.org/n?fbclid=abc&b=2&gclid=def&a=1&mc_cid=1&mc_eid=2",
     "https://academy.example.org/n?b=2&a=1"),
    ("https://academy.example.org/n?z=1&y=2&x=3", "https://academy.example.org/n?z=1&y=2&x=3"),
    ("https://academy.example.org/n?a=1&a=2&empty=", "https://academy.example.org/n?a=1&a=2&empty="),
    ("https://academy.example.org/?p=123", "https://academy.example.org/?p=123"),
    ("https://academy.example.org/?p=124", "https://academy.example.org/?p=124"),
    # the fragment is dropped
    ("https://academy.example.org/page#section-2", "https://academy.example.org/page"),
    ("https://academy.example.org/page?q=1#top", "https://academy.example.org/page?q=1"),
    # surrounding whitespace, a trailing dot on the host
    ("  https://academy.example.org/x \n", "https://academy.example.org/x"),
    ("https://academy.example.org./x", "https://academy.example.org/x"),
    # spaces in the path are percent-encoded; existing escapes stay as they are
    ("https://academy.example.org/a b", "https://academy.example.org/a%20b"),
    ("https://academy.example.org/a%20b", "https://academy.example.org/a%20b"),
    # internationalised host names become their ASCII (punycode) form
    ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
    ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
    # IPv6 literals keep their brackets
    ("http://[::1]:8080/feed", "http://[::1]:8080/feed"),
    # credentials never identify a page (and must not be stored)
    ("https://user:secret@academy.example.org/x", "https://academy.example.org/x"),
    # unreserved escapes are decoded, reserved ones kept: /a%2Fb is not /a/b
    ("https://academy.example.org/%7Eteam/a%2fb", "https://academy.example.org/~team/a%2Fb"),
]

NOT_URLS = [
    None, "", "   ", "not a url", "academy.example.org/page", "//academy.example.org/page",
    "ftp://academy.example.org/file", "mailto:comms@academy.example.org",
    "javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd", "http://",
    "https://", "https://academy.example.org:99999/", "https://academy.example.org:port/",
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", NOT_URLS)
def test_canonical_url_of_non_http_or_garbage_is_none(url: str | None) -> None:
    assert canonical_url(url) is None


@pytest.mark.parametrize(("url", "_"), CANONICAL)
def test_canonical_url_is_idempotent(url: str, _: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


def test_different_query_values_are_different_pages() -> None:
    assert (canonical_url("https://academy.example.org/?p=123")
            != canonical_url("https://academy.example.org/?p=124"))


def test_same_page_written_differently_compares_equal() -> None:
    forms = [
        "https://academy.example.org/news/seacole?id=4",
        "HTTPS://academy.EXAMPLE.org:443/news/seacole?id=4#apply",
        "https://academy.example.org/news/seacole?utm_source=x&id=4&fbclid=zz",
    ]
    assert len({canonical_url(u) for u in forms}) == 1


@pytest.mark.parametrize(("url", "expected"), [
    ("https://t.co/AbC123", True),
    ("http://T.CO/AbC123", True),
    ("https://bit.ly/3xyz", True),
    ("https://lnkd.in/abc", True),
    ("https://academy.example.org/news", False),
    ("https://not-t.co/abc", False),
    ("https://t.co.example.org/abc", False),
    ("not a url", False),
    ("http://[broken", False),
])
def test_is_shortened(url: str, expected: bool) -> None:
    assert is_shortened(url) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Apply now: https://t.co/Kp3vQ8wLmZ.", ["https://t.co/Kp3vQ8wLmZ"]),
    ("Read it (https://academy.example.org/a?b=1), then share!",
     ["https://academy.example.org/a?b=1"]),
    ("Two: https://bit.ly/one, and http://academy.example.org/two; done",
     ["https://bit.ly/one", "http://academy.example.org/two"]),
    ("Really? https://academy.example.org/q?! Yes", ["https://academy.example.org/q"]),
    ("In brackets <https://academy.example.org/x> and [https://academy.example.org/y]",
     ["https://academy.example.org/x", "https://academy.example.org/y"]),
    ('Quoted "https://academy.example.org/z" here', ["https://academy.example.org/z"]),
    ("HTTPS://ACADEMY.EXAMPLE.ORG/UP", ["HTTPS://ACADEMY.EXAMPLE.ORG/UP"]),
    ("No links, just ftp://academy.example.org/f and www.example.org", []),
    ("", []),
])
def test_urls_in_text(text: str, expected: list[str]) -> None:
    assert urls_in_text(text) == expected
