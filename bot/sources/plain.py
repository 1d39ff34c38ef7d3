"""Feed errors in plain words: the one place where a fetch or parse failure becomes a
sentence a comms officer can act on ("the site refused the connection") instead of
``ConnectError: [Errno 111] Connection refused``.

``plain_error`` reads an exception (by its type: a guard refusal, a ``ParseError``, a
timeout...) or the technical text a poll stored as a feed's ``last_error``, and returns
:class:`Plain`: the ``words`` to show and the technical ``detail`` to keep (in the log, and
in a folded "details" on a page). ``Unreadable`` is the error the feed use cases raise: a
``SourceError`` whose message is the plain words, the technical text kept as ``detail``.
The technical messages themselves are unchanged (logs, tests and stored rows keep them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import ParseError, SourceError


@dataclass(frozen=True)
class Plain:
    """A failure in plain words, and the technical text it came from."""

    words: str
    detail: str


class Unreadable(SourceError):
    """A feed that could not be read, said in plain words; ``detail`` is the technical
    message (an exception's own text), for the log and a folded detail."""

    default_message = "the feed could not be read"

    def __init__(self, message: str, *, detail: str, url: str | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message, url=url, permanent=permanent)
        self.detail = detail


def _deadline(m: re.Match[str]) -> str:
    return f"the site did not answer within {m.group(1)} s"


def _status(m: re.Match[str]) -> str:
    code, phrase = m.group(1), (m.group(2) or "").strip()
    words = f"the site answered {code} {phrase}".strip()
    hint = {"401": "it wants a sign-in", "403": "it does not let Herald in",
            "404": "no page at this address", "410": "the page was removed",
            "429": "it asks Herald to slow down"}.get(code)
    if code.startswith("5"):
        hint = "a fault on the site's side; Herald tries again later"
    return f"{words} ({hint})" if hint else words


def _size(m: re.Match[str]) -> str:
    return f"the feed is too large: over {int(m.group(1)) / 1e6:g} MB"


Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

#: Technical text -> plain words, first match wins. The patterns are the messages of
#: bot.sources.fetch, bot.sources.guard and bot.sources.feed, and of httpx and the OS.
RULES: tuple[Rule, ...] = tuple((re.compile(p, re.I), w) for p, w in (
    (r"^refused: .* resolves to .*, a (cloud metadata|loopback|link-local|private|"
     r"carrier-grade NAT)", "the address is on a private network"),
    (r"^refused: .* resolves to", "the address is not one Herald may read from "
                                  "(a reserved or multicast address)"),
    (r"only http and https", "only http:// and https:// addresses can be read"),
    (r"^not a valid URL", "this is not a valid web address"),
    (r"cannot resolve|resolves to no address|name or service not known|nodename nor "
     r"servname|getaddrinfo failed|temporary failure in name resolution",
     "no such address (DNS): the site's name was not found"),
    (r"within the ([\d.]+) s deadline", _deadline),
    (r"timed out|timeout", "the site did not answer in time"),
    (r"errno 111\b|connection refused|econnrefused|errno 61\b",
     "the site refused the connection"),
    (r"no route to host|network is unreachable|errno 113\b|errno 101\b",
     "the site could not be reached (no route to it)"),
    (r"^ConnectError", "the site could not be reached"),
    (r"^HTTP (\d{3})\b(.*)$", _status),
    (r"too many redirects", "the site sends Herald round in redirects"),
    (r"over the (\d+)-byte limit", _size),
    (r"could not decode|unsupported content-encoding",
     "the site sent a compressed answer Herald could not unpack"),
    (r"RemoteProtocolError|ReadError|WriteError|connection (reset|closed|aborted)|"
     r"server disconnected", "the site closed the connection without an answer"),
    (r"HTML page|web page with no feed link", "this is a web page with no feed link"),
    (r"the body is empty", "the site sent an empty page"),
    (r"not an RSS, Atom or JSON feed|not a JSON Feed|JSON Feed must be|not valid JSON",
     "this address is not a feed (RSS, Atom or JSON Feed)"),
    (r"^no such file", "no such file"),
    (r"is a folder", "this is a folder, not a feed file"),
    (r"shutting down", "Herald stopped while reading it"),
))


def plain_words(technical: str) -> str:
    """The plain words for a technical error message (itself when no rule knows it)."""
    text = technical.strip()
    for pattern, words in RULES:
        found = pattern.search(text)
        if found:
            return words if isinstance(words, str) else words(found)
    return text


def plain_error(error: BaseException | str) -> Plain:
    """An error in plain words: an exception (its type first, then its message) or the
    text stored as a feed's last error."""
    if isinstance(error, str):
        return Plain(plain_words(_without_url(error)), error)
    if isinstance(error, Unreadable):
        return Plain(error.message, error.detail)
    detail = str(error)
    if isinstance(error, ParseError) and "HTML page" in error.message:
        return Plain("this is a web page with no feed link", detail)
    if isinstance(error, SourceError):
        return Plain(plain_words(error.message), detail)
    if isinstance(error, TimeoutError):
        return Plain("the site did not answer in time", detail)
    if isinstance(error, ConnectionRefusedError):
        return Plain("the site refused the connection", detail)
    return Plain(plain_words(f"{type(error).__name__}: {error}"), detail)


def in_one_line(error: BaseException | str) -> str:
    """The plain words and, when they differ, the technical text after them: for the
    command line's one-line reports."""
    plain = plain_error(error)
    return plain.words if plain.detail in ("", plain.words) else \
        f"{plain.words} [{plain.detail}]"


def unreadable(error: SourceError) -> Unreadable:
    """``error`` again, its message in plain words (the technical one kept as detail)."""
    if isinstance(error, Unreadable):
        return error
    plain = plain_error(error)
    return Unreadable(plain.words, detail=plain.detail, url=error.url,
                      permanent=error.permanent)


def _without_url(text: str) -> str:
    """A stored ``SourceError`` text without the trailing ``(address)`` it names."""
    return re.sub(r"\s*\((?:https?|file)://[^()]*\)\s*$", "", text.strip())
