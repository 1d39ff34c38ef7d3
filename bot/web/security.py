"""Sign-in, sessions, roles, CSRF, rate limits and security headers for the web app.

- Sessions are server-side (``bot.store._users``); the cookie holds a random token and is
  HttpOnly, SameSite=Lax and (by default) Secure, under the ``__Host-`` prefix. Signing in
  always starts a new session, so a token planted earlier is worthless (no fixation).
- Every state-changing request from a signed-in user carries the session's CSRF token: a
  ``csrf`` form field, or an ``X-CSRF-Token`` header for the JSON API. Public forms carry a
  short-lived signed token instead (there is no session to tie it to).
- Failed sign-ins slow down (a growing wait before the next try), then lock the address,
  counted in the database per casefolded address (``bot.store._logins``), for addresses
  with and without an account alike; sign-in and subscribe are also limited per client
  address, in this process.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.store import Session, Store, User
from bot.tokens import Signer, TokenError

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
FORM_PURPOSE = "public-form"
FORM_MAX_AGE = 2 * 3600

CSP = ("default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# The digest preview is an email's own HTML (inline styles) shown in a sandboxed frame of
# our own page: it may be framed by us, and runs nothing.
FRAMED_CSP = ("default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
              "frame-ancestors 'self'; sandbox")


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role (or the CSRF token) does not allow this."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def cookie_name(secure: bool) -> str:
    return "__Host-herald" if secure else "herald_session"


@dataclass
class Auth:
    """The web app's view of who is signed in."""

    store: Store
    secure: bool
    session_length: timedelta

    @property
    def cookie(self) -> str:
        return cookie_name(self.secure)

    def session(self, request: Request, now: datetime) -> Session | None:
        token = request.cookies.get(self.cookie)
        if not token or len(token) > 200:
            return None
        return self.store.get_session(token, now)

    def set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(self.cookie, token, max_age=int(self.session_length.total_seconds()),
                            path="/", secure=self.secure, httponly=True, samesite="lax")

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True,
                               samesite="lax")


def require_role(session: Session | None, role: str) -> User:
    if session is None:
        raise SignInRequired()
    if not session.user.can(role):
        raise Forbidden(f"this needs the {role} role; you are {session.user.role}")
    return session.user


def check_csrf(session: Session, supplied: str | None) -> None:
    if not supplied or not hmac.compare_digest(supplied, session.csrf):
        raise Forbidden("the form's security token is missing or wrong: reload the page "
                        "and try again")


def check_same_origin(request: Request) -> None:
    """Refuse a form posted from another site (a forged sign-in into someone else's
    account, a subscribe from a hostile page): browsers say where a request comes from in
    ``Sec-Fetch-Site`` and ``Origin``. Clients that send neither (scripts, mail servers)
    pass; they have no victim's browser to ride."""
    site = request.headers.get("sec-fetch-site")
    if site == "cross-site":
        raise Forbidden("this form was sent from another site")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        from urllib.parse import urlsplit

        if urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
            raise Forbidden("this form was sent from another site")


def public_form_token(signer: Signer) -> str:
    return signer.sign(FORM_PURPOSE, "f")


def check_public_form(signer: Signer, supplied: str | None) -> None:
    try:
        signer.check(FORM_PURPOSE, supplied or "", max_age=FORM_MAX_AGE)
    except TokenError:
        raise Forbidden("the form has expired or was not sent from this site: reload the "
                        "page and try again") from None


def login_delay(failures: int, max_failures: int, lock_for: timedelta) -> timedelta | None:
    """How long an account waits after ``failures`` failed sign-ins in a row: nothing for
    the first two, then 1, 2, 4… seconds, and ``lock_for`` from ``max_failures`` on."""
    if failures >= max_failures:
        return lock_for
    if failures < 3:
        return None
    return timedelta(seconds=min(2 ** (failures - 3), 60))


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key, in this process (a web
    process per machine is the expected shape; each would keep its own count).

    Memory is bounded: keys are kept in the order they were last hit, so each hit drops
    the keys at the front whose window has passed (nothing to remember), and past
    ``max_keys`` the least recently hit go even if their window has not."""

    def __init__(self, limit: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one event; None when allowed, else the seconds until the next is."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            events = self._events.setdefault(key, deque())
            self._events.move_to_end(key)
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window - now
            events.append(now)
            return None

    def _forget(self, now: float) -> None:
        while self._events:
            key, events = next(iter(self._events.items()))
            if len(self._events) < self.max_keys and events and \
                    events[-1] > now - self.window:
                return  # the least recently hit key still counts: so do all after it
            del self._events[key]

    def __len__(self) -> int:
        """How many keys are remembered."""
        with self._lock:
            return len(self._events)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _has_nul(request: Request) -> bool:
    from urllib.parse import unquote

    return "\x00" in request.url.path or "\x00" in unquote(request.url.query)


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP, framing, referrer and sniffing headers on every response."""

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if _has_nul(request):
            # No database takes a NUL in text (PostgreSQL refuses it): stop it at the door.
            message = "the address contains a NUL character"
            response: Response = JSONResponse({"error": message}, status_code=400) \
                if request.url.path.startswith("/api") else \
                PlainTextResponse(message, status_code=400)
        else:
            response = await call_next(request)
        framed = response.headers.get("x-herald-framed") == "1"
        if framed:
            del response.headers["x-herald-framed"]
        response.headers.setdefault("Content-Security-Policy", FRAMED_CSP if framed else CSP)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if framed else "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Permissions-Policy",
                                    "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
