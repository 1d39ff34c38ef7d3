"""Story edits are checked the same way on every path (issue #17's hostile tester): the API
(``PATCH /api/stories/{id}``), the web form and ``herald stories edit`` all end in the
store's ``edit_story``, which keeps no control characters (a summary keeps its line breaks,
a title and a place are one line) and no key-date time that is not 24-hour "09:30" or
"09:30–13:00": those are refused naming the date and the field (422, the form's error,
exit 2), never a 500 (PostgreSQL refuses NUL in text), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.errors import InvalidEdit
from bot.model import KeyDate
from channels import ChannelContext
from channels.slack import SlackChannel, SlackOptions
from channels.teams import TeamsChannel, TeamsOptions
from tests.test_web_stories import COACHING, MASTERCLASS, feed_web, story_id
from tests.web_helpers import EDITOR, Web

#: The tester's body, as sent.
ATTACK: dict[str, Any] = {
    "title": "Evil\r\nBEGIN:VEVENT\u0000\u0007\u001b[31m x",
    "summary": "Line1\r\nATTACH:x\u0000",
    "dates": [
        {"what": "event", "date": "2026-12-16", "at_time": "10:00\r\nX-EVIL:1",
         "place": "Room;1\r\nLOCATION:evil\u0000\u000b"},
        {"what": "deadline", "date": "2026-12-19", "at_time": "25:99", "place": None},
        {"what": "applications-open", "date": "2026-12-17", "at_time": "nonsense",
         "place": "x"}]}
#: Any control character but a line feed (C0, DEL, C1), and lone surrogates.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.fixture
def dbweb(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[Web]:
    w = feed_web(tmp_path, clock, COACHING, MASTERCLASS, db_url=db_url)
    yield w
    w.close()


def strings(value: Any) -> Iterator[str]:
    """Every string in a rendered payload (dicts, lists, nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)


def test_the_testers_body_is_refused_naming_the_date_and_field_and_changes_nothing(
        dbweb: Web) -> None:
    sid = story_id(dbweb, "Coaching")
    before = dbweb.store.get_story(sid)
    ed = dbweb.staff(EDITOR)
    r = ed.api("PATCH", f"/api/stories/{sid}", json=ATTACK)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "dates[0]" in error and "at_time" in error and "09:30–13:00" in error
    assert not CONTROL.search(error)
    # Each bad time on its own, named by its place in the list.
    for n, bad in ((1, "25:99"), (2, "nonsense")):
        # The dates before the bad one made good; those after it left out.
        dates = [{**d, "at_time": "17:00"} for d in ATTACK["dates"][:n]] + [
            ATTACK["dates"][n]]
        r = ed.api("PATCH", f"/api/stories/{sid}", json={**ATTACK, "dates": dates})
        assert r.status_code == 422, r.text
        assert f"dates[{n}]" in r.json()["error"] and repr(bad) in r.json()["error"]
    after = dbweb.store.get_story(sid)
    assert (after.title, after.summary, after.dates, after.revision) == (
        before.title, before.summary, before.dates, before.revision)
    assert dbweb.store.story_history(sid) == []


