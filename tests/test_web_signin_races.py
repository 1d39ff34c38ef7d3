"""Sign-in lockout, subscribe mail and rate limits under pressure (issue #12, defect 13).

Wrong passwords sent in parallel to a real uvicorn server are not all checked: each try
is counted in the database before its password is, and once the address is locked the
rest are refused unchecked, and so is the right password after them. Addresses are
casefolded, so capitals after a lock tell nothing about which addresses have accounts;
two web processes on one database count together; one address gets a bounded number of
confirmation emails however many client addresses ask; the in-process rate limiter
forgets what no longer counts. Storage is exercised on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.app import Herald
from bot.clock import FixedClock
from bot.store import Store
from bot.web import create_app
from bot.web.security import RateLimiter, login_delay
from tests.web_helpers import BASE, EDITOR, PASSWORD, Web, form_csrf, make_web, serving

WRONG = "not the password at all"
NOBODY = "nobody@example.org"
FAILSAFE = 60.0


def _attempt(client: Any, email: str, password: str) -> Any:
    token = form_csrf(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "email": email, "password": password,
                                       "next": "/queue"}, follow_redirects=False)


def _counting_verify(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the password checks the sign-in page makes (the real check still runs)."""
    import bot.web.pages.auth as pages

    calls: list[int] = []
    real = pages.verify_password
    lock = threading.Lock()

    def counted(stored: str | None, password: str) -> bool:
        with lock:
            calls.append(1)
        return real(stored, password)

    monkeypatch.setattr(pages, "verify_password", counted)
    return calls


