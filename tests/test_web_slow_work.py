"""One slow thing in the web app stops nothing else (issue #12, defect 12).

A feed check against a server that trickles its answer must not hold up sign-in or
``/healthz`` for everyone else: the app runs under a real uvicorn server, the feed server
is a loopback server that sends its headers a byte at a time until the test lets it
finish. The subscribe confirmation is no longer sent by the web app: it is a row in
``outmail``, sent by the worker (real ``run_worker``, real smtplib against aiosmtpd) and
tried again when the mail server cannot take it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.app import Herald
from bot.clock import FixedClock
from bot.store import Store
from tests.fakes._loopback import LoopbackHandler, LoopbackServer
from tests.fakes.smtp_server import MAILBOX_BUSY, running_smtp_server
from tests.web_helpers import APPROVER, EDITOR, PASSWORD, form_csrf, make_web, serving

READER = "reader@example.net"
#: A failsafe for the HTTP client, never reached when the app works: on the old code the
#: feed check held the event loop until the trickling server was let go, so these
#: requests hung and this ended the test with an error rather than a hang.
FAILSAFE = 20.0


class _TrickleState:
    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()


class _Trickle(LoopbackHandler):
    """Sends the status line and headers one byte every 50 ms until released, then a
    small feed."""

    def do_GET(self) -> None:
        state: _TrickleState = self.server.state
        body = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
                b"<item><title>Slow news</title><link>https://slow.example.org/1</link>"
                b"<guid>s1</guid></item></channel></rss>")
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: "
                + b"." * 4000 + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n")
        state.asked.set()
        sent = 0
        while not state.release.is_set() and sent < len(head) - 4:
            self.wfile.write(head[sent:sent + 1])
            self.wfile.flush()
            sent += 1
            state.release.wait(0.05)
        self.wfile.write(head[sent:] + body)
        self.close_connection = True


@pytest.fixture
def trickle() -> Iterator[tuple[LoopbackServer, _TrickleState]]:
    state = _TrickleState()
    server = LoopbackServer(_Trickle, state).start()
    try:
        yield server, state
    finally:
        state.release.set()
        server.stop()


def _sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = form_csrf(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "email": email, "password": password,
                                       "next": "/queue"})


def test_a_slow_feed_check_does_not_stop_sign_in_or_healthz(
        tmp_path: Path, clock: FixedClock,
        trickle: tuple[LoopbackServer, _TrickleState]) -> None:
    feed, state = trickle
    web = make_web(tmp_path, clock, web={"secure_cookies": False},
                   http={"allow_networks": ["127.0.0.0/8"]})
    web.store.beat("a-worker", clock.now())
    web.store.collected("a-worker", clock.now())
    try:
        with serving(web.app) as base, \
                httpx.Client(base_url=base, timeout=FAILSAFE) as approver, \
                httpx.Client(base_url=base, timeout=FAILSAFE) as other:
            assert _sign_in(approver, APPROVER).status_code == 303
            csrf = form_csrf(approver.get("/feeds").text)
            answers: list[httpx.Response] = []

            def check() -> None:
                answers.append(approver.post("/feeds/check", data={
                    "csrf": csrf, "url": f"{feed.origin}/feed.xml", "name": "slow"}))

            checking = threading.Thread(target=check, daemon=True)
            checking.start()
            assert state.asked.wait(FAILSAFE), "the feed check never reached the feed"
            # The check is now waiting on the trickling server. Everyone else is served.
            health = other.get("/healthz")
            signed_in = _sign_in(other, EDITOR)
            page = other.get("/subscribe")
            still_checking = checking.is_alive() and not state.release.is_set()
            state.release.set()
            checking.join(FAILSAFE)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert signed_in.status_code == 303
        assert page.status_code == 200
        assert still_checking, "the other requests were answered only after the check"
        (answer,) = answers
        assert answer.status_code in (200, 422)
    finally:
        web.close()


def test_a_feed_check_that_passes_its_deadline_answers_with_an_error(
        tmp_path: Path, clock: FixedClock,
        trickle: tuple[LoopbackServer, _TrickleState]) -> None:
    feed, state = trickle
    web = make_web(tmp_path, clock, http={"allow_networks": ["127.0.0.0/8"],
                                          "timeout": "1s"})
    # Let the server finish on its own long after the deadline (the old code waited for
    # it, and then showed the feed).
    letting_go = threading.Timer(FAILSAFE / 2, state.release.set)
    try:
        approver = web.staff(APPROVER)
        letting_go.start()
        r = approver.post("/feeds/check", {"url": f"{feed.origin}/feed.xml", "name": "slow"})
        assert state.asked.is_set()
        assert r.status_code == 422 and "did not answer within 1s" in r.text
    finally:
        letting_go.cancel()
        state.release.set()
        web.close()


def _subscribe(web: object, email: str = READER) -> httpx.Response:
    client = web.client()  # type: ignore[attr-defined]
    token = form_csrf(client.get("/subscribe").text)
    return client.post("/subscribe", data={"csrf": token, "email": email,  # type: ignore[no-any-return]
                                           "domains": ["learning-capacity"]})


def test_subscribe_queues_its_confirmation_and_the_worker_sends_it(
        tmp_path: Path, clock: FixedClock, db_url: str) -> None:
    from bot.worker import run_worker

    with running_smtp_server() as smtp:
        web = make_web(tmp_path, clock, db_url=db_url,
                       environ={"SMTP_URL": smtp.url(query="starttls=off")},
                       worker={"dispatch_every": "1s"})
        worker = Herald(web.herald.settings, clock=clock)
        thread = threading.Thread(target=run_worker, args=(worker,),
                                  kwargs={"install_signals": False}, daemon=True)
        try:
            r = _subscribe(web)
            assert r.status_code == 200 and "Check your inbox" in r.text
            (row,) = web.store.list_outmail()
            assert (row.kind, row.recipient, row.status) == ("subscribe", READER, "pending")
            assert smtp.messages == []  # the web app sent nothing itself
            thread.start()
            give_up = time.monotonic() + FAILSAFE
            while not smtp.to(READER) and time.monotonic() < give_up and thread.is_alive():
                time.sleep(0.05)
            (got,) = smtp.to(READER)
            assert "please confirm" in got.parsed()["Subject"]
            assert "/confirm/" in got.parsed().get_body(("plain",)).get_content()
            give_up = time.monotonic() + FAILSAFE
            while web.store.list_outmail()[0].status != "sent" and time.monotonic() < give_up:
                time.sleep(0.05)
            assert web.store.list_outmail()[0].status == "sent"
        finally:
            worker.stop.set()
            if thread.is_alive() or thread.ident is not None:
                thread.join(FAILSAFE)
            worker.close()
            web.close()


def test_a_confirmation_the_mail_server_could_not_take_is_sent_later(
        tmp_path: Path, clock: FixedClock, db_url: str) -> None:
    from bot.outmail import send_outmail

    with running_smtp_server() as smtp:
        web = make_web(tmp_path, clock, db_url=db_url,
                       environ={"SMTP_URL": smtp.url(query="starttls=off")})
        try:
            assert _subscribe(web).status_code == 200
            smtp.reject[READER] = MAILBOX_BUSY  # 450: try again later
            stats = send_outmail(web.herald)
            assert (stats.sent, stats.failed, stats.dead) == (0, 1, 0)
            (row,) = web.store.list_outmail()
            assert row.status == "failed" and row.attempts == 1 and "450" in (row.last_error
                                                                              or "")
            assert row.next_attempt_at is not None and row.next_attempt_at > clock.now()
            assert send_outmail(web.herald).sent == 0  # not before its time
            del smtp.reject[READER]
            smtp.fail_data.append("DROP")  # the connection breaks in the middle of DATA
            clock.advance(hours=7)
            assert send_outmail(web.herald).failed == 1
            assert smtp.to(READER) == []
            clock.advance(hours=7)
            assert send_outmail(web.herald).sent == 1
            assert len(smtp.to(READER)) == 1
            (row,) = web.store.list_outmail()
            assert row.status == "sent" and row.attempts == 3
            clock.advance(hours=7)
            assert send_outmail(web.herald).sent == 0  # once
        finally:
            web.close()


def test_an_unreachable_mail_server_stops_the_batch_and_loses_nothing(
        tmp_path: Path, clock: FixedClock) -> None:
    import socket

    from bot.outmail import send_outmail

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    web = make_web(tmp_path, clock, environ={"SMTP_URL": f"smtp://127.0.0.1:{port}"
                                                         "?starttls=off"})
    try:
        for n in range(3):
            assert _subscribe(web, f"reader{n}@example.net").status_code == 200
        stats = send_outmail(web.herald)
        assert stats.sent == 0 and stats.failed == 1 and "stopped the batch" in stats.errors[0]
        rows = web.store.list_outmail()
        assert [r.status for r in rows] == ["failed", "pending", "pending"]
        assert [r.attempts for r in rows] == [1, 0, 0]
        assert all(r.next_attempt_at and r.next_attempt_at > clock.now() for r in rows)
    finally:
        web.close()


def test_an_outmail_row_is_finished_only_by_the_run_that_holds_it(
        store: Store, clock: FixedClock) -> None:
    now = clock.now()
    assert store.queue_mail("subscribe", READER, "To: x\n\nhi\n", now, limit=3,
                            window=timedelta(days=1))
    (mine,) = store.claim_outmail("run-a", now, timedelta(minutes=1))
    assert store.claim_outmail("run-b", now, timedelta(minutes=1)) == []  # leased
    later = now + timedelta(minutes=2)
    (theirs,) = store.claim_outmail("run-b", later, timedelta(minutes=1))  # lease ran out
    assert theirs.id == mine.id
    assert store.finish_outmail(theirs.id, "run-b", later, sent=True)
    # The first run, late, cannot mark it failed (and so have it sent twice).
    assert not store.finish_outmail(mine.id, "run-a", later, sent=False, error="late",
                                    retry_at=later)
    (row,) = store.list_outmail()
    assert row.status == "sent" and row.last_error is None


def test_a_confirmation_to_a_non_ascii_address_is_queued_and_sent(
        tmp_path: Path, clock: FixedClock) -> None:
    from bot.outmail import send_outmail

    with running_smtp_server() as smtp:  # aiosmtpd offers SMTPUTF8
        web = make_web(tmp_path, clock,
                       environ={"SMTP_URL": smtp.url(query="starttls=off")})
        try:
            assert _subscribe(web, "zoë@example.org").status_code == 200
            assert _subscribe(web).status_code == 200
            assert send_outmail(web.herald).sent == 2
            assert [m.status for m in web.store.list_outmail()] == ["sent", "sent"]
            (got,) = smtp.to("zoë@example.org")
            assert got.parsed()["To"] == "zoë@example.org"
        finally:
            web.close()