def test_control_characters_are_removed_and_reach_no_post_card_or_page(
        dbweb: Web, tmp_path: Path) -> None:
    sid = story_id(dbweb, "Coaching")
    ed = dbweb.staff(EDITOR)
    body = {**ATTACK, "summary": ATTACK["summary"] + "\x9b\r\n\r\nLine3\x85end",
            "dates": [{**d, "at_time": t} for d, t in zip(
                ATTACK["dates"], ("09:30-13:00", "9:05", None), strict=True)]}
    r = ed.api("PATCH", f"/api/stories/{sid}", json=body)
    assert r.status_code == 200, r.text
    story = dbweb.store.get_story(sid)
    assert story.title == "Evil BEGIN:VEVENT[31m x"  # one line, no NUL, BEL or ESC
    assert story.summary == "Line1\nATTACH:x\n\nLine3end"  # its line breaks kept
    assert [(d.what, d.date, d.at_time, d.place) for d in story.dates] == [
        ("event", date(2026, 12, 16), "09:30–13:00", "Room;1 LOCATION:evil"),
        ("applications-open", date(2026, 12, 17), None, "x"),
        ("deadline", date(2026, 12, 19), "09:05", None)]
    for h in dbweb.store.story_history(sid):
        assert not CONTROL.search(f"{h.before}{h.after}")
    # What readers get: a Slack post (its bold key-date line too), a Teams card, the page.
    context = ChannelContext(outbox_dir=tmp_path, environ={
        "SLACK_BOT_TOKEN": "xoxb-x", "TEAMS_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    slack = SlackChannel("slack", SlackOptions(channel="C0", base_url="http://127.0.0.1:9"),
                         context)
    teams = TeamsChannel("teams", TeamsOptions(), context)
    for payload in (slack.render(story), teams.render(story)):
        texts = list(strings(payload))
        assert any("09:30–13:00" in t for t in texts)
        assert not any(CONTROL.search(t) for t in texts)
    page = ed.get(f"/stories/{sid}").text
    assert "Evil BEGIN:VEVENT[31m x" in page and not CONTROL.search(page.replace("\t", ""))


@pytest.mark.parametrize(("at_time", "kept"), [
    ("09:30", "09:30"), ("9:30", "09:30"), ("09:30–13:00", "09:30–13:00"),
    ("09:30 - 13:00", "09:30–13:00"), ("  14:00 ", "14:00"), ("", None),
])
def test_a_good_time_is_kept_as_herald_writes_times(dbweb: Web, at_time: str,
                                                    kept: str | None) -> None:
    sid = story_id(dbweb, "Improvement")
    dbweb.store.edit_story(sid, by=EDITOR, ctx=dbweb.herald.routing, now=dbweb.clock.now(),
                           dates=[KeyDate("event", date(2026, 9, 3), "", at_time, None)])
    assert [d.at_time for d in dbweb.store.get_story(sid).dates] == [kept]


@pytest.mark.parametrize("at_time", [
    "25:99", "24:00", "12:60", "nonsense", "9.30am", "10:00\r\nX-EVIL:1", "13:00-09:30",
    "10:00–10:00", "10:00 to 12:00", "1000",
])
def test_the_store_refuses_a_time_that_is_not_one_whatever_path_called_it(
        dbweb: Web, at_time: str) -> None:
    sid = story_id(dbweb, "Improvement")
    dates = [KeyDate("deadline", date(2026, 9, 1), "", "17:00", None),
             KeyDate("event", date(2026, 9, 3), "", at_time, None)]
    with pytest.raises(InvalidEdit, match=r"^key date 2: the time \(at_time\)"):
        dbweb.store.edit_story(sid, by=EDITOR, ctx=dbweb.herald.routing,
                               now=dbweb.clock.now(), dates=dates)
    assert dbweb.store.story_history(sid) == []


def test_a_title_of_control_characters_only_is_empty(dbweb: Web) -> None:
    sid = story_id(dbweb, "Improvement")
    r = dbweb.staff(EDITOR).api("PATCH", f"/api/stories/{sid}",
                                json={"title": "\u0000\u0007\r\n"})
    assert r.status_code == 422 and "the title is empty" in r.json()["error"]
    # A lone surrogate (JSON's \ud800 escape), which no database stores: 422, not 500.
    r = dbweb.staff(EDITOR).api("PATCH", f"/api/stories/{sid}",
                                content=json.dumps({"summary": "a\ud800b"}),
                                headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "summary" in r.json()["error"]
    # One from a terminal's undecodable bytes (the CLI's path) is dropped by the store.
    dbweb.store.edit_story(sid, by=EDITOR, ctx=dbweb.herald.routing, now=dbweb.clock.now(),
                           summary="a\udcffb")
    assert dbweb.store.get_story(sid).summary == "ab"


def test_the_form_says_which_date_and_field_and_cleans_the_rest(dbweb: Web) -> None:
    sid = story_id(dbweb, "Coaching")
    ed = dbweb.staff(EDITOR)
    data = {"title": "Coaching\u0007 for\r\nnew directors\u001b", "summary": "Six.\r\nTwo.",
            "date-0-what": "event", "date-0-day": "2026-09-24", "date-0-time": "09:30",
            "date-0-place": "Preston\r\nX-EVIL:1", "date-1-what": "deadline",
            "date-1-day": "2026-09-20", "date-1-time": "25:99"}
    r = ed.post(f"/stories/{sid}/edit", data)
    assert r.status_code == 422
    assert "key date 2: the time (at_time) &#39;25:99&#39;" in r.text
    assert dbweb.store.story_history(sid) == []
    r = ed.post(f"/stories/{sid}/edit", {**data, "date-1-time": "17:00"})
    assert r.status_code == 303, r.text
    story = dbweb.store.get_story(sid)
    assert (story.title, story.summary) == ("Coaching for new directors", "Six.\nTwo.")
    assert [(d.at_time, d.place) for d in story.dates] == [
        ("17:00", None), ("09:30", "Preston X-EVIL:1")]
    # A title that is nothing once cleaned: the form again, saying so (not an error page).
    r = ed.post(f"/stories/{sid}/edit", {**data, "title": "\u0007", "date-1-time": ""})
    assert r.status_code == 422 and "the title is empty" in r.text


@pytest.mark.slow
def test_the_cli_refuses_a_bad_time_in_one_line_with_exit_2(tmp_path: Path) -> None:
    from tests.test_cli import herald, json_out, write_workspace

    config = write_workspace(tmp_path)
    herald(tmp_path, "run", "--once", "--config", config)
    sid = str(json_out(herald(tmp_path, "stories", "--json", "--config", config))[0]["id"])
    for value, words in (("event:2026-12-16:25:99", "'25:99'"),
                         ("event:2026-12-16:nonsense:Room", "'nonsense:Room'"),
                         ("deadline:2026-12-16:13:00-09:00", "ends before it starts")):
        bad = herald(tmp_path, "stories", "edit", sid, "--date", "event:2026-12-15",
                     "--date", value, "--config", config, code=2)
        said = " ".join(bad.stderr.split())
        assert "--date 2: the time (at_time)" in said and words in said, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    herald(tmp_path, "stories", "edit", sid, "--title", "Bell\x07 title",
           "--date", "event:2026-09-24:09:30-13:00:Preston, Room 1", "--config", config)
    edited = next(s for s in json_out(herald(tmp_path, "stories", "--json", "--config",
                                             config)) if str(s["id"]) == sid)
    assert edited["title"] == "Bell title"
    assert [(d["at_time"], d["place"]) for d in edited["dates"]] == [
        ("09:30–13:00", "Preston, Room 1")]
