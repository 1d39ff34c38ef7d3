"""A story's reminders in the web app (issue #17): the per-story switch on the story's page
(a form with the CSRF token, kept in the story's history) and in ``PATCH /api/stories/{id}``,
and the reminders the worker planned, shown with their target, key date, time and status
(rows put straight into the ``reminders`` table here: the planner is bot.reminders')."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from bot.clock import FixedClock
from bot.store.schema import reminders as t_reminders
from bot.web.pages.reminders import before_words, date_words
from tests.test_web_stories import COACHING, MASTERCLASS, feed_web, story_id
from tests.web_helpers import ADMIN, APPROVER, EDITOR, Web, form_csrf, make_web

HOSTILE = "held by <script>alert('x')</script> & co"


@pytest.fixture
def web(tmp_path: Path, clock: FixedClock) -> Iterator[Web]:
    w = feed_web(tmp_path, clock, COACHING, MASTERCLASS)
    yield w
    w.close()


def add_reminder(web: Web, sid: int, **values: Any) -> None:
    """A reminders row as the planner would leave it (what the test does not say is a
    planned Slack reminder for 3 September, 7 days before, at 09:00 London)."""
    now = web.clock.now()
    row = {"story_id": sid, "target": "staff-slack", "what": "event", "day": date(2026, 9, 3),
           "days_before": 7, "due_at": datetime(2026, 8, 27, 8, 0, tzinfo=UTC),
           "status": "planned", "attempts": 0, "created_at": now, "updated_at": now}
    row.update(values)
    with web.store.engine.begin() as conn:
        conn.execute(insert(t_reminders).values(**row))


def panel(html: str) -> str:
    """The page's Reminders panel alone."""
    start = html.index('<section class="reminders"')
    return html[start:html.index("</section>", start)]


def test_the_switch_goes_off_and_on_and_is_kept_in_the_history(web: Web) -> None:
    sid = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    page = panel(ed.get(f"/stories/{sid}").text)
    assert "Remind people before this story's dates" in page
    assert 'id="reminders-switch" name="reminders" value="on"' in page
    assert "checked" in page and "<strong>On</strong>" in page
    assert "Planned reminders are cancelled within a minute" in page
    assert f'action="/stories/{sid}/reminders"' in page and 'name="csrf"' in page

    # Off: the box left unticked (a browser sends nothing for it).
    r = ed.post(f"/stories/{sid}/reminders", {})
    assert r.status_code == 303
    assert r.headers["location"] == f"/stories/{sid}?done=reminders-off"
    assert web.store.get_story(sid).reminders is False
    html = ed.get(r.headers["location"]).text
    assert "Reminders off for this story. Planned reminders are cancelled within a minute." \
        in html
    assert "<strong>Off</strong>" in panel(html) and " checked" not in panel(html)
    assert "Reminders are off for this story." in panel(html)

    # Off again changes nothing and records nothing.
    r = ed.post(f"/stories/{sid}/reminders", {})
    assert r.headers["location"] == f"/stories/{sid}?done=reminders-unchanged"

    # On again, by an approver.
    ap = web.staff(APPROVER)
    r = ap.post(f"/stories/{sid}/reminders", {"reminders": "on"})
    assert r.headers["location"] == f"/stories/{sid}?done=reminders-on"
    assert web.store.get_story(sid).reminders is True
    history = [(h.field, h.before, h.after, h.by) for h in web.store.story_history(sid)]
    assert sorted(history) == sorted([("reminders", "on", "off", EDITOR),
                                      ("reminders", "off", "on", APPROVER)])
    html = ap.get(f"/stories/{sid}").text
    history_table = html[html.index('<table class="list history"'):]
    assert "reminders" in history_table and EDITOR in history_table \
        and APPROVER in history_table


