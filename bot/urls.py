"""URL helpers: canonical URLs, so the same page from two sources compares equal, and
``redact_url``, a URL safe to show.

Scheme and host are lowercased, the default port and the fragment dropped,
tracking parameters removed (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``,
``mc_eid`` and a few of their cousins); every other query parameter is kept in
its order, because ``/?p=123`` and ``/?p=124`` are different pages.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid",
    "igshid", "yclid", "_hsenc", "_hsmi", "mkt_tok", "ref_src",
})
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": 80, "https": 443}
SHORTENER_HOSTS = frozenset({"t.co", "bit.ly", "ow.ly", "buff.ly", "tinyurl.com", "lnkd.in",
                             "goo.gl", "dlvr.it", "ift.tt"})
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _decode_unreserved(match: re.Match[str]) -> str:
    """%7E → ~ (same page), but %2F stays %2F: decoding it would change the path."""
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str | None) -> str | None:
    """The canonical form of an http(s) URL; None for anything that is not one."""
    if not url:
        return None
    return _canonical(url)


@lru_cache(maxsize=4096)
def _canonical(url: str) -> str | None:
    """canonical_url of a non-empty URL (cached: an item's URL comes back as its links', its
    keys' and its features', and a feed's links repeat)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    # Credentials are dropped: they never identify a page, and must not be stored.
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(_PERCENT.sub(_decode_unreserved, parts.path),
                 safe="/:@!$&'()*+,;=-._~%") or "/"
    query_pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not is_tracking_param(k)]
    query = urlencode(query_pairs, doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


def is_shortened(url: str) -> bool:
    """True for links from known URL shorteners (t.co and the like)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in SHORTENER_HOSTS


def urls_in_text(text: str) -> list[str]:
    """The http(s) URLs written out in plain text, in order, without trailing punctuation."""
    return [m.group(0).rstrip(".,;:!?") for m in URL_IN_TEXT.finditer(text)]


#: Query parameters whose values are secrets: passwords, keys, tokens and signatures under
#: the names APIs give them (``api_key``, ``access_token``, ``X-Amz-Signature``…).
_QUERY_SECRET = re.compile(
    r"([?&](?:[\w.-]*[_.-])?(?:password|passwd|pass|pwd|token|sig|signature|key|apikey|"
    r"secret|auth|authorization|credential|code|session|sid|jwt)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL with its password and secret query values replaced by ***, for logs, errors
    and ``config check``. Handles what URL parsers accept but regexes miss (a password
    with '/' or '@' in it, an empty user name)."""
    start = url.find("//")
    if start != -1:
        # The user information ends at the last '@' (a password may hold '/' or '@').
        rest = url[start + 2:]
        userinfo, at, host = rest.rpartition("@")
        if at and ":" in userinfo:
            url = f"{url[:start + 2]}{userinfo.split(':', 1)[0]}:***@{host}"
    return _QUERY_SECRET.sub(r"\1***", url)
