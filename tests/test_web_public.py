"""The subscriber pages: double opt-in, preferences, one-click unsubscribe (RFC 8058), and
the signed links refused when forged, for another purpose, or expired (the clock is a
FixedClock; the signer reads it). Confirmation emails go to the FileSender (SMTP_URL unset)
and are read back from the outbox; one test uses the aiosmtpd fake on loopback."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from bot.clock import FixedClock
from bot.digest import PREFERENCES, UNSUBSCRIBE
from tests.web_helpers import COOKIE, Web, form_csrf, make_web

ADDRESS = "reader@example.net"
LINK = re.compile(r"/(confirm|preferences)/([A-Za-z0-9_\-\.]+)")


def mails(web: Web) -> list[EmailMessage]:
    """The confirmation emails sent so far: the worker's outmail job runs first (the web
    app only queues them)."""
    from bot.outmail import send_outmail

    send_outmail(web.herald)
    folder = web.herald.settings.outbox_dir / "digest"
    return [message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)] \
        if folder.exists() else []


def link_in(msg: EmailMessage) -> tuple[str, str]:
    body = msg.get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(1), found.group(2)


def subscribe(web: Web, email: str = ADDRESS, domains: list[str] | None = None,
              client=None) -> object:  # type: ignore[no-untyped-def]
    c = client or web.client()
    page = c.get("/subscribe")
    assert page.status_code == 200
    return c.post("/subscribe", data={"csrf": form_csrf(page.text), "email": email,
                                      "domains": domains or ["learning-capacity"]})


def confirmed(web: Web, domains: list[str] | None = None) -> str:
    """Subscribe and confirm; returns the preferences token from the thank-you page."""
    subscribe(web, domains=domains)
    kind, token = link_in(mails(web)[-1])
    assert kind == "confirm"
    r = web.client().post(f"/confirm/{token}")
    assert r.status_code == 200
    found = LINK.search(r.text)
    assert found and found.group(1) == "preferences"
    return found.group(2)


def test_subscribe_sends_a_confirmation_and_confirm_by_post_activates(dbweb: Web) -> None:
    web = dbweb
    r = subscribe(web, "reader@Example.NET", ["learning-capacity", "innovation-improvement"])
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert "Check your inbox" in r.text  # type: ignore[attr-defined]
    (msg,) = mails(web)
    assert msg["To"].addresses[0].addr_spec == ADDRESS
    assert "please confirm" in msg["Subject"]
    kind, token = link_in(msg)
    assert kind == "confirm"
    assert not web.store.get_subscriber(ADDRESS).active  # not before the link is used
    c = web.client()
    page = c.get(f"/confirm/{token}")
    assert page.status_code == 200 and "Yes, subscribe me" in page.text
    assert not web.store.get_subscriber(ADDRESS).active  # a GET (a link scanner) changes nothing
    r = c.post(f"/confirm/{token}")
    assert r.status_code == 200 and "You are subscribed" in r.text
    sub = web.store.get_subscriber(ADDRESS)
    assert sub.active
    assert set(sub.domains or ()) == {"learning-capacity", "innovation-improvement"}
    assert COOKIE not in c.cookies  # no session for subscribers


def test_subscribing_an_existing_address_gets_the_same_answer_and_changes_nothing(
        web: Web) -> None:
    prefs = confirmed(web, ["learning-capacity"])
    assert prefs
    fresh = subscribe(web, "someone-new@example.net")
    again = subscribe(web, ADDRESS, ["innovation-improvement"])
    body = re.compile(r"<main.*</main>", re.S)
    assert again.status_code == fresh.status_code == 200  # type: ignore[attr-defined]
    assert body.search(again.text).group(0).replace(ADDRESS, "X") == \
        body.search(fresh.text).group(0).replace("someone-new@example.net", "X")  # type: ignore[attr-defined, union-attr]
    sub = web.store.get_subscriber(ADDRESS)
    assert sub.active and sub.domains == ("learning-capacity",)
    last = mails(web)[-1]
    assert "already subscribed" in last["Subject"]
    assert link_in(last)[0] == "preferences"


def test_preferences_change_domains(dbweb: Web) -> None:
    web = dbweb
    prefs = confirmed(web, ["learning-capacity"])
    c = web.client()
    page = c.get(f"/preferences/{prefs}")
    assert page.status_code == 200 and ADDRESS in page.text
    token = form_csrf(page.text)
    r = c.post(f"/preferences/{prefs}", data={"csrf": token, "domains": []})
    assert r.status_code == 422 and "choose at least one domain" in r.text
    r = c.post(f"/preferences/{prefs}", data={
        "csrf": token, "domains": ["innovation-improvement", "relationships-connectivity"]})
    assert r.status_code == 200 and "Preferences saved" in r.text
    assert set(web.store.get_subscriber(ADDRESS).domains or ()) == {
        "innovation-improvement", "relationships-connectivity"}
    # Every domain chosen: stored as "every domain".
    every = list(web.herald.taxonomy.slugs("domain"))
    c.post(f"/preferences/{prefs}", data={"csrf": token, "domains": every})
    assert web.store.get_subscriber(ADDRESS).domains is None
    # Without the form token it is refused.
    r = c.post(f"/preferences/{prefs}", data={"domains": ["innovation-improvement"]})
    assert r.status_code == 403
    assert web.store.get_subscriber(ADDRESS).domains is None


def test_unsubscribe_get_confirms_and_one_click_post_unsubscribes(dbweb: Web) -> None:
    web = dbweb
    confirmed(web)
    sub = web.store.get_subscriber(ADDRESS)
    token = web.ctx.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
    c = web.client()
    page = c.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "Stop sending the weekly digest" in page.text
    assert web.store.get_subscriber(ADDRESS).active  # the GET changes nothing
    # A mail client's RFC 8058 one-click POST: no cookie, no CSRF token.
    mail_client = web.client()
    r = mail_client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.text == "unsubscribed\n"
    assert not web.store.get_subscriber(ADDRESS).active
    # Again is harmless; the page now says so.
    assert mail_client.post(f"/unsubscribe/{token}",
                            data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert "is not subscribed" in c.get(f"/unsubscribe/{token}").text


def test_unsubscribe_by_a_person_pressing_the_button(web: Web) -> None:
    confirmed(web)
    sub = web.store.get_subscriber(ADDRESS)
    token = web.ctx.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
    r = web.client().post(f"/unsubscribe/{token}")
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert not web.store.get_subscriber(ADDRESS).active


def test_an_unsubscribe_link_never_expires(web: Web) -> None:
    confirmed(web)
    sub = web.store.get_subscriber(ADDRESS)
    token = web.ctx.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
    web.clock.advance(days=800)
    r = web.client().post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert not web.store.get_subscriber(ADDRESS).active


def _refused(r: object) -> str:
    assert r.status_code == 400, r.status_code  # type: ignore[attr-defined]
    assert "This link does not work" in r.text  # type: ignore[attr-defined]
    return r.text  # type: ignore[attr-defined, no-any-return]


def test_forged_and_wrong_purpose_tokens_are_refused(web: Web) -> None:
    prefs = confirmed(web)
    sub = web.store.get_subscriber(ADDRESS)
    unsub = web.ctx.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
    confirm = web.ctx.signer.sign("confirm", {"e": "victim@example.net", "d": None})
    c = web.client()
    forged = "eyJlIjoidmljdGltQGV4YW1wbGUubmV0In0.forged.signature"
    tampered = confirm[:-3] + ("aaa" if not confirm.endswith("aaa") else "bbb")
    for method in ("GET", "POST"):
        for path in (f"/confirm/{forged}", f"/confirm/{tampered}", f"/preferences/{forged}",
                     f"/unsubscribe/{forged}",
                     # a token for another purpose
                     f"/confirm/{unsub}", f"/confirm/{prefs}", f"/preferences/{unsub}",
                     f"/preferences/{confirm}", f"/unsubscribe/{prefs}",
                     f"/unsubscribe/{confirm}"):
            text = _refused(c.request(method, path, data={"List-Unsubscribe": "One-Click"}))
            assert "not valid" in text, path
    # A key of another installation signs nothing here.
    from bot.tokens import Signer

    other = Signer("another-installation-key-" + "y" * 30).sign(
        UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
    _refused(c.post(f"/unsubscribe/{other}", data={"List-Unsubscribe": "One-Click"}))
    assert web.store.get_subscriber(ADDRESS).active
    assert [s.email for s in web.store.list_subscribers()] == [ADDRESS]


def test_expired_confirmation_and_preference_links_are_refused(web: Web) -> None:
    subscribe(web)
    _, confirm = link_in(mails(web)[-1])
    web.clock.advance(days=3, seconds=1)  # [web] confirm_for = 3 days
    c = web.client()
    assert "expired" in _refused(c.get(f"/confirm/{confirm}"))
    assert "expired" in _refused(c.post(f"/confirm/{confirm}"))
    assert not web.store.get_subscriber(ADDRESS).active

    prefs = confirmed(web)
    page = c.get(f"/preferences/{prefs}")
    assert page.status_code == 200
    token = form_csrf(page.text)
    web.clock.advance(days=59, hours=23)
    assert c.get(f"/preferences/{prefs}").status_code == 200  # still inside 60 days
    web.clock.advance(hours=1, seconds=1)  # [web] preferences_for = 60 days
    assert "expired" in _refused(c.get(f"/preferences/{prefs}"))
    r = c.post(f"/preferences/{prefs}", data={"csrf": token, "domains": ["news"]})
    assert "expired" in _refused(r)


def test_a_link_for_an_earlier_subscription_is_refused(web: Web) -> None:
    confirmed(web)
    sub = web.store.get_subscriber(ADDRESS)
    stale = web.ctx.signer.sign(PREFERENCES, {"s": sub.id + 1000, "e": sub.email})
    assert "earlier subscription" in _refused(web.client().get(f"/preferences/{stale}"))


def test_subscribe_needs_its_form_token_and_a_valid_address(web: Web) -> None:
    c = web.client()
    r = c.post("/subscribe", data={"email": ADDRESS, "domains": ["learning-capacity"]})
    assert r.status_code == 403
    r = subscribe(web, "not an address")
    assert r.status_code == 422  # type: ignore[attr-defined]
    r = c.post("/subscribe", data={"csrf": form_csrf(c.get("/subscribe").text),
                                   "email": ADDRESS})
    assert r.status_code == 422 and "choose at least one domain" in r.text
    assert mails(web) == []


def test_subscribe_header_injection_is_refused(web: Web) -> None:
    r = subscribe(web, "reader@example.net\r\nBcc: everyone@example.org")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert mails(web) == []


def test_subscribe_is_rate_limited_per_address(tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, web={"subscribe_rate": 2})
    try:
        web.ctx.subscribe_limiter._clock = lambda: 500.0  # no time passes
        here = web.client()
        assert subscribe(web, "a@example.net", client=here).status_code == 200  # type: ignore[attr-defined]
        assert subscribe(web, "b@example.net", client=here).status_code == 200  # type: ignore[attr-defined]
        r = subscribe(web, "c@example.net", client=here)
        assert r.status_code == 429  # type: ignore[attr-defined]
        assert int(r.headers["Retry-After"]) >= 1  # type: ignore[attr-defined]
        assert len(mails(web)) == 2
        there = web.client(client=("198.51.100.4", 5000))
        assert subscribe(web, "c@example.net", client=there).status_code == 200  # type: ignore[attr-defined]
    finally:
        web.close()


def test_confirmation_through_smtp(tmp_path: Path, clock: FixedClock) -> None:
    from tests.fakes.smtp_server import running_smtp_server

    with running_smtp_server() as smtp:
        web = make_web(tmp_path, clock, environ={"SMTP_URL": smtp.url(query="starttls=off")})
        try:
            r = subscribe(web)
            assert r.status_code == 200  # type: ignore[attr-defined]
            assert smtp.to(ADDRESS) == []  # the web app only queues it
            from bot.outmail import send_outmail

            assert send_outmail(web.herald).sent == 1  # the worker's job sends it
            (got,) = smtp.to(ADDRESS)
            kind, token = link_in(got.parsed())
            assert kind == "confirm"
            assert web.client().post(f"/confirm/{token}").status_code == 200
            assert web.store.get_subscriber(ADDRESS).active
            assert mails(web) == []  # nothing went to files
        finally:
            web.close()


def test_public_pages_need_no_sign_in_and_carry_security_headers(web: Web) -> None:
    c = web.client()
    for path in ("/subscribe", "/confirm/x", "/preferences/x", "/unsubscribe/x"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code in (200, 400), path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"


def test_an_old_preferences_link_cannot_resubscribe_someone_who_unsubscribed(
        dbweb: Web) -> None:
    """Issue #12, defect 10: a preferences link travels in every digest (and forwards);
    one issued before the unsubscribe no longer works, and saving preferences never
    re-subscribes anyone. Coming back takes a subscribe request and its confirmation."""
    web = dbweb
    prefs = confirmed(web, ["learning-capacity"])
    c = web.client()
    csrf = form_csrf(c.get(f"/preferences/{prefs}").text)
    sub = web.store.get_subscriber(ADDRESS)
    web.clock.advance(days=2)
    unsub = web.ctx.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
    assert web.client().post(f"/unsubscribe/{unsub}",
                             data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert not web.store.get_subscriber(ADDRESS).active

    web.clock.advance(days=7)  # the old link is still inside its 60 days
    assert "unsubscribed after this link" in _refused(c.get(f"/preferences/{prefs}"))
    r = c.post(f"/preferences/{prefs}", data={"csrf": csrf,
                                              "domains": ["innovation-improvement"]})
    assert "unsubscribed after this link" in _refused(r)
    after = web.store.get_subscriber(ADDRESS)
    assert not after.active and after.domains == ("learning-capacity",)

    # Even a link issued after the unsubscribe saves the choice without re-subscribing.
    web.clock.advance(minutes=1)
    newer = web.ctx.signer.sign(PREFERENCES, {"s": sub.id, "e": sub.email})
    page = c.get(f"/preferences/{newer}")
    assert page.status_code == 200
    r = c.post(f"/preferences/{newer}", data={"csrf": form_csrf(page.text),
                                              "domains": ["innovation-improvement"]})
    assert r.status_code == 200 and "not subscribed" in r.text
    after = web.store.get_subscriber(ADDRESS)
    assert not after.active and after.domains == ("innovation-improvement",)

    # Subscribing again and confirming does bring them back.
    again = confirmed(web, ["learning-capacity"])
    assert web.store.get_subscriber(ADDRESS).active
    assert c.get(f"/preferences/{again}").status_code == 200
