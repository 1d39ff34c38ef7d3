"""Accounts in the browser (issue #15): one's own password, invitations and reset links,
roles and disabling on the Accounts page, and the last active admin kept (TestClient).

The flows run end to end through the real forms, on SQLite and PostgreSQL (``dbweb``): the
link an admin sees or the email the worker would send is followed by a fresh client.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.clock import FixedClock
from bot.outmail import parse_mail
from bot.store import Store
from bot.store.schema import account_links
from tests.web_helpers import (
    ADMIN,
    APPROVER,
    COOKIE,
    EDITOR,
    PASSWORD,
    Web,
    form_csrf,
    make_web,
    session_token,
)

NEW = "a much newer password"
LINK = re.compile(r"(/(?:invite|reset)/[A-Za-z0-9_-]{20,})")


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, "no invitation or reset link"
    return found.group(1)


def mailed_link(web: Web, to: str) -> str:
    """The link in the last email queued for ``to``."""
    mails = web.store.list_outmail(to)
    assert mails, f"no email queued for {to}"
    return link_in(str(parse_mail(mails[-1].message).get_content()))


def use_link(web: Web, path: str, password: str = NEW, again: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[TestClient, Any]:
    """Open the link in a fresh client and post its form; (client, response)."""
    c = web.client()
    page = c.get(path)
    csrf = form_csrf(page.text) if page.status_code == 200 else form_csrf(c.get("/login").text)
    r = c.post(path, data={"csrf": csrf, "password": password,
                           "again": password if again is None else again},
               headers=headers or {}, follow_redirects=False)
    return c, r


# -- one's own password -----------------------------------------------------------------------

def test_own_password_change_keeps_this_session_and_ends_the_others(dbweb: Web) -> None:
    web = dbweb
    ed, other = web.staff(EDITOR), web.staff(EDITOR)
    page = ed.get("/account")
    assert page.status_code == 200
    assert EDITOR in page.text and "editor" in page.text
    assert 'href="/account/notifications"' in page.text and 'href="/account"' in page.text

    r = ed.post("/account/password", {"current": "wrong password!!", "new": NEW, "again": NEW})
    assert r.status_code == 403 and "current password is wrong" in r.text
    r = ed.post("/account/password", {"current": PASSWORD, "new": NEW, "again": NEW + "x"})
    assert r.status_code == 422 and "two new passwords differ" in r.text
    r = ed.post("/account/password", {"current": PASSWORD, "new": "short", "again": "short"})
    assert r.status_code == 422 and "12 characters" in r.text
    assert other.get("/queue").status_code == 200  # nothing changed yet

    before = session_token(ed.client)
    r = ed.post("/account/password", {"current": PASSWORD, "new": NEW, "again": NEW})
    assert r.status_code == 303 and r.headers["location"] == "/account?done=password-changed"
    assert session_token(ed.client) != before  # a fresh session for this browser
    assert ed.get("/account?done=password-changed").status_code == 200
    assert other.get("/queue").status_code == 303  # the other session ended
    assert web.sign_in(web.client(), EDITOR).status_code == 401
    assert web.sign_in(web.client(), EDITOR, NEW).status_code == 303


def test_every_account_page_needs_sign_in(web: Web) -> None:
    c = web.client()
    r = c.get("/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/account"


# -- invitations ------------------------------------------------------------------------------

def test_invite_by_link_end_to_end(dbweb: Web) -> None:
    web = dbweb
    ad = web.staff(ADMIN)
    r = ad.post("/users/invite", {"email": "New.Person@Example.org", "role": "approver"})
    assert r.status_code == 200, r.text
    shown = link_in(r.text)
    assert "we have emailed it too" in r.text
    assert mailed_link(web, "New.Person@example.org") == shown  # the same link, emailed
    token = shown.rsplit("/", 1)[1]
    with web.store.engine.connect() as conn:  # only a hash is kept
        stored = conn.execute(select(account_links)).mappings().all()
    assert len(stored) == 1 and token not in str(dict(stored[0]))
    assert "New.Person@example.org" in ad.get("/users").text  # listed as open

    c = web.client()
    page = c.get(shown)
    assert page.status_code == 200 and "New.Person@example.org" in page.text
    csrf = form_csrf(page.text)
    # A form from another site, or without the form token, is refused.
    r = c.post(shown, data={"csrf": csrf, "password": NEW, "again": NEW},
               headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post(shown, data={"password": NEW, "again": NEW}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post(shown, data={"csrf": csrf, "password": NEW, "again": "different password"},
               follow_redirects=False)
    assert r.status_code == 422 and "differ" in r.text
    assert web.store.find_user("New.Person@example.org") is None
    r = c.post(shown, data={"csrf": csrf, "password": NEW, "again": NEW},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue?done=password-set"
    assert "New.Person@example.org" in c.get("/queue").text  # signed in
    assert web.store.get_user("New.Person@example.org").role == "approver"
    # Single use: the link is gone, and the invitation is no longer listed as open.
    _c, again = use_link(web, shown)
    assert again.status_code == 404 and "does not work" in again.text
    assert "Open invitations" not in ad.get("/users").text


def test_an_invitation_expires(tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"invite_for": "2d"})
    try:
        ad = web.staff(ADMIN)
        shown = link_in(ad.post("/users/invite", {"email": "late@example.org",
                                                  "role": "editor"}).text)
        c = web.client()
        assert c.get(shown).status_code == 200
        web.clock.advance(days=2, seconds=1)
        assert c.get(shown).status_code == 404
        csrf = form_csrf(c.get("/login").text)  # a fresh form token: the link alone expired
        assert "expired" in web.staff(ADMIN).get("/users").text
        r = c.post(shown, data={"csrf": csrf, "password": NEW, "again": NEW},
                   follow_redirects=False)
        assert r.status_code == 404 and web.store.find_user("late@example.org") is None
    finally:
        web.close()


def test_resend_replaces_the_link_and_revoke_ends_it(web: Web) -> None:
    ad = web.staff(ADMIN)
    first = link_in(ad.post("/users/invite", {"email": "x@example.org", "role": "editor"}).text)
    (invitation,) = web.store.list_invitations()
    second = link_in(ad.post(f"/users/invitations/{invitation.id}/resend").text)
    assert second != first
    assert web.client().get(first).status_code == 404  # the older link stopped working
    assert web.client().get(second).status_code == 200
    assert len(web.store.list_outmail("x@example.org")) == 2
    (invitation,) = web.store.list_invitations()
    r = ad.post(f"/users/invitations/{invitation.id}/revoke")
    assert r.status_code == 303 and r.headers["location"] == "/users?done=invitation-revoked"
    assert web.client().get(second).status_code == 404
    assert web.store.list_invitations() == []
    # An address that has an account cannot be invited; only admins invite.
    r = ad.post("/users/invite", {"email": EDITOR.upper(), "role": "editor"})
    assert r.status_code == 422 and "already an account" in r.text
    r = web.staff(APPROVER).post("/users/invite", {"email": "y@example.org", "role": "admin"})
    assert r.status_code == 403 and web.store.list_invitations() == []


# -- reset by link ----------------------------------------------------------------------------

def _forgot(web: Web, email: str, **headers: str) -> Any:
    c = web.client()
    return c.post("/forgot", data={"csrf": form_csrf(c.get("/forgot").text), "email": email},
                  headers=headers, follow_redirects=False)


def test_forgot_answers_the_same_and_the_mailed_link_resets(dbweb: Web) -> None:
    web = dbweb
    assert 'href="/forgot"' in web.client().get("/login").text
    signed_in = web.staff(EDITOR)
    web.store.set_user(APPROVER, disabled=True)
    answers = {e: _forgot(web, e) for e in (EDITOR.upper(), "nobody@example.org", APPROVER)}
    texts = {r.text for r in answers.values()}
    assert len(texts) == 1 and all(r.status_code == 200
                                   for r in answers.values())
    assert [m.recipient for m in web.store.list_outmail()] == [EDITOR]  # the active account
    # Lock the account with failed sign-ins first: the reset clears the lock.
    for _ in range(5):
        web.sign_in(web.client(), EDITOR, "wrong password!!")
        web.clock.advance(seconds=61)
    assert web.sign_in(web.client(), EDITOR).status_code == 429
    shown = mailed_link(web, EDITOR)
    c, r = use_link(web, shown)
    assert r.status_code == 303 and r.headers["location"] == "/queue?done=password-set"
    assert c.get("/queue").status_code == 200
    assert signed_in.get("/queue").status_code == 303  # every other session ended
    assert web.sign_in(web.client(), EDITOR, NEW).status_code == 303  # unlocked, new password
    _c, r = use_link(web, shown, "yet another password")
    assert r.status_code == 404
    assert web.sign_in(web.client(), EDITOR, NEW).status_code == 303


def test_a_reset_link_expires_after_an_hour(web: Web) -> None:
    _forgot(web, EDITOR)
    shown = mailed_link(web, EDITOR)
    web.clock.advance(minutes=60, seconds=1)
    _c, r = use_link(web, shown)
    assert r.status_code == 404
    assert web.sign_in(web.client(), EDITOR).status_code == 303  # the password stayed


def test_forgot_is_rate_limited_same_origin_and_bounded_per_address(
        tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"subscribe_rate": 3, "mails_per_address": 2})
    try:
        r = _forgot(web, EDITOR, Origin="https://evil.example")
        assert r.status_code == 403
        for _ in range(3):
            assert _forgot(web, EDITOR).status_code == 200
        assert len(web.store.list_outmail(EDITOR)) == 2  # the per-address bound holds
        r = _forgot(web, EDITOR)
        assert r.status_code == 429 and "Retry-After" in r.headers
    finally:
        web.close()


def test_an_admin_makes_a_reset_link_without_email(dbweb: Web) -> None:
    web = dbweb
    ad = web.staff(ADMIN)
    ed = web.store.get_user(EDITOR)
    r = ad.post(f"/users/{ed.id}/reset-link")
    assert r.status_code == 200 and "Reset link for" in r.text
    assert web.store.list_outmail(EDITOR) == []
    _c, r = use_link(web, link_in(r.text))
    assert r.status_code == 303
    assert web.sign_in(web.client(), EDITOR, NEW).status_code == 303


# -- roles and disabling ----------------------------------------------------------------------

def test_roles_and_disabling_end_sessions(dbweb: Web) -> None:
    web = dbweb
    ad, ed = web.staff(ADMIN), web.staff(EDITOR)
    uid = web.store.get_user(EDITOR).id
    r = ad.post(f"/users/{uid}/role", {"role": "approver"})
    assert r.status_code == 303 and r.headers["location"] == "/users?done=role-changed"
    assert web.store.get_user(EDITOR).role == "approver"
    assert ed.get("/queue").status_code == 303
    ed = web.staff(EDITOR)
    r = ad.post(f"/users/{uid}/state", {"disabled": "1"})
    assert r.status_code == 303 and web.store.get_user(EDITOR).disabled
    assert ed.get("/queue").status_code == 303
    assert web.sign_in(web.client(), EDITOR).status_code == 401
    assert ad.post(f"/users/{uid}/reset-link").status_code == 409  # disabled: no reset link
    r = ad.post(f"/users/{uid}/state", {"disabled": "0"})
    assert r.status_code == 303 and r.headers["location"] == "/users?done=enabled"
    assert web.sign_in(web.client(), EDITOR).status_code == 303
    r = ad.post(f"/users/{uid}/role", {"role": "root"})
    assert r.status_code == 409 and "role must be one of" in r.text
    assert ad.post("/users/999/role", {"role": "editor"}).status_code == 404


def test_the_last_active_admin_cannot_be_demoted_or_disabled(dbweb: Web) -> None:
    web = dbweb
    ad = web.staff(ADMIN)
    me = web.store.get_user(ADMIN).id
    for path, data in ((f"/users/{me}/role", {"role": "editor"}),
                       (f"/users/{me}/state", {"disabled": "1"})):
        r = ad.post(path, data)
        assert r.status_code == 409 and "is the last active admin" in r.text, path
    assert web.store.get_user(ADMIN).role == "admin" and not web.store.get_user(ADMIN).disabled
    with pytest.raises(Exception, match="last active admin"):  # the CLI's path too
        web.store.remove_user(ADMIN)
    # With a second active admin, the first may step down (and is signed out).
    web.store.set_user(APPROVER, role="admin")
    r = ad.post(f"/users/{me}/role", {"role": "editor"})
    assert r.status_code == 303 and r.headers["location"] == "/login?done=signed-out"
    assert web.store.get_user(ADMIN).role == "editor"
    # A disabled admin does not count as the one left.
    web.store.set_user(ADMIN, role="admin")
    web.store.set_user(ADMIN, disabled=True)
    with pytest.raises(Exception, match="last active admin"):
        web.store.set_user(APPROVER, role="editor")


def test_account_forms_need_the_session_token(web: Web) -> None:
    ed = web.staff(EDITOR)
    r = ed.client.post("/account/password", data={"current": PASSWORD, "new": NEW,
                                                  "again": NEW}, follow_redirects=False)
    assert r.status_code == 403 and "security token" in r.text
    assert web.sign_in(web.client(), EDITOR).status_code == 303
    assert COOKIE in ed.client.cookies


# -- the command line -------------------------------------------------------------------------

def test_cli_invite_and_reset_link_print_links_that_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bot.cli import app as cli
    from bot.clock import SystemClock

    # The CLI dates its links by the system clock: the web app's clock starts there too.
    web = make_web(tmp_path, FixedClock(SystemClock().now()))
    config = tmp_path / "herald.toml"
    db = web.herald.settings.database_url
    config.write_text(f'[database]\nurl = "{db}"\n[paths]\n'
                      f'taxonomy = "{web.herald.settings.config.paths.taxonomy}"\n'
                      f'var = "{web.herald.var_dir}"\n')
    try:
        runner = CliRunner()
        env = {"HERALD_CONFIG": None, "DATABASE_URL": None}
        r = runner.invoke(cli, ["users", "invite", "cli@example.org", "--role", "approver",
                                "--config", str(config)], env=env)
        assert r.exit_code == 0, r.output
        assert "invited cli@example.org (approver); the link is emailed too" in r.output
        _c, used = use_link(web, link_in(r.output))
        assert used.status_code == 303
        assert web.store.get_user("cli@example.org").role == "approver"
        bad = runner.invoke(cli, ["users", "invite", "x@example.org", "--role", "root",
                                  "--config", str(config)], env=env)
        assert bad.exit_code == 2 and "--role" in bad.output
        r = runner.invoke(cli, ["users", "reset-link", EDITOR, "--config", str(config)],
                          env=env)
        assert r.exit_code == 0, r.output
        _c, used = use_link(web, link_in(r.output))
        assert used.status_code == 303
        assert web.sign_in(web.client(), EDITOR, NEW).status_code == 303
        # The CLI keeps the last admin too.
        r = runner.invoke(cli, ["users", "set", ADMIN, "--disable", "--config", str(config)],
                          env=env)
        assert r.exit_code == 1 and "last active admin" in r.output
    finally:
        web.close()


def test_a_link_used_at_once_in_two_places_works_once(store: Store,
                                                      clock: FixedClock) -> None:
    """Two requests using the same invitation at the same moment: one account, one use."""
    import threading

    from bot.errors import StoreError

    now = clock.now()
    token = store.create_invitation("twice@example.org", "editor", now,
                                    now + timedelta(days=7))
    results: list[object] = []
    start = threading.Barrier(4)

    def use() -> None:
        start.wait()
        try:
            results.append(store.accept_invitation(token, "hash", now))
        except StoreError as exc:
            results.append(exc)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(isinstance(r, int) for r in results) == 1, results
    assert len(results) == 4
    assert [u.email for u in store.list_users()] == ["twice@example.org"]



def test_two_admins_disabling_each_other_at_once_leave_one_admin(store: Store,
                                                                 clock: FixedClock) -> None:
    """Two admins each disable the other at the same moment: one change goes through, the
    other is refused as the last admin's, on SQLite (whose plain reads take no lock) as on
    PostgreSQL. Tried many times: the race is a narrow one."""
    import threading

    from bot.store import LastAdmin

    now = clock.now()
    for round_no in range(15):
        a, b = f"a{round_no}@example.org", f"b{round_no}@example.org"
        for email in (a, b):
            store.add_user(email, "admin", "hash", now)
        for other in store.list_users():
            if other.email not in (a, b) and not other.disabled:
                store.set_user(other.email, disabled=True)
        results: list[object] = []
        start = threading.Barrier(2)

        def disable(email: str, start: threading.Barrier, results: list[object]) -> None:
            start.wait()
            try:
                results.append(store.set_user(email, disabled=True))
            except LastAdmin as exc:
                results.append(exc)

        threads = [threading.Thread(target=disable, args=(e, start, results)) for e in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sum(isinstance(r, LastAdmin) for r in results) == 1, (round_no, results)
        active = [u.email for u in store.list_users() if u.role == "admin" and not u.disabled]
        assert len(active) == 1, (round_no, active)


def test_a_reset_link_made_before_a_password_change_no_longer_works(store: Store,
                                                                     clock: FixedClock) -> None:
    """The password changed (by its owner, or an admin's CLI) after a reset link was made:
    the old link would undo the change, so it is gone; a link made after works."""
    from bot.store import LinkUnusable

    now = clock.now()
    store.add_user("keeper@example.org", "editor", "hash-1", now)
    user = store.get_user("keeper@example.org")
    old = store.create_reset(user, now, now + timedelta(hours=1))
    store.set_user(user.email, password_hash="hash-2")
    with pytest.raises(LinkUnusable):
        store.use_reset(old, "hash-3", now)
    assert store.get_user(user.email).password_hash == "hash-2"
    fresh = store.create_reset(user, now, now + timedelta(hours=1))
    assert store.use_reset(fresh, "hash-3", now) == user.id
