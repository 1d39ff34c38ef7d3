"""Edits of collected stories with an audit trail (issue #15): title, summary, key dates and
programmes set by comms survive a later poll, raise the revision (so Slack edits the post),
and every change is recorded; saving tags keeps the reasons of the tags not touched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.model import KeyDate, TagGroup
from tests.test_web_stories import COACHING, MASTERCLASS, feed_web, rss, story_id
from tests.web_helpers import EDITOR, Web


@pytest.fixture
def dbweb(tmp_path: Path, clock: FixedClock, db_url: str) -> Iterator[Web]:
    w = feed_web(tmp_path, clock, COACHING, MASTERCLASS, db_url=db_url)
    yield w
    w.close()


def _domains(web: Web, sid: int) -> dict[str, str]:
    return {t.slug: t.reason for t in web.store.get_story(sid).tags
            if t.group is TagGroup.DOMAIN}


def test_saving_tags_keeps_the_reasons_of_the_tags_not_touched(dbweb: Web) -> None:
    web = dbweb
    sid = story_id(web, "Coaching")
    story = web.store.get_story(sid)
    kept = _domains(web, sid)
    assert kept, "the rules gave the coaching story a domain"
    kind_reason = next(t.reason for t in story.tags if t.group is TagGroup.KIND)
    known = web.herald.routing.taxonomy.slugs("domain")
    added = next(d for d in known if d not in kept)
    # The form sends every ticked box: the old ones and the new one, and the same kind.
    web.store.set_story_tags(sid, kind=story.kind, domains=[*kept, added], by=EDITOR,
                             ctx=web.herald.routing, now=web.clock.now())
    after = _domains(web, sid)
    for slug, reason in kept.items():
        assert after[slug] == reason  # untouched: its reason as the rules gave it
    assert after[added] == f"set by {EDITOR}"
    story = web.store.get_story(sid)
    assert next(t.reason for t in story.tags if t.group is TagGroup.KIND) == kind_reason
    # The change is on record, once, naming who.
    history = web.store.story_history(sid)
    assert [(h.field, h.by) for h in history] == [("domains", EDITOR)]
    assert added in (history[0].after or "") and added not in (history[0].before or "")


def test_edits_survive_a_later_poll_raise_the_revision_and_are_recorded(dbweb: Web) -> None:
    web = dbweb
    sid = story_id(web, "Coaching")
    before = web.store.get_story(sid)
    programme = web.herald.routing.taxonomy.slugs("programme")[0]
    when = KeyDate("applications-close", date(2026, 9, 30), "", "17:00", None)
    web.store.edit_story(sid, by=EDITOR, ctx=web.herald.routing, now=web.clock.now(),
                         title="Coaching for directors new in post",
                         summary="One-to-one coaching, six sessions.", dates=[when],
                         programmes=[programme])
    story = web.store.get_story(sid)
    assert story.title == "Coaching for directors new in post"
    assert story.summary == "One-to-one coaching, six sessions."
    assert [(d.what, d.date, d.at_time) for d in story.dates] == [
        ("applications-close", date(2026, 9, 30), "17:00")]
    assert [t.slug for t in story.tags if t.group is TagGroup.PROGRAMME] == [programme]
    assert story.revision == before.revision + 1
    fields = sorted(h.field for h in web.store.story_history(sid))
    assert fields == ["dates", "programmes", "summary", "title"]
    title_row = next(h for h in web.store.story_history(sid) if h.field == "title")
    assert (title_row.before, title_row.after, title_row.by) == (
        before.title, "Coaching for directors new in post", EDITOR)
    # Saving the same again changes and records nothing.
    web.store.edit_story(sid, by=EDITOR, ctx=web.herald.routing, now=web.clock.now(),
                         title="Coaching for directors new in post")
    assert len(web.store.story_history(sid)) == 4
    assert web.store.get_story(sid).revision == story.revision
    # The feed changes the item; the worker polls again: comms' words stay.
    changed = (1, "Coaching for new directors (updated)", COACHING[2],
               "Our coaching offer, now with a resilience masterclass.")
    (web.tmp_path / "news.xml").write_text(rss(changed, MASTERCLASS))
    web.clock.advance(hours=1)
    assert web.herald.collect(all_enabled=True).errors == 0
    story = web.store.get_story(sid)
    assert "resilience" in story.items[0].text
    assert story.title == "Coaching for directors new in post"
    assert story.summary == "One-to-one coaching, six sessions."
    assert [d.date for d in story.dates] == [date(2026, 9, 30)]
    # Removing every key date and programme is an edit too.
    web.store.edit_story(sid, by=EDITOR, ctx=web.herald.routing, now=web.clock.now(),
                         dates=[], programmes=[])
    story = web.store.get_story(sid)
    assert story.dates == () and not [t for t in story.tags
                                      if t.group is TagGroup.PROGRAMME]


@pytest.mark.slow
def test_the_cli_edits_a_story_and_prints_its_history(tmp_path: Path) -> None:
    from tests.test_cli import flat, herald, json_out, write_workspace

    config = write_workspace(tmp_path)
    herald(tmp_path, "run", "--once", "--config", config)
    story = json_out(herald(tmp_path, "stories", "--json", "--config", config))[0]
    sid = str(story["id"])
    said = herald(tmp_path, "stories", "edit", sid, "--title", "A better title", "--date",
                  "event:2026-09-24:09:30:Preston", "--by", "kim@example.org",
                  "--config", config).stdout
    assert f"story {sid} changed" in said
    again = json_out(herald(tmp_path, "stories", "--json", "--config", config))
    edited = next(s for s in again if str(s["id"]) == sid)
    assert edited["title"] == "A better title"
    assert [(d["what"], d["at_time"], d["place"]) for d in edited["dates"]] == [
        ("event", "09:30", "Preston")]
    shown = flat(herald(tmp_path, "stories", "history", sid, "--config", config).stdout)
    assert "kim@example.org: title:" in shown and "A better title" in shown
    rows = json_out(herald(tmp_path, "stories", "history", sid, "--json", "--config", config))
    assert {r["field"] for r in rows} == {"title", "dates"}
    bad = herald(tmp_path, "stories", "edit", sid, "--date", "party:2026-09-24",
                 "--config", config, code=None)
    assert bad.returncode != 0 and "--date 1" in bad.stderr and "Traceback" not in bad.stderr


def test_0009_adds_the_edit_tables_runs_again_and_goes_back(db_url: str) -> None:
    from sqlalchemy import inspect, text

    from bot.store import Store
    from bot.store.migrate import downgrade, upgrade

    s = Store.open(db_url)
    try:
        upgrade(s.engine)
        names = set(inspect(s.engine).get_table_names())
        assert {"story_overrides", "story_edits", "sent_edits"} <= names
        columns = {c["name"] for c in inspect(s.engine).get_columns("deliveries")}
        assert {"correction", "permalink"} <= columns
        downgrade(s.engine, "0008")
        names = set(inspect(s.engine).get_table_names())
        assert not {"story_overrides", "story_edits", "sent_edits"} & names
        columns = {c["name"] for c in inspect(s.engine).get_columns("deliveries")}
        assert not {"correction", "permalink"} & columns
        # Half done before (a crash between steps): it runs again to the end.
        with s.engine.begin() as conn:
            conn.execute(text("ALTER TABLE deliveries ADD COLUMN correction TEXT"))
        upgrade(s.engine)
        assert "story_edits" in inspect(s.engine).get_table_names()
    finally:
        s.close()