def test_the_switch_needs_the_csrf_token_and_a_sign_in(web: Web) -> None:
    sid = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    r = ed.client.post(f"/stories/{sid}/reminders", data={}, follow_redirects=False)
    assert r.status_code == 403
    r = ed.client.post(f"/stories/{sid}/reminders", data={"csrf": "forged"},
                       follow_redirects=False)
    assert r.status_code == 403
    assert web.store.get_story(sid).reminders is True
    # Signed out: to the sign-in page, nothing changed.
    anon = web.client()
    r = anon.post(f"/stories/{sid}/reminders", data={"csrf": ed.csrf},
                  follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert web.store.get_story(sid).reminders is True
    assert web.store.story_history(sid) == []
    # (Every staff role may edit a story, so every one may switch its reminders: Herald
    # has no read-only role.) A story that does not exist is a 404.
    assert ed.post("/stories/9999/reminders", {}).status_code == 404


def test_the_reminders_are_listed_with_their_status_and_escaped_reasons(web: Web) -> None:
    sid = story_id(web, "Improvement")
    add_reminder(web, sid)  # planned, in a week
    add_reminder(web, sid, target="staff-teams", days_before=1,
                 due_at=datetime(2026, 8, 19, 8, 0, tzinfo=UTC), status="sent",
                 sent_at=datetime(2026, 8, 19, 8, 0, 5, tzinfo=UTC), attempts=1)
    add_reminder(web, sid, days_before=0, due_at=datetime(2026, 9, 3, 8, 0, tzinfo=UTC),
                 status="cancelled", last_error=HOSTILE)
    add_reminder(web, sid, what="deadline", day=date(2027, 1, 8), days_before=1,
                 due_at=datetime(2027, 1, 7, 9, 0, tzinfo=UTC), status="dead",
                 last_error="staff-slack: SlackError: channel_not_found")
    add_reminder(web, sid, target="staff-teams", what="applications-close",
                 day=date(2026, 9, 1), days_before=1,
                 due_at=datetime(2026, 8, 31, 8, 0, tzinfo=UTC), status="failed",
                 next_attempt_at=web.clock.now() + timedelta(minutes=5),
                 last_error="HTTP 502")
    page = panel(web.staff(EDITOR).get(f"/stories/{sid}").text)
    rows = page[page.index("<tbody>"):].split("<tr>")[1:]
    assert len(rows) == 5
    # Soonest first: the sent one (yesterday), then the planned one (in 7 days).
    assert "staff-teams" in rows[0] and "badge-sent" in rows[0] and "1 day before" in rows[0]
    assert "Wed 19 Aug 09:00 BST" in rows[0]
    assert "staff-slack" in rows[1] and "badge-planned" in rows[1]
    assert "Event Thu 3 Sep" in rows[1] and "7 days before" in rows[1]
    assert "in 7 days, Thu 27 Aug 09:00 BST" in rows[1]
    assert "Applications close Tue 1 Sep" in rows[2] and "badge-failed" in rows[2]
    assert "will try again" in rows[2] and "in 5 minutes" in rows[2] and "502" in rows[2]
    assert "badge-cancelled" in rows[3] and "on the day" in rows[3]
    assert "held by &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in rows[3]
    assert "<script>" not in page
    assert "Deadline Fri 8 Jan 2027" in rows[4] and "badge-dead" in rows[4]
    assert "gave up:" in rows[4] and "SlackError" not in rows[4]
    assert "No reminders." not in page
    assert "to be cancelled" not in page
    # Off: what is still planned (or to be tried again) says the worker cancels it.
    web.store.set_story_reminders(sid, False, by=EDITOR, now=web.clock.now())
    rows = panel(web.staff(EDITOR).get(f"/stories/{sid}").text).split("<tr>")[2:]
    marked = ["to be cancelled: reminders are off" in row for row in rows]
    assert marked == [False, True, True, False, False]  # sent, planned, failed, ...


def test_with_no_reminders_the_panel_says_why(web: Web, tmp_path: Path,
                                               clock: FixedClock) -> None:
    ed = web.staff(EDITOR)
    coaching, masterclass = story_id(web, "Coaching"), story_id(web, "Improvement")
    assert "no key dates to come" in panel(ed.get(f"/stories/{coaching}").text)
    # The masterclass (3 September) waits in the outbox: not sent anywhere yet.
    assert "has not been sent anywhere yet" in panel(ed.get(f"/stories/{masterclass}").text)
    ed.post(f"/stories/{masterclass}/hold", {"hold": "1"})
    assert "stopped from being posted" in panel(ed.get(f"/stories/{masterclass}").text)
    ed.post(f"/stories/{masterclass}/reminders", {})
    assert "Reminders are off for this story." in panel(ed.get(f"/stories/{masterclass}").text)


def test_reminders_turned_off_in_config_are_named(tmp_path: Path, clock: FixedClock) -> None:
    from tests.test_web_stories import rss

    (tmp_path / "news.xml").write_text(rss(MASTERCLASS))
    web = make_web(tmp_path, clock, sources=[{"name": "news",
                                              "url": str(tmp_path / "news.xml")}],
                   reminders={"enabled": False})
    try:
        web.herald.collect(all_enabled=True)
        sid = story_id(web, "Improvement")
        page = panel(web.staff(ADMIN).get(f"/stories/{sid}").text)
        assert "[reminders] enabled = false" in page
        assert "turned off for the whole site" in page
    finally:
        web.close()


def test_the_api_switches_reminders_and_keeps_it_in_the_history(web: Web) -> None:
    sid = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    r = ed.api("PATCH", f"/api/stories/{sid}", json={"reminders": False})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sid
    assert web.store.get_story(sid).reminders is False
    r = ed.api("PATCH", f"/api/stories/{sid}", json={"title": "Masterclass, 3 September",
                                                     "reminders": True})
    assert r.status_code == 200 and r.json()["title"] == "Masterclass, 3 September"
    assert web.store.get_story(sid).reminders is True
    history = ed.api("GET", f"/api/stories/{sid}/history").json()
    switched = [(h["before"], h["after"]) for h in history if h["field"] == "reminders"]
    assert sorted(switched) == [("off", "on"), ("on", "off")]
    # Without the CSRF header: refused, unchanged.
    r = ed.client.patch(f"/api/stories/{sid}", json={"reminders": False})
    assert r.status_code == 403
    assert web.store.get_story(sid).reminders is True
    for loose in ("maybe", "yes", 1, "false"):  # found from outside: "yes" was taken
        r = ed.api("PATCH", f"/api/stories/{sid}", json={"reminders": loose})
        assert r.status_code == 422, loose
    assert ed.api("PATCH", "/api/stories/9999", json={"reminders": False}).status_code == 404
    schema = ed.client.get("/api/openapi.json").json()
    edit_in = schema["components"]["schemas"]["StoryEditIn"]["properties"]
    assert "reminders" in edit_in


def test_the_panel_words() -> None:
    today = date(2026, 12, 3)
    assert date_words("applications-close", date(2026, 12, 18), today) == \
        "Applications close Fri 18 Dec"
    assert date_words("event", date(2027, 1, 8), today) == "Event Fri 8 Jan 2027"
    assert before_words(0) == "on the day"
    assert before_words(1) == "1 day before" and before_words(7) == "7 days before"


def test_the_form_token_is_the_sessions(web: Web) -> None:
    """The panel's form carries the page's CSRF token (the one the session checks)."""
    sid = story_id(web, "Improvement")
    ed = web.staff(EDITOR)
    html = ed.get(f"/stories/{sid}").text
    assert form_csrf(panel(html)) == ed.csrf


def test_the_panel_and_switch_on_postgresql(tmp_path: Path, clock: FixedClock,
                                            pg_url: str) -> None:
    web = feed_web(tmp_path, clock, MASTERCLASS, db_url=pg_url)
    try:
        sid = story_id(web, "Improvement")
        add_reminder(web, sid, status="cancelled", last_error=HOSTILE)
        ed = web.staff(EDITOR)
        page = panel(ed.get(f"/stories/{sid}").text)
        assert "Event Thu 3 Sep" in page and "in 7 days, Thu 27 Aug 09:00 BST" in page
        assert "held by &lt;script&gt;" in page and "<script>" not in page
        assert ed.post(f"/stories/{sid}/reminders", {}).status_code == 303
        assert web.store.get_story(sid).reminders is False
        assert [h.field for h in web.store.story_history(sid)] == ["reminders"]
    finally:
        web.close()
