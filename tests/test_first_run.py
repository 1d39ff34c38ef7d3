"""First run: with no staff accounts, a signed one-time link creates the first admin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import Herald
from bot.clock import FixedClock
from bot.web import create_app
from bot.web.setup import setup_link
from tests.conftest import make_settings

PASSWORD = "a long enough password"


def _app(tmp_path: Path) -> tuple[Herald, TestClient, FixedClock]:
    clock = FixedClock(datetime(2026, 11, 26, 9, tzinfo=UTC))
    herald = Herald(make_settings(tmp_path), clock=clock)
    herald.prepare()
    app = create_app(herald)
    return herald, TestClient(app, base_url="https://testserver"), clock


def test_the_setup_link_creates_one_admin_and_then_stops_working(tmp_path: Path) -> None:
    herald, client, _clock = _app(tmp_path)
    path = setup_link(client.app.state.ctx.signer, "https://testserver")  # type: ignore[attr-defined]
    path = path.removeprefix("https://testserver")
    page = client.get(path)
    assert page.status_code == 200 and "Create the account" in page.text
    differ = client.post(path, data={"email": "head@example.org", "password": PASSWORD,
                                     "again": PASSWORD + "x"})
    assert differ.status_code == 422 and "differ" in differ.text
    assert herald.store.count_users() == 0
    done = client.post(path, data={"email": "head@example.org", "password": PASSWORD,
                                   "again": PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/queue"
    assert client.get("/queue").status_code == 200  # signed in as the new admin
    user = herald.store.get_user("head@example.org")
    assert user.role == "admin" and PASSWORD not in user.password_hash
    # Once an account exists the link is worthless, for everyone.
    other = TestClient(client.app, base_url="https://testserver")
    assert other.get(path).status_code == 404
    again = other.post(path, data={"email": "x@example.org", "password": PASSWORD,
                                   "again": PASSWORD})
    assert again.status_code == 404 and herald.store.count_users() == 1


def test_a_forged_or_expired_setup_link_is_refused(tmp_path: Path) -> None:
    herald, client, clock = _app(tmp_path)
    assert client.get("/setup/not-a-token").status_code == 404
    signer = client.app.state.ctx.signer  # type: ignore[attr-defined]
    stale = setup_link(signer, "")
    clock.advance(days=2)  # the signer reads Herald's clock: this link is now two days old
    fresh = setup_link(signer, "")
    assert client.get(stale).status_code == 404
    assert client.post(stale, data={"email": "x@example.org", "password": PASSWORD,
                                    "again": PASSWORD}).status_code == 404
    assert herald.store.count_users() == 0
    assert client.get(fresh).status_code == 200
    other_purpose = signer.sign("unsubscribe", "admin")
    assert client.get(f"/setup/{other_purpose}").status_code == 404
