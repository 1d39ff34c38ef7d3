"""The web app's sign-in, roles, CSRF, sessions, rate limits and headers (TestClient).

Every route the app has is walked from ``app.routes``: signed out, each staff route
redirects to /login (pages) or answers 401 JSON (/api); signed in, each write without
the session's CSRF token is refused with 403. The other files cover each feature:
test_web_queue (announcements), test_web_stories (stories and feeds), test_web_public
(subscriber pages) and test_web_ops (health, metrics, CLI, secrets).
"""

from __future__ import annotations

import re
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.routing import APIRoute

from bot.clock import FixedClock
from tests.web_helpers import (
    ADMIN,
    APPROVER,
    COOKIE,
    EDITOR,
    PASSWORD,
    Web,
    make_web,
    session_token,
)

PUBLIC = {"/login", "/subscribe", "/confirm/{token}", "/preferences/{token}",
          "/unsubscribe/{token}", "/healthz", "/readyz",
          "/setup/{token}",  # the first-run page: gone once an account exists
          "/invite/{token}", "/reset/{token}", "/forgot",  # links by email (accounts)
          # What was published, for anyone (bot/web/outputs.py; tests/test_calendar.py).
          "/calendar.ics", "/calendar/{domain}.ics", "/feed/{slug}.xml", "/feed/{slug}.json"}


DRAFT = {"title": "t", "kind": "news", "targets": ["files"]}


def api_body(path: str) -> dict[str, object]:
    """A valid JSON body for an API write (so the check under test is what answers)."""
    if path.endswith("/return"):
        return {"comment": "please change the title"}
    if path.endswith("/hold"):
        return {"hold": True}
    if path.endswith("/tags"):
        return {"kind": "news", "domains": []}
    if path in ("/api/announcements", "/api/announcements/1"):
        return DRAFT
    if path.endswith("/correction"):
        return {"title": "Corrected"}
    if path.endswith("/decide"):
        return {"apply": False}
    if path.endswith("/delete-post"):
        return {"target": "files"}
    return {}


def routes(web: Web) -> list[tuple[str, str]]:
    """(method, concrete path) of every route the app serves, placeholders filled in."""
    found = []
    flat: list[object] = []
    pending = list(web.app.routes)
    while pending:  # FastAPI keeps included routers as one entry each, nested too
        route = pending.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            pending.extend(inner.routes)
        else:
            flat.append(route)
    for route in flat:
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: "x" if m.group(1) in ("name", "token") else "1",
                      route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path, route.path))
    return found  # type: ignore[return-value]


def test_every_staff_route_needs_sign_in(web: Web) -> None:
    c = web.client()
    checked = 0
    for method, path, template in routes(web):  # type: ignore[misc]
        if template in PUBLIC:
            continue
        body = api_body(path) if method in ("POST", "PUT") else None
        r = c.request(method, path, follow_redirects=False, json=body)
        checked += 1
        if path.startswith("/api/"):
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json() == {"error": "sign in first"}
        else:
            assert r.status_code == 303, (method, path, r.status_code)
            expected = f"/login?next={path}" if method == "GET" else "/login?next=/"
            assert r.headers["location"] == expected, (method, path)
    assert checked >= 40  # every page, form and API route was walked
    # Signed out, an API write is refused before its body is even validated.
    for body in (None, {}, {"title": 1}, []):
        r = c.post("/api/announcements", json=body)
        assert r.status_code == 401 and r.json() == {"error": "sign in first"}, body


