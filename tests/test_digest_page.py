"""The digest page and the subscribers' choices (issue #15): kinds applied by the digest,
the subscribers' CSV export and import (round trip, row-numbered errors, formula cells
neutralised, an unsubscribe never undone), the /digest page's groups and past sends, and
its test send (only to the signed-in person, never counted as the week's send). On SQLite
and PostgreSQL where rows are written; emails read back from the file sender."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.digest import DigestJob, parse_period
from bot.model import Story, Tag, TagGroup
from bot.outmail import send_outmail
from bot.subscriber_csv import export_csv, neutralise, parse_csv, restore
from tests.builders import item
from tests.test_digest import AUG17, DOMAIN_ORDER, LABELS, LC, TODAY, utc
from tests.web_helpers import ADMIN, EDITOR, Web

II = "innovation-improvement"
KINDS = ["cohort-opening", "coaching-offer", "cop-story", "event", "resource", "vacancy",
         "news"]
DOMAINS = ["individual-effectiveness", "relationships-connectivity", II, LC]
COHORT = "Applications open for the autumn leadership cohort"
WEBINAR = "Webinar series and masterclass for new leaders"


def kinded(n: int, kind: str, *domains: str) -> Story:
    seen = utc(2026, 8, 18, 10) + timedelta(hours=n)
    tags = (Tag(TagGroup.KIND, kind, "test"), *(Tag(TagGroup.DOMAIN, d, "test")
                                                 for d in domains))
    return Story(id=n, title=f"Story {n}", summary="", url=None, kind=kind, tags=tags,
                 dates=(), items=(), first_seen=seen, updated_at=seen)


def test_the_digest_gives_each_subscriber_only_the_kinds_they_chose() -> None:
    from bot.digest import build_digest

    week = [kinded(1, "cohort-opening", LC), kinded(2, "news", LC), kinded(3, "event", II),
            kinded(4, "vacancy")]

    def ids(domains: tuple[str, ...] | None, kinds: tuple[str, ...] | None) -> list[int]:
        content = build_digest(domains, week, AUG17, TODAY, LABELS, DOMAIN_ORDER, kinds)
        return [] if content is None else sorted(
            s.id for g in content.groups for s in g.stories if s.id)

    assert ids(None, None) == [1, 2, 3, 4]
    assert ids(None, ("cohort-opening", "event")) == [1, 3]
    assert ids((LC,), ("cohort-opening", "event")) == [1]
    assert ids((II,), ("news",)) == []  # nothing of theirs: no email


# -- the store, on both backends ------------------------------------------------------------

def ingest_week(web: Web) -> None:
    now = web.clock.now()
    for n, (title, text) in enumerate([
            (COHORT, "Join the new cohort. Applications close on 30 September 2026."),
            (WEBINAR, "Join our webinar series and a masterclass on Thursdays.")], start=1):
        web.store.ingest([item(n, title=title, text=text, published_at=now,
                               collected_at=now)], web.herald.routing, now=now)


def test_kinds_are_stored_and_the_digest_run_applies_them(dbweb: Web) -> None:
    web = dbweb
    ingest_week(web)
    now = web.clock.now()
    web.store.add_subscriber("cohorts@example.org", domains=None, kinds=["cohort-opening"],
                             now=now)
    web.store.add_subscriber("all@example.org", domains=None, now=now)
    web.store.add_subscriber("jobs@example.org", domains=None, kinds=["vacancy"], now=now)
    assert web.store.get_subscriber("cohorts@example.org").kinds == ("cohort-opening",)
    assert web.store.get_subscriber("all@example.org").kinds is None
    cfg = web.herald.settings.config.digest
    period = parse_period("current", cfg.schedule, cfg.timezone, now)
    stats = DigestJob(web.herald).run(period, period.end)
    assert (stats.sent, stats.empty) == (2, 1)
    got = {str(m["To"]): m for m in sent_files(web)}
    assert set(got) == {"cohorts@example.org", "all@example.org"}
    assert COHORT in text_of(got["cohorts@example.org"])
    assert WEBINAR not in text_of(got["cohorts@example.org"])
    assert WEBINAR in text_of(got["all@example.org"])


def sent_files(web: Web) -> list[EmailMessage]:
    folder = web.herald.settings.outbox_dir / "digest"
    return [message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)] \
        if folder.exists() else []


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


# -- CSV ------------------------------------------------------------------------------------

def test_formula_cells_are_neutralised_and_restored() -> None:
    for cell in ("=HYPERLINK(\"http://evil.example\")", "+1", "-2", "@SUM(A1)", "\tx",
                 "\rx", "'quoted", "''twice"):
        safe = neutralise(cell)
        assert safe.startswith("'") and restore(safe) == cell
    assert neutralise("plain@example.org") == "plain@example.org"
    assert restore("'ordinary") == "'ordinary"  # a quote before nothing dangerous stays


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_neutralises_an_address_that_looks_like_a_formula(dbweb: Web) -> None:
    web = dbweb
    web.store.add_subscriber("=cmd@example.org", domains=None, now=web.clock.now())
    web.store.add_subscriber("-x@example.org", domains=[LC], kinds=["event"],
                             now=web.clock.now())
    admin = web.staff(ADMIN)
    r = admin.get("/subscribers.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = rows_of(r.text)
    assert rows[0] == ["email", "status", "domains", "kinds", "subscribed"]
    cells = [c for row in rows[1:] for c in row]
    assert "'=cmd@example.org" in cells and "'-x@example.org" in cells
    assert not any(c[:1] in "=+-@\t\r" for c in cells)


def test_csv_round_trip_gives_the_same_subscribers(dbweb: Web, tmp_path_factory: pytest.
                                                   TempPathFactory) -> None:
    web = dbweb
    now = web.clock.now()
    web.store.add_subscriber("a@example.org", domains=[LC, II], kinds=["event"], now=now)
    web.store.add_subscriber("+plus@example.org", domains=None, now=now - timedelta(days=3))
    web.store.add_subscriber("gone@example.org", domains=[LC], now=now - timedelta(days=9))
    web.store.unsubscribe("gone@example.org", now)
    exported = export_csv(web.store.list_subscribers())

    from tests.web_helpers import make_web
    other = make_web(tmp_path_factory.mktemp("other"), web.clock)
    try:
        admin = other.staff(ADMIN)
        r = admin.post("/subscribers/import", {"consent": "yes"},
                       files={"file": ("subs.csv", exported.encode(), "text/csv")})
        assert r.status_code == 200, r.text
        assert "2 added" in r.text and "1 recorded as unsubscribed" in r.text
        assert export_csv(other.store.list_subscribers()) == exported
        assert other.store.list_outmail() == []  # consent given: no confirmation emails
    finally:
        other.close()


def test_import_reports_every_bad_row_by_number_and_writes_nothing(dbweb: Web) -> None:
    web = dbweb
    data = ("email,status,domains,kinds,subscribed\n"
            "ok@example.org,active,all,all,\n"
            "not-an-address,active,,,\n"
            "b@example.org,sleeping,,,\n"
            "c@example.org,active,no-such-domain,,\n"
            "d@example.org,active,,events-and-more,\n"
            "OK@example.org,active,,,\n"
            "e@example.org,active,,,last tuesday\n")
    admin = web.staff(ADMIN)
    r = admin.post("/subscribers/import", {"consent": "yes"},
                   files={"file": ("subs.csv", data.encode(), "text/csv")})
    assert r.status_code == 422
    errors = re.findall(r"<li>(row \d+, [^<]+)</li>", r.text)
    assert [e.split(",")[0] for e in errors] == [f"row {n}" for n in range(3, 9)]
    assert "row 3, email:" in errors[0] and "status: &#39;sleeping&#39;" in errors[1]
    assert "no-such-domain" in errors[2] and "events-and-more" in errors[3]
    assert "also on row 2" in errors[4] and "last tuesday" in errors[5]
    assert web.store.list_subscribers() == []
    rows, found = parse_csv(b"name\nx\n", DOMAINS, KINDS)
    assert rows == [] and found == ["row 1: no 'email' column (the columns are email, "
                                    "status, domains, kinds, subscribed)"]
    assert parse_csv(b"\xff\xfe", DOMAINS, KINDS)[1][0].startswith("the file is not UTF-8")


def test_import_never_resubscribes_someone_who_left(dbweb: Web) -> None:
    web = dbweb
    now = web.clock.now()
    web.store.add_subscriber("left@example.org", domains=[LC], now=now)
    web.store.unsubscribe("left@example.org", now)
    admin = web.staff(ADMIN)
    data = "email,status,domains\nLeft@example.org,active,all\nnew@example.org,active,all\n"
    r = admin.post("/subscribers/import", {"consent": "yes"},
                   files={"file": ("subs.csv", data.encode(), "text/csv")})
    assert r.status_code == 200 and "Left unsubscribed, as they asked" in r.text
    left = web.store.get_subscriber("left@example.org")
    assert not left.active and left.domains == (LC,)
    assert web.store.get_subscriber("new@example.org").active


def test_import_without_consent_sends_confirmations_carrying_the_choices(dbweb: Web) -> None:
    web = dbweb
    admin = web.staff(ADMIN)
    data = "email,domains,kinds\nasked@example.org,learning-capacity,event;vacancy\n"
    r = admin.post("/subscribers/import", {},
                   files={"file": ("subs.csv", data.encode(), "text/csv")})
    assert r.status_code == 200 and "sent a confirmation email" in r.text
    assert not web.store.get_subscriber("asked@example.org").active
    send_outmail(web.herald)
    (mail,) = sent_files(web)
    token = re.search(r"/confirm/([A-Za-z0-9_\-\.]+)", text_of(mail))
    assert token
    assert web.client().post(f"/confirm/{token.group(1)}").status_code == 200
    sub = web.store.get_subscriber("asked@example.org")
    assert sub.active and sub.domains == (LC,) and sub.kinds == ("event", "vacancy")


def test_subscribers_page_counts_and_search(web: Web) -> None:
    now = web.clock.now()
    web.store.add_subscriber("a@example.org", domains=[LC], kinds=["event"], now=now)
    web.store.add_subscriber("b@example.org", domains=None, now=now)
    web.store.add_subscriber("c@elsewhere.net", domains=[II], now=now)
    admin = web.staff(ADMIN)
    page = admin.get("/subscribers").text
    counts = dict(re.findall(r"<tr><td[^>]*>([^<]+)</td><td[^>]*>(\d+)</td></tr>", page))
    assert counts[LABELS[LC]] == "2" and counts[LABELS[II]] == "2"
    assert counts[LABELS["event"]] == "3" and counts[LABELS["vacancy"]] == "2"
    found = admin.get("/subscribers?q=ELSEWHERE").text
    assert "c@elsewhere.net" in found and "a@example.org</td>" not in found
    assert web.staff(EDITOR).get("/subscribers.csv").status_code in (302, 303, 403)


# -- public forms ---------------------------------------------------------------------------

def test_subscribe_and_preferences_carry_kinds(dbweb: Web) -> None:
    from tests.test_web_public import ADDRESS, LINK, link_in, mails
    from tests.web_helpers import form_csrf

    web = dbweb
    c = web.client()
    page = c.get("/subscribe")
    assert 'name="kinds" value="cohort-opening"' in page.text
    r = c.post("/subscribe", data={"csrf": form_csrf(page.text), "email": ADDRESS,
                                   "domains": [LC], "kinds_shown": "1", "kinds": []})
    assert r.status_code == 422 and "choose at least one kind" in r.text
    c.post("/subscribe", data={"csrf": form_csrf(page.text), "email": ADDRESS,
                               "domains": [LC], "kinds_shown": "1",
                               "kinds": ["cohort-opening", "event"]})
    _kind, token = link_in(mails(web)[-1])
    r = web.client().post(f"/confirm/{token}")
    sub = web.store.get_subscriber(ADDRESS)
    assert sub.active and sub.kinds == ("cohort-opening", "event")
    found = LINK.search(r.text)
    assert found
    prefs = found.group(2)
    page = c.get(f"/preferences/{prefs}")
    assert 'id="pk-event" name="kinds" value="event" checked' in page.text
    assert 'id="pk-news" name="kinds" value="news">' in page.text
    c.post(f"/preferences/{prefs}", data={"csrf": form_csrf(page.text), "domains": [LC],
                                          "kinds_shown": "1", "kinds": KINDS})
    assert web.store.get_subscriber(ADDRESS).kinds is None  # every kind


# -- the digest page ------------------------------------------------------------------------

def test_digest_page_shows_groups_send_time_and_past_sends(dbweb: Web) -> None:
    web = dbweb
    ingest_week(web)
    now = web.clock.now()
    web.store.add_subscriber("a@example.org", domains=None, kinds=["cohort-opening"], now=now)
    web.store.add_subscriber("b@example.org", domains=None, kinds=["cohort-opening"], now=now)
    web.store.add_subscriber("c@example.org", domains=[II], now=now)
    editor = web.staff(EDITOR)
    page = editor.get("/digest").text
    # Thursday 20 August 2026: this week's digest goes on Monday 24 August, 08:00 BST.
    sent = re.search(r'goes out <strong><time datetime="([^"]+)">([^<]+)</time></strong> '
                     r'\(Europe/London\)', page)
    assert sent, page
    assert sent.group(1) == "2026-08-24T07:00:00+00:00"
    assert sent.group(2) == "in 4 days, Mon 24 Aug 08:00 BST", sent.group(2)
    keys = re.findall(r'name="group" value="([0-9a-f]+)"', page)
    assert len(keys) == 2
    assert "2 subscribers · 1 story" in page and "1 subscriber · nothing new yet" in page
    frame = editor.get(f"/digest/preview/{keys[0]}")
    assert frame.status_code == 200 and COHORT in frame.text and WEBINAR not in frame.text
    assert "sandbox" in frame.headers["content-security-policy"]
    assert "No digest has been sent yet" in page
    cfg = web.herald.settings.config.digest
    period = parse_period("current", cfg.schedule, cfg.timezone, now)
    DigestJob(web.herald).run(period, period.end)
    page = editor.get("/digest").text
    row = re.search(rf"<tr><td>{period.key}</td>.*?</tr>", page, re.S)
    assert row, page
    cells = re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
    assert len(cells) == 7 and cells[1] != "—"  # sent, at a time
    assert cells[2:] == ["2", "1", "1", "0", "0"]  # 2 got it, 1 story, 1 had nothing new


def test_a_test_send_goes_only_to_me_and_is_not_the_weeks_send(dbweb: Web) -> None:
    web = dbweb
    ingest_week(web)
    now = web.clock.now()
    web.store.add_subscriber("reader@example.org", domains=None, now=now)
    editor = web.staff(EDITOR)
    key = re.findall(r'name="group" value="([0-9a-f]+)"', editor.get("/digest").text)[0]
    r = editor.post("/digest/test", {"group": key})
    assert r.status_code == 303 and r.headers["location"] == "/digest?done=test-queued"
    (queued,) = web.store.list_outmail()
    assert queued.kind == "digest-test" and queued.recipient == EDITOR
    assert web.store.list_digests() == [] and web.store.digest_sends() == []
    send_outmail(web.herald)
    (mail,) = sent_files(web)
    assert [a.addr_spec for a in mail["To"].addresses] == [EDITOR]
    assert mail["Subject"].startswith("[Test] ") and "List-Unsubscribe" not in mail
    assert COHORT in text_of(mail) and WEBINAR in text_of(mail)
    # The real send still carries the week's stories, and counts only real readers.
    cfg = web.herald.settings.config.digest
    period = parse_period("current", cfg.schedule, cfg.timezone, now)
    stats = DigestJob(web.herald).run(period, period.end)
    assert stats.sent == 1
    (send,) = web.store.digest_sends()
    assert (send.recipients, send.stories) == (1, 2)
    real = [m for m in sent_files(web) if not m["Subject"].startswith("[Test]")]
    assert [str(m["To"]) for m in real] == ["reader@example.org"]
    assert COHORT in text_of(real[0])
    # A group that does not exist (the page was stale) is a clear error.
    r = editor.post("/digest/test", {"group": "nosuchgroup"})
    assert r.status_code == 422 and "reload the digest page" in r.text


def test_the_digest_page_needs_sign_in(web: Web) -> None:
    r = web.client().get("/digest", follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
    r = web.client().get("/digest/preview/abc", follow_redirects=False)
    assert r.status_code in (302, 303, 401)





def test_only_admins_import(web: Web) -> None:
    r = web.staff(EDITOR).post("/subscribers/import", {},
                               files={"file": ("s.csv", b"email\na@example.org\n", "text/csv")})
    assert r.status_code == 403 and web.store.list_subscribers() == []
    r = web.staff(ADMIN).post("/subscribers/import", {})
    assert r.status_code == 422 and "choose a CSV file" in r.text


@pytest.mark.slow
def test_cli_subscribers_add_kinds_and_list_them(tmp_path: Path) -> None:
    from tests.test_digest import cli, cli_workspace

    config = cli_workspace(tmp_path)
    added = cli(tmp_path, "subscribers", "add", "k@example.org", "--kinds",
                "cohort-opening,event", "--config", config)
    assert "only cohort-opening, event" in " ".join(added.stdout.split())
    bad = cli(tmp_path, "subscribers", "add", "x@example.org", "--kinds", "gossip",
              "--config", config, code=2)
    assert "--kinds: unknown gossip" in " ".join(bad.stderr.split())
    listed = json.loads(cli(tmp_path, "subscribers", "list", "--json", "--config",
                            config).stdout)
    assert [(s["email"], s["kinds"], s["domains"]) for s in listed] == [
        ("k@example.org", ["cohort-opening", "event"], "all")]
