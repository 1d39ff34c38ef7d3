"""The key-dates calendar (/calendar.ics, /calendar/{domain}.ics), on SQLite and PostgreSQL:
the bundled samples collected once with the clock before their dates, read back with the
``icalendar`` library and checked strictly; only what the release gate published is in it;
a changed date raises SEQUENCE, an unchanged one does not; caching by ETag; hostile text
cannot add a property."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import update

from bot.clock import FixedClock
from bot.model import KeyDate
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from tests.conftest import CONFIG_DIR
from tests.web_helpers import Web, make_web

#: Before the samples' dates: the Mary Seacole applications open on 27 August.
BEFORE = datetime(2026, 8, 26, 9, 0, tzinfo=UTC)
SAMPLES = [{"name": "academy-news", "url": str(CONFIG_DIR / "sample" / "academy-news.xml")},
           {"name": "academy-x-posts",
            "url": str(CONFIG_DIR / "sample" / "nwla-posts.json")}]


def sample_web(tmp_path: Path, db_url: str) -> Web:
    """The web app with the bundled sample feeds collected once at :data:`BEFORE`."""
    web = make_web(tmp_path, FixedClock(BEFORE), db_url=db_url, sources=SAMPLES)
    web.herald.collect(all_enabled=True)
    return web


@pytest.fixture
def samples(tmp_path: Path, db_url: str) -> Iterator[Web]:
    web = sample_web(tmp_path, db_url)
    yield web
    web.close()


def parse(body: bytes) -> Calendar:
    """The calendar, checked strictly: every VEVENT has UID, DTSTAMP, DTSTART, SUMMARY."""
    cal = Calendar.from_ical(body)
    assert cal.name == "VCALENDAR"
    for name in ("PRODID", "VERSION"):
        assert name in cal
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    for ev in cal.walk("VEVENT"):
        for name in ("UID", "DTSTAMP", "DTSTART", "SUMMARY"):
            assert name in ev, (name, ev)
    return cal


def events(web: Web, path: str = "/calendar.ics") -> list[Any]:
    r = web.client().get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    return list(parse(r.content).walk("VEVENT"))


def seacole(evs: list[Any]) -> Any:
    (found,) = [e for e in evs if "Seacole" in str(e["DESCRIPTION"])
                and str(e["SUMMARY"]).startswith("Applications open")]
    return found


def story_of(ev: Any) -> int:
    return int(str(ev["UID"]).split("-")[1])


def test_the_samples_as_a_valid_calendar_with_seacole_all_day(samples: Web) -> None:
    r = samples.client().get("/calendar.ics")
    assert r.status_code == 200
    cal = parse(r.content)
    assert str(cal["X-WR-CALNAME"]) == "Academy news"
    assert "X-PUBLISHED-TTL:PT1H" in r.text and "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in r.text
    evs = list(cal.walk("VEVENT"))
    assert len({str(e["UID"]) for e in evs}) == len(evs) >= 3
    ev = seacole(evs)
    # All day: a DATE start, the next day as its end.
    assert ev.decoded("DTSTART") == date(2026, 8, 27)
    assert ev.decoded("DTEND") == date(2026, 8, 28)
    assert "VALUE=DATE" in r.text and "DTSTART;VALUE=DATE:20260827" in r.text
    assert ev["SEQUENCE"] == 0
    assert str(ev["UID"]).endswith("@localhost")  # the host of [digest] base_url
    assert str(ev["URL"]).startswith("https://")
    assert "Learning and capacity building" in [str(c) for c in ev["CATEGORIES"].cats]
    assert "Applications open Thu 27 Aug 2026" in str(ev["DESCRIPTION"])
    # The masterclass has its time, in the worker's zone, with that zone's VTIMEZONE.
    (timed,) = [e for e in evs if isinstance(e.decoded("DTSTART"), datetime)
                and e.decoded("DTSTART").date() == date(2026, 9, 24)][:1]
    start = timed.decoded("DTSTART")
    assert (start.hour, start.minute) == (9, 30) and timed["DTSTART"].params["TZID"] == \
        "Europe/London"
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Europe/London"]
    assert timed.decoded("DTEND").hour == 13


def test_sequence_rises_when_a_date_changes_and_only_then(samples: Web) -> None:
    web = samples
    first = seacole(events(web))
    uid, story = str(first["UID"]), story_of(first)
    assert seacole(events(web))["SEQUENCE"] == 0  # asked again, unchanged
    later = web.clock.advance(hours=2)
    web.store.edit_story(story, by="ed@example.org", ctx=web.herald.routing, now=later,
                         dates=[KeyDate("applications-open", date(2026, 8, 28))])
    moved = seacole(events(web))
    assert str(moved["UID"]) == uid  # one event, moved
    assert moved.decoded("DTSTART") == date(2026, 8, 28)
    assert moved["SEQUENCE"] == 1
    assert moved.decoded("DTSTAMP") == later
    web.clock.advance(hours=1)
    assert seacole(events(web))["SEQUENCE"] == 1  # no change, no new sequence


@pytest.mark.parametrize("how", ["held", "embargoed", "announced nowhere", "merged away"])
def test_only_what_the_gate_published(samples: Web, how: str) -> None:
    web = samples
    evs = events(web)
    story = story_of(seacole(evs))
    others = {story_of(e) for e in evs} - {story}
    now = web.clock.now()
    if how == "held":
        web.store.set_hold(story, True, web.herald.routing, now)
    elif how == "merged away":
        web.store.merge_stories(min(others), story, web.herald.routing, now)
    else:
        with web.store.engine.begin() as conn:
            if how == "embargoed":
                conn.execute(update(t_deliveries).where(t_deliveries.c.story_id == story)
                             .values(release_at=now + timedelta(days=1)))
            else:
                conn.execute(update(t_stories).where(t_stories.c.id == story)
                             .values(targets="[]"))
    left = {story_of(e) for e in events(web)}
    assert story not in left
    assert left == others  # the rest is still there
    if how == "embargoed":  # the embargo ends: the story appears
        web.clock.advance(days=1)
        assert story in {story_of(e) for e in events(web)}


def test_a_story_approved_only_for_staff_channels_stays_inside(samples: Web) -> None:
    """Found from outside: an announcement comms approved for a staff Slack channel alone
    was in the public calendar and feeds. Public is what the digest (the academy's news
    to anyone) may carry; approved for the digest, it is public again."""
    web = samples
    story = story_of(seacole(events(web)))
    staff = [t for t in web.herald.targets if t != "digest"]
    assert staff and "digest" in web.herald.targets
    with web.store.engine.begin() as conn:
        conn.execute(update(t_stories).where(t_stories.c.id == story)
                     .values(targets=json.dumps(staff)))
    assert story not in {story_of(e) for e in events(web)}
    feed = web.client().get("/feed/all.json").json()
    assert str(story) not in {str(i["id"]).rpartition("-")[2] for i in feed["items"]}
    with web.store.engine.begin() as conn:
        conn.execute(update(t_stories).where(t_stories.c.id == story)
                     .values(targets=json.dumps([*staff, "digest"])))
    assert story in {story_of(e) for e in events(web)}


def test_a_story_with_no_delivery_is_not_published(samples: Web) -> None:
    web = samples
    story = story_of(events(web)[0])
    with web.store.engine.begin() as conn:
        conn.execute(t_deliveries.delete().where(t_deliveries.c.story_id == story))
    assert story not in {story_of(e) for e in events(web)}


def test_per_domain_calendars_and_unknown_domains(samples: Web) -> None:
    web = samples
    everything = events(web)
    mine = events(web, "/calendar/learning-capacity.ics")
    assert mine and len(mine) < len(everything)
    for ev in mine:
        assert "Learning and capacity building" in [str(c) for c in ev["CATEGORIES"].cats]
    r = web.client().get("/calendar/learning-capacity.ics")
    assert str(parse(r.content)["X-WR-CALNAME"]) == "Academy news — Learning and capacity building"
    assert web.client().get("/calendar/no-such-domain.ics").status_code == 404
    assert web.client().get("/calendar/%3Cscript%3E.ics").status_code == 404


def test_etag_and_304(samples: Web) -> None:
    c = samples.client()
    c.get("/calendar.ics")  # its events are versioned when first served
    samples.clock.advance(seconds=1)  # Last-Modified is sent once it is a second old
    r = c.get("/calendar.ics")
    etag = r.headers["etag"]
    assert r.headers["cache-control"] == "public, max-age=300"
    assert "last-modified" in r.headers
    again = c.get("/calendar.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert c.get("/calendar.ics", headers={"If-None-Match": '"other"'}).status_code == 200
    # Anyone may read it: no sign-in, no cookie set.
    assert "set-cookie" not in r.headers


def test_hostile_text_cannot_add_properties(samples: Web) -> None:
    web = samples
    ev = seacole(events(web))
    story = story_of(ev)
    evil = "Evil\r\nATTENDEE:mailto:x@example.org\r\nBEGIN:VALARM;x=1,\\y"
    with web.store.engine.begin() as conn:
        conn.execute(update(t_stories).where(t_stories.c.id == story)
                     .values(title=evil, summary=evil + "\nEND:VEVENT"))
        conn.execute(update(t_dates).where(t_dates.c.story_id == story)
                     .values(place="Room 1\r\nORGANIZER:mailto:evil@example.org",
                             at_time="10:00\nRRULE:FREQ=DAILY"))
    r = web.client().get("/calendar.ics")
    lines = r.content.decode().split("\r\n")
    for line in lines:
        assert not line.startswith(("ATTENDEE", "ORGANIZER", "RRULE", "BEGIN:VALARM"))
    assert lines.count("END:VEVENT") == lines.count("BEGIN:VEVENT")
    cal = parse(r.content)
    (mine,) = [e for e in cal.walk("VEVENT") if story_of(e) == story]
    assert str(mine["SUMMARY"]) == ("Applications open: Evil ATTENDEE:mailto:x@example.org "
                                    "BEGIN:VALARM;x=1,\\y")
    assert str(mine["LOCATION"]) == "Room 1 ORGANIZER:mailto:evil@example.org"
    assert "ATTENDEE" not in mine and "RRULE" not in mine
    assert mine.decoded("DTSTART") == date(2026, 8, 27)  # a time it cannot read: all day


def test_two_processes_raise_a_sequence_once(store: Any) -> None:
    """Two web workers seeing the same change at once: no error, one step up."""
    from tests.builders import item, routing

    now = BEFORE
    store.ingest([item(1)], routing(), now=now)
    (story,) = [s.id for s in store.list_stories()]
    assert store.calendar_versions({"u@x": (story, "a")}, now)["u@x"].sequence == 0
    errors: list[BaseException] = []
    results: list[int] = []
    barrier = threading.Barrier(4)

    def ask(fingerprint: str, uid: str) -> None:
        try:
            barrier.wait()
            results.append(store.calendar_versions({uid: (story, fingerprint)},
                                                   now)[uid].sequence)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=("b", "u@x")) for _ in range(2)]
    threads += [threading.Thread(target=ask, args=("a", "new@x")) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 0, 1, 1]
    again = store.calendar_versions({"u@x": (story, "b"), "new@x": (story, "a")}, now)
    assert (again["u@x"].sequence, again["new@x"].sequence) == (1, 0)