def test_sign_in_lands_on_next_and_signed_in_pages_render(web: Web) -> None:
    c = web.client()
    r = c.get("/stories", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/stories"
    page = c.get(r.headers["location"]).text
    assert 'name="next" value="/stories"' in page
    r = web.sign_in(c, EDITOR, next_="/stories")
    assert r.status_code == 303 and r.headers["location"] == "/stories"
    for path in ("/", "/queue", "/queue/new", "/stories", "/feeds"):
        r = c.get(path)
        assert r.status_code == 200, path
    assert EDITOR in c.get("/queue").text


def test_wrong_password_and_unknown_account_get_the_same_answer(web: Web) -> None:
    c = web.client()
    wrong = web.sign_in(c, EDITOR, "not the password at all")
    unknown = web.sign_in(c, "nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    assert COOKIE not in c.cookies


@pytest.mark.parametrize(("path", "method"), [
    ("/subscribers", "GET"), ("/users", "GET"), ("/subscribers/remove", "POST"),
    ("/users", "POST"), ("/feeds/check", "POST"), ("/feeds", "POST"),
    ("/feeds/x/pause", "POST"), ("/feeds/x/remove", "POST"),
])
def test_an_editor_is_refused_approver_and_admin_routes(web: Web, path: str,
                                                        method: str) -> None:
    ed = web.staff(EDITOR)
    r = ed.get(path) if method == "GET" else ed.post(path, {"email": "a@example.org"})
    assert r.status_code == 403
    assert "this needs the" in r.text


def test_subscribers_and_accounts_are_admin_only(web: Web) -> None:
    ap = web.staff(APPROVER)
    for path in ("/subscribers", "/users"):
        r = ap.get(path)
        assert r.status_code == 403 and "admin role" in r.text
    r = ap.post("/users", {"email": "x@example.org", "role": "admin", "password": PASSWORD})
    assert r.status_code == 403
    assert web.store.find_user("x@example.org") is None

    ad = web.staff(ADMIN)
    assert ad.get("/subscribers").status_code == 200
    page = ad.get("/users")
    assert page.status_code == 200 and APPROVER in page.text
    r = ad.post("/users", {"email": "new@example.org", "role": "editor",
                           "password": "another long password"})
    assert r.status_code == 303 and r.headers["location"] == "/users?done=user-added"
    assert web.store.get_user("new@example.org").role == "editor"
    # The staff nav shows the admin pages only to admins.
    assert 'href="/users"' in ad.get("/queue").text
    assert 'href="/users"' not in ap.get("/queue").text


def test_every_staff_write_without_the_csrf_token_is_refused(web: Web) -> None:
    ad = web.staff(ADMIN)
    checked = 0
    for method, path, template in routes(web):  # type: ignore[misc]
        if method not in ("POST", "PUT") or template in PUBLIC:
            continue
        if path.startswith("/api/"):
            for headers in ({}, {"X-CSRF-Token": "forged"}):
                r = ad.client.request(method, path, json=api_body(path), headers=headers)
                assert r.status_code == 403, (method, path, headers)
                assert "security token" in r.json()["error"]
        else:
            for data in ({}, {"csrf": "forged"}, {"csrf": ""}):
                r = ad.client.request(method, path, data=data, follow_redirects=False)
                assert r.status_code == 403, (method, path, data)
                assert "security token" in r.text
        checked += 1
    assert checked >= 25
    # Nothing was changed by any of them: the account list is as it was.
    assert len(web.store.list_users()) == 5


def test_a_staff_form_with_the_token_works_and_the_token_is_per_session(web: Web) -> None:
    ed = web.staff(EDITOR)
    other = web.staff(APPROVER)
    assert ed.csrf != other.csrf
    data = {"title": "t", "kind": "news", "targets": ["files"], "when": "now"}
    r = ed.client.post("/queue/new", data={**data, "csrf": other.csrf}, follow_redirects=False)
    assert r.status_code == 403
    r = ed.post("/queue/new", data)
    assert r.status_code == 303


def test_public_forms_need_their_signed_form_token(web: Web) -> None:
    c = web.client()
    r = c.post("/login", data={"email": EDITOR, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/login", data={"csrf": "forged", "email": EDITOR, "password": PASSWORD},
               follow_redirects=False)
    assert r.status_code == 403
    assert COOKIE not in c.cookies


def test_cookie_flags(web: Web) -> None:
    c = web.client()
    r = web.sign_in(c, EDITOR)
    raw = r.headers["set-cookie"]
    cookie = SimpleCookie()
    cookie.load(raw)
    assert list(cookie) == [COOKIE]  # the __Host- prefix: Secure, Path=/, no Domain
    morsel = cookie[COOKIE]
    assert morsel["secure"] and morsel["httponly"]
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/" and not morsel["domain"]
    assert int(morsel["max-age"]) == 12 * 3600


def test_no_session_fixation(web: Web) -> None:
    c = web.client()
    c.cookies.set(COOKIE, "planted-by-an-attacker")
    assert web.sign_in(c, EDITOR).status_code == 303
    token = session_token(c)
    assert token and token != "planted-by-an-attacker"
    # The planted value is not a session, before or after the victim signed in.
    attacker = web.client(cookies={COOKIE: "planted-by-an-attacker"})
    r = attacker.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # A second sign-in, even from a signed-in browser, starts another session.
    assert web.sign_in(c, EDITOR).status_code == 303
    assert session_token(c) != token


def test_sign_out_ends_the_session_on_the_server(web: Web) -> None:
    ed = web.staff(EDITOR)
    token = session_token(ed.client)
    assert token
    r = ed.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login?done=signed-out"
    assert 'Max-Age=0' in r.headers["set-cookie"] or 'expires=' in r.headers["set-cookie"]
    # The old cookie, replayed by someone who copied it, is worthless.
    replay = web.client(cookies={COOKIE: token})
    assert replay.get("/queue", follow_redirects=False).status_code == 303
    assert replay.get("/api/session").status_code == 401
    assert web.store.get_session(token, web.clock.now()) is None


def test_a_session_expires(web: Web) -> None:
    ed = web.staff(EDITOR)
    assert ed.get("/queue").status_code == 200
    web.clock.advance(hours=12, seconds=1)
    assert ed.get("/queue").status_code == 303


def test_a_disabled_account_or_a_new_password_ends_its_sessions(web: Web) -> None:
    ed = web.staff(EDITOR)
    web.store.set_user(EDITOR, disabled=True)
    assert ed.get("/queue").status_code == 303
    r = web.sign_in(web.client(), EDITOR)
    assert r.status_code == 401


def test_failed_sign_ins_slow_down_then_lock(web: Web) -> None:
    c = web.client()
    for _ in range(3):  # the first failures cost nothing; the third starts a wait
        assert web.sign_in(c, EDITOR, "wrong password!!").status_code == 401
    r = web.sign_in(c, EDITOR)  # even the right password waits
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in r.text and COOKIE not in c.cookies
    web.clock.advance(seconds=2)
    assert web.sign_in(c, EDITOR, "wrong password!!").status_code == 401  # fourth
    r = web.sign_in(c, EDITOR, "wrong password!!")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 2
    web.clock.advance(seconds=3)
    assert web.sign_in(c, EDITOR, "wrong password!!").status_code == 401  # fifth: locked
    r = web.sign_in(c, EDITOR)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 14 * 60  # [web] lock_for, 15 minutes
    web.clock.advance(minutes=10)
    assert web.sign_in(c, EDITOR).status_code == 429
    web.clock.advance(minutes=6)
    assert web.sign_in(c, EDITOR).status_code == 303
    assert web.store.get_user(EDITOR).failed_logins == 0


def test_sign_in_is_rate_limited_per_address(tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"login_rate": 3})
    try:
        web.ctx.login_limiter._clock = lambda: 1000.0  # no time passes
        here = web.client()
        for _ in range(3):
            assert web.sign_in(here, "nobody@example.org", "x" * 12).status_code == 401
        r = web.sign_in(here, EDITOR)
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 61
        assert "Too many sign-in attempts" in r.text and COOKIE not in here.cookies
        # Another address is not affected.
        there = web.client(client=("192.0.2.7", 4000))
        assert web.sign_in(there, EDITOR).status_code == 303
        # The window passes.
        web.ctx.login_limiter._clock = lambda: 1061.0
        assert web.sign_in(here, EDITOR).status_code == 303
    finally:
        web.close()


@pytest.mark.parametrize("path", ["/login", "/queue", "/stories", "/subscribe",
                                  "/no-such-page", "/api/session"])
def test_security_headers(web: Web, path: str) -> None:
    ad = web.staff(ADMIN)
    r = ad.get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "object-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("target", [
    "//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "//evil.example/%2F..", "evil.example", "/\t/evil.example",
])
def test_no_open_redirect_after_sign_in(web: Web, target: str) -> None:
    c = web.client()
    page = c.get("/login", params={"next": target}).text
    shown = re.search(r'name="next" value="([^"]*)"', page)
    assert shown and as_browser_reads(shown.group(1)) == "/queue"
    r = web.sign_in(c, EDITOR, next_=target)
    assert r.status_code == 303
    assert as_browser_reads(r.headers["location"]) == "/queue"


def as_browser_reads(location: str) -> str:
    """Where a browser goes: it drops tabs and newlines and reads \\ as /; anything that
    leaves the site (a host or a scheme) is reported as "offsite"."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not cleaned.startswith("/"):
        return "offsite"
    return "/queue" if cleaned == "/queue" else "elsewhere:" + cleaned


def test_signed_in_forbidden_page_keeps_the_session(web: Web) -> None:
    ed = web.staff(EDITOR)
    r = ed.get("/users")
    assert r.status_code == 403
    assert "Sign out" in r.text  # the error page still knows who is signed in
    assert ed.get("/queue").status_code == 200


def test_lock_state_is_per_account(web: Web) -> None:
    c = web.client()
    for _ in range(5):
        web.sign_in(c, EDITOR, "wrong password!!")
        web.clock.advance(seconds=20)
    locked = web.store.login_state(EDITOR)
    assert locked is not None and locked.locked_until is not None
    assert web.sign_in(c, APPROVER).status_code == 303
    locked = web.store.login_state(EDITOR)
    assert locked is not None and locked.locked_until is not None
    assert locked.locked_until > web.clock.now() + timedelta(minutes=14)