def _in_parallel(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(i)`` for i in range(n), all released at once by a barrier."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(FAILSAFE)
    return results


def test_parallel_wrong_passwords_are_not_all_checked_and_the_lock_holds(
        tmp_path: Path, clock: FixedClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = make_web(tmp_path, clock, db_url=db_url,
                   web={"secure_cookies": False, "login_rate": 10_000})
    checks = _counting_verify(monkeypatch)
    try:
        with serving(web.app) as base:
            clients = [httpx.Client(base_url=base, timeout=FAILSAFE) for _ in range(40)]
            tokens = [form_csrf(c.get("/login").text) for c in clients]

            def wrong(i: int) -> int:
                return clients[i].post("/login", data={
                    "csrf": tokens[i], "email": EDITOR, "password": WRONG}).status_code

            statuses = _in_parallel(40, wrong)
            right = _attempt(clients[0], EDITOR, PASSWORD)
            for c in clients:
                c.close()
        assert set(statuses) <= {401, 429} and 429 in statuses
        # Only the tries the policy allows before the lock had their password checked.
        assert len(checks) <= web.herald.settings.config.web.max_failed_logins
        assert statuses.count(401) == len(checks)
        # And the right password, after the burst, is refused unchecked.
        assert right.status_code == 429 and len(checks) == statuses.count(401)
    finally:
        web.close()


def test_parallel_reservations_let_through_only_what_the_policy_allows(
        store: Store, clock: FixedClock) -> None:
    now = clock.now()

    def policy(failures: int) -> timedelta | None:
        return login_delay(failures, 5, timedelta(minutes=15))

    got = _in_parallel(30, lambda _i: store.reserve_login("Someone@Example.org", now, policy))
    # Three go through, then the third's failure starts a wait (1 s) that the others meet.
    assert got.count(None) == 3
    state = store.login_state("someone@example.org")
    assert state is not None and state.failures == 3
    later = now + timedelta(seconds=2)
    got = _in_parallel(30, lambda _i: store.reserve_login("SOMEONE@example.org", later,
                                                          policy))
    assert got.count(None) == 1  # the fourth, then a wait of 2 s
    store.clear_login("someone@EXAMPLE.org")
    assert store.login_state("someone@example.org") is None


def _lock(web: Web, client: TestClient, *emails: str) -> list[Any]:
    """Five wrong passwords for each address, side by side, waiting out each growing
    pause: the addresses are locked, from the same moment."""
    for _ in range(5):
        for email in emails:
            assert _attempt(client, email, WRONG).status_code == 401
        web.clock.advance(seconds=61)
    return [_attempt(client, email, WRONG) for email in emails]


def _alert(html: str) -> str:
    text = html.split('role="alert"')[1].split("</p>")[0]
    return re.sub(r"in \d+\w*( \d+\w*)?", "in N", text)


def test_an_address_in_capitals_after_a_lock_reveals_nothing(dbweb: Web) -> None:
    web = dbweb
    web.ctx.login_limiter.limit = 10_000
    client = web.client()
    assert [r.status_code for r in _lock(web, client, EDITOR, NOBODY)] == [429, 429]
    account = _attempt(client, EDITOR.upper(), WRONG)
    no_account = _attempt(client, NOBODY.upper(), WRONG)
    assert account.status_code == no_account.status_code == 429
    assert _alert(account.text) == _alert(no_account.text)
    assert account.headers["Retry-After"] == no_account.headers["Retry-After"]
    # The lock is the address's in any case; the right password waits too.
    assert _attempt(client, "Ed@Example.ORG", PASSWORD).status_code == 429
    web.clock.advance(minutes=16)
    # Once it ends, the account signs in whatever case its address is typed in.
    assert _attempt(client, "ED@EXAMPLE.ORG", PASSWORD).status_code == 303
    assert web.store.login_state(EDITOR) is None


def test_two_web_processes_count_failures_together(dbweb: Web) -> None:
    web = dbweb
    second = create_app(Herald(web.herald.settings, clock=web.clock))
    clients = [TestClient(web.app, base_url=BASE), TestClient(second, base_url=BASE)]
    try:
        for app in (web.app, second):
            app.state.ctx.login_limiter.limit = 10_000
        for n in range(5):  # alternately, against the one process and the other
            assert _attempt(clients[n % 2], NOBODY, WRONG).status_code == 401
            web.clock.advance(seconds=61)
        for client in clients:
            assert _attempt(client, NOBODY, WRONG).status_code == 429
    finally:
        for client in clients:
            client.close()
        second.state.ctx.herald.close()


def test_one_address_gets_a_bounded_number_of_confirmation_emails(dbweb: Web) -> None:
    web = dbweb
    answers = []
    for n in range(12):  # twelve client addresses, one recipient in any case
        client = web.client(client=(f"198.51.100.{n + 1}", 4000))
        token = form_csrf(client.get("/subscribe").text)
        email = "Reader@Example.net" if n % 2 else "reader@example.net"
        r = client.post("/subscribe", data={"csrf": token, "email": email,
                                            "domains": ["learning-capacity"]})
        answers.append((r.status_code, "Check your inbox" in r.text))
    assert set(answers) == {(200, True)}  # the page tells no one about the bound
    assert _delivered(web) == 3  # [web] mails_per_address
    limit = web.herald.settings.config.web.mails_per_address
    assert len(web.store.list_outmail("reader@example.net")) == limit == 3
    web.clock.advance(hours=25)  # a new window
    client = web.client(client=("198.51.100.99", 4000))
    client.post("/subscribe", data={"csrf": form_csrf(client.get("/subscribe").text),
                                    "email": "reader@example.net",
                                    "domains": ["learning-capacity"]})
    assert len(web.store.list_outmail("reader@example.net")) == limit + 1


def _delivered(web: Web) -> int:
    """Confirmation emails delivered (to files: no SMTP_URL), once the worker's job ran."""
    try:
        from bot.outmail import send_outmail
    except ImportError:  # Herald before the outmail table sent at once
        pass
    else:
        send_outmail(web.herald)
    return len(list((web.herald.settings.outbox_dir / "digest").glob("*.eml")))


def test_parallel_requests_cannot_slip_past_the_mail_bound(
        store: Store, clock: FixedClock) -> None:
    now = clock.now()
    queued = _in_parallel(12, lambda i: store.queue_mail(
        "subscribe", "Reader@example.net" if i % 2 else "reader@example.net",
        f"To: reader@example.net\n\nmail {i}\n", now, limit=3, window=timedelta(days=1)))
    assert queued.count(True) == 3
    assert len(store.list_outmail("READER@example.net")) == 3


def test_the_rate_limiter_forgets_addresses_whose_window_passed() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, window=60, clock=lambda: now[0])
    for n in range(500):
        assert limiter.hit(f"192.0.2.{n}") is None
    assert limiter.hit("192.0.2.1") is None
    assert limiter.hit("192.0.2.1") is not None  # its third within the minute
    now[0] += 61
    assert limiter.hit("203.0.113.9") is None
    assert len(limiter._events) == 1  # only the address that still counts
    # However many addresses come at once, it remembers a bounded number.
    crowded = RateLimiter(2, window=60, clock=lambda: now[0], max_keys=100)
    for n in range(1000):
        crowded.hit(f"198.51.100.{n}")
    assert len(crowded) <= 100
