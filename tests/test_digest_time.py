"""The digest knows time (issue #17): each story's key date beside its title with the days
left, passed deadlines and events marked ("Closed", "Took place") or left out by
``[digest] passed``, and the two sections that lead, "Closing soon" (within
``[digest] closing_soon``, only of stories the digest may remind) and "Opening soon".
Today is always given (or comes from a FixedClock), in ``[digest] timezone``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.config import HeraldConfig, parse_config
from bot.digest import (
    DigestContent,
    DigestJob,
    DigestPool,
    build_digest,
    period_from_start,
    reminder_allowed,
)
from bot.digest_time import days_left, key_date_text, passed_mark
from bot.errors import ConfigError
from bot.model import KeyDate, Story, Tag, TagGroup
from bot.store import Subscriber
from tests.builders import item
from tests.test_digest import (
    DOMAIN_ORDER,
    II,
    LABELS,
    LC,
    LONDON,
    WEEKLY,
    MakeHerald,
    Markup,
    bodies,
    heralds,
    render,
    utc,
)
from tests.web_helpers import EDITOR, Web

__all__ = ["heralds"]  # the fixture shared with tests/test_digest.py

#: Tuesday 15 December 2026; the period is the week of Monday 7 December.
TODAY = date(2026, 12, 15)
DEC7 = period_from_start(date(2026, 12, 7), WEEKLY, LONDON)
SEEN = utc(2026, 12, 9, 10)
EVIL = "<script>alert(1)</script>"


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def dated(n: int, *dates: tuple[str, int], domains: tuple[str, ...] = (LC,),
          kind: str = "news", title: str | None = None, reminders: bool = True,
          seen: datetime = SEEN) -> Story:
    """Story ``n`` with dates given as (what, days from TODAY)."""
    tags = (Tag(TagGroup.KIND, kind, "test"), *(Tag(TagGroup.DOMAIN, d, "test")
                                                for d in domains))
    return Story(id=n, title=title or f"Story {n}", summary=f"About story {n}.",
                 url=f"https://academy.example.org/news/{n}", kind=kind, tags=tags,
                 dates=tuple(KeyDate(w, day(o)) for w, o in dates), items=(),
                 first_seen=seen, updated_at=seen, reminders=reminders)


def config(**digest: Any) -> HeraldConfig:
    reminders = digest.pop("reminders", None)
    data: dict[str, Any] = {"digest": digest}
    if reminders is not None:
        data["reminders"] = reminders
    return parse_config(data, environ={}).config


def build(stories: list[Story] | DigestPool, domains: tuple[str, ...] | None = None,
          kinds: tuple[str, ...] | None = None, cfg: HeraldConfig | None = None,
          today: date = TODAY) -> DigestContent | None:
    return build_digest(domains, stories, DEC7, today, LABELS, DOMAIN_ORDER, kinds,
                        config=cfg)


def shown(content: DigestContent | None) -> dict[str, tuple[str, str]]:
    """Each story's title -> (key date line, mark)."""
    assert content is not None
    return {s.title: (s.key_date, s.mark) for g in content.groups for s in g.stories}


# ===================================================================== the key date

@pytest.mark.parametrize(("what", "offset", "line"), [
    ("applications-close", 0, "📅 Applications close Tue 15 Dec — today"),
    ("applications-close", 1, "📅 Applications close Wed 16 Dec — tomorrow"),
    ("applications-close", 3, "📅 Applications close Fri 18 Dec — 3 days left"),
    ("deadline", 2, "📅 Deadline Thu 17 Dec — 2 days left"),
    ("applications-close", 14, "📅 Applications close Tue 29 Dec — 14 days left"),
    ("applications-close", 15, "📅 Applications close Wed 30 Dec"),  # beyond: no count
    ("applications-close", 20, "📅 Applications close Mon 4 Jan 2027"),
    ("event", 3, "📅 Event Fri 18 Dec — in 3 days"),
    ("event", 0, "📅 Event Tue 15 Dec — today"),
    ("applications-open", 1, "📅 Applications open Wed 16 Dec — tomorrow"),
    ("applications-close", -1, "📅 Applications closed Mon 14 Dec"),  # gone: no count
])
def test_the_key_date_reads_with_its_days_left(what: str, offset: int, line: str) -> None:
    assert key_date_text(dated(1, (what, offset)), TODAY) == line


def test_the_days_left_count_follows_the_closing_soon_window() -> None:
    story = dated(1, ("deadline", 8))
    assert key_date_text(story, TODAY, timedelta(days=7)) == "📅 Deadline Wed 23 Dec"
    assert key_date_text(story, TODAY, timedelta(days=8)) == \
        "📅 Deadline Wed 23 Dec — 8 days left"
    content = build([story], cfg=config(closing_soon="7d"))
    assert shown(content) == {"Story 1": ("📅 Deadline Wed 23 Dec", "")}
    assert days_left(KeyDate("deadline", day(-1)), TODAY) == ""


def test_the_key_date_sits_beside_the_title_in_html_and_text() -> None:
    content = build([dated(1, ("applications-close", 3), title="Mary Seacole Programme")])
    assert content is not None
    rendered = render(content)
    html = rendered.html
    title = html.index(">Mary Seacole Programme</a></h3>")
    key = html.index("📅 Applications close Fri 18 Dec — 3 days left</p>")
    assert title < key < html.index("About story 1.")
    lines = rendered.text.splitlines()
    at = lines.index("* Mary Seacole Programme")
    assert lines[at + 1] == "  📅 Applications close Fri 18 Dec — 3 days left"


# ===================================================================== passed stories

PASSED = [
    dated(1, ("applications-close", -1)),
    dated(2, ("deadline", -5), ("applications-open", -20)),
    dated(3, ("event", -2)),
    dated(4, ("applications-open", -3)),  # applications opened: nothing closed
    dated(5),  # no dates
    dated(6, ("applications-close", 2)),
]


def test_a_passed_deadline_or_event_is_marked_beside_the_title() -> None:
    content = build(PASSED)
    assert shown(content) == {
        "Story 1": ("📅 Applications closed Mon 14 Dec", "Closed"),
        "Story 2": ("📅 Deadline passed Thu 10 Dec", "Closed"),
        "Story 3": ("📅 Event was on Sun 13 Dec", "Took place"),
        "Story 4": ("📅 Applications opened Sat 12 Dec", ""),
        "Story 5": ("", ""),
        "Story 6": ("📅 Applications close Thu 17 Dec — 2 days left", ""),
    }
    assert content is not None
    rendered = render(content)
    # In words beside the title (not colour alone), in the heading itself.
    headings = [" ".join(h.split()) for h in
                (Markup(m).text for m in re.findall(r"<h3.*?</h3>", rendered.html, re.S))]
    assert headings == ["Story 1 Closed", "Story 2 Closed", "Story 3 Took place", "Story 4",
                        "Story 5", "Story 6"]
    assert re.search(r'<strong class="mark"[^>]*>Closed</strong></h3>', rendered.html)
    lines = rendered.text.splitlines()
    assert "* Story 1 [Closed]" in lines and "* Story 3 [Took place]" in lines
    assert "* Story 4" in lines and "* Story 6" in lines


def test_a_closed_story_gets_the_neutral_button_not_its_kinds() -> None:
    # A cohort whose applications closed does not invite to "Apply"; one still open does;
    # an event that took place does not offer to "Book your place".
    content = build([dated(1, ("applications-close", -1), kind="cohort-opening",
                           title="Closed cohort"),
                     dated(2, ("applications-close", 3), kind="cohort-opening",
                           title="Open cohort"),
                     dated(3, ("event", -2), kind="event", title="Past event")])
    assert content is not None
    rendered = render(content)
    buttons = re.findall(r'<a class="button" href="([^"]+)"[^>]*>([^<]*)</a>', rendered.html)
    assert buttons == [("https://academy.example.org/news/1", "Read more"),
                       ("https://academy.example.org/news/2", "Apply"),
                       ("https://academy.example.org/news/3", "Read more")]
    text = rendered.text
    assert "Read more: https://academy.example.org/news/1" in text
    assert "Apply: https://academy.example.org/news/2" in text
    assert "Read more: https://academy.example.org/news/3" in text
    assert "Apply: https://academy.example.org/news/1" not in text


def test_applications_closed_with_an_event_to_come_do_not_invite_to_apply() -> None:
    """Found from outside: a cohort whose applications had closed but whose information
    event was next month was not "Closed" (a date is still to come) and still said Apply."""
    content = build([dated(1, ("applications-close", -2), ("event", 20),
                           kind="cohort-opening", title="Stepping Up")])
    assert content is not None
    rendered = render(content)
    buttons = re.findall(r'<a class="button" href="([^"]+)"[^>]*>([^<]*)</a>', rendered.html)
    assert buttons == [("https://academy.example.org/news/1", "Read more")]
    assert shown(content)["Stepping Up"][1] == ""  # not marked: the event is to come


def test_passed_stories_are_left_out_when_configured() -> None:
    content = build(PASSED, cfg=config(passed="omit"))
    assert sorted(shown(content)) == ["Story 4", "Story 5", "Story 6"]
    assert content is not None and content.story_count == 3
    # Nothing left but passed stories: no email, as with nothing new.
    assert build(PASSED[:3], cfg=config(passed="omit")) is None
    assert build(PASSED[:3], cfg=config(passed="mark")) is not None


def test_applications_closed_but_the_event_to_come_is_not_closed() -> None:
    story = dated(1, ("applications-close", -2), ("event", 5), kind="event")
    assert passed_mark(story, TODAY) == ""
    for cfg in (config(passed="mark"), config(passed="omit")):
        content = build([story], cfg=cfg)
        assert shown(content) == {"Story 1": ("📅 Event Sun 20 Dec — in 5 days", "")}
        assert content is not None
        assert [(e.day, e.what) for e in content.opening_soon] == [(day(5), "Event")]
        assert content.closing_soon == ()
    # Once the event is gone too, it took place.
    assert passed_mark(story, day(6)) == "Took place"
    # A cohort: its key date is the closing while one is to come, then the event.
    cohort = dated(2, ("applications-close", 3), ("event", 10), kind="cohort-opening")
    assert key_date_text(cohort, TODAY) == "📅 Applications close Fri 18 Dec — 3 days left"
    assert key_date_text(cohort, day(4)) == "📅 Event Fri 25 Dec — in 6 days"
    assert passed_mark(cohort, day(4)) == ""


# ===================================================================== Closing soon

def pool() -> DigestPool:
    """This week's story 1 and older released stories with dates (the gate's choice)."""
    old = utc(2026, 11, 20, 9)
    return DigestPool((
        dated(1, ("applications-close", 14)),
        dated(2, ("deadline", 3), seen=old),
        dated(3, ("applications-close", 0), seen=old, title="Zeta"),
        dated(4, ("applications-close", 0), seen=old, title="Alpha"),
        dated(5, ("applications-close", 15), seen=old),
        dated(6, ("applications-close", -1), seen=old),
        dated(7, ("applications-open", 2), ("event", 1), seen=old),
        dated(8, ("deadline", 1), domains=(II,), seen=old),
        dated(9, ("deadline", 2), kind="event", seen=old),
    ), frozenset({1}))


def closing(content: DigestContent | None) -> list[tuple[date, str, str]]:
    assert content is not None
    return [(e.day, e.left, e.title) for e in content.closing_soon]


def test_closing_soon_lists_closings_and_deadlines_within_the_window_soonest_first() -> None:
    content = build(pool())
    assert closing(content) == [
        (TODAY, "today", "Alpha"), (TODAY, "today", "Zeta"),
        (day(1), "tomorrow", "Story 8"), (day(2), "2 days left", "Story 9"),
        (day(3), "3 days left", "Story 2"), (day(14), "14 days left", "Story 1")]
    assert content is not None
    # Opening soon: applications opening and events, never a closing.
    assert [(e.day, e.what, e.title) for e in content.opening_soon] == [
        (day(1), "Event", "Story 7"), (day(2), "Applications open", "Story 7")]
    assert closing(build(pool(), cfg=config(closing_soon="2d"))) == [
        (TODAY, "today", "Alpha"), (TODAY, "today", "Zeta"),
        (day(1), "tomorrow", "Story 8"), (day(2), "2 days left", "Story 9")]
    # Only from the stories the gate let into the pool: one not in it is never listed.
    outside = replace(pool(), stories=pool().stories[:1])
    assert closing(build(outside)) == [(day(14), "14 days left", "Story 1")]


def test_closing_soon_follows_the_subscribers_domains_and_kinds() -> None:
    assert [t for _d, _l, t in closing(build(pool(), domains=(LC,)))] == [
        "Alpha", "Zeta", "Story 9", "Story 2", "Story 1"]
    with_ii = DigestPool((*pool().stories, dated(10, domains=(II,))), frozenset({1, 10}))
    assert [t for _d, _l, t in closing(build(with_ii, domains=(II,)))] == ["Story 8"]
    assert [t for _d, _l, t in closing(build(
        DigestPool(pool().stories, frozenset({1, 9})), kinds=("event",)))] == ["Story 9"]


def test_a_story_with_reminders_off_is_not_in_closing_soon() -> None:
    off = dated(1, ("applications-close", 3), ("event", 4), reminders=False)
    on = dated(2, ("deadline", 5))
    cfg = HeraldConfig()
    assert not reminder_allowed(off, cfg) and reminder_allowed(on, cfg)
    content = build([off, on])
    assert closing(content) == [(day(5), "5 days left", "Story 2")]
    # Still in the news with its key date, and its event still in Opening soon.
    assert shown(content)["Story 1"] == ("📅 Applications close Fri 18 Dec — 3 days left", "")
    assert content is not None and [e.title for e in content.opening_soon] == ["Story 1"]


def test_no_closing_soon_when_reminders_are_disabled() -> None:
    cfg = config(reminders={"enabled": False})
    assert not reminder_allowed(dated(1), cfg)
    content = build(pool(), cfg=cfg)
    assert content is not None and content.closing_soon == ()
    assert "Closing soon" not in render(content).html
    assert "CLOSING SOON" not in render(content).text
    # The key date beside the title keeps its days left: it is the story, not a reminder.
    assert shown(content)["Story 1"] == ("📅 Applications close Tue 29 Dec — 14 days left", "")


def test_a_route_to_the_digest_without_reminders_keeps_its_stories_out_of_closing_soon(
        ) -> None:
    """The route switch (``[[routes]] reminders = false``) holds for the digest too; a
    story comms approved is routed by nobody, so the route does not decide it."""
    data: dict[str, Any] = {"targets": [{"name": "files", "type": "file"}],
                            "routes": [{"to": ["digest"], "domains": [LC],
                                        "reminders": False},
                                       {"to": ["digest", "files"], "kinds": ["event"]}]}
    cfg = parse_config(data, environ={}).config
    quiet = dated(1, ("deadline", 3))
    event = dated(2, ("deadline", 3), kind="event")  # another route sends it with reminders
    approved = replace(dated(3, ("deadline", 3)), targets=("digest",))
    assert not reminder_allowed(quiet, cfg)
    assert reminder_allowed(event, cfg) and reminder_allowed(approved, cfg)
    content = build([quiet, event, approved], cfg=cfg)
    assert [title for _day, _left, title in closing(content)] == ["Story 2", "Story 3"]


def test_nothing_new_but_something_closing_soon_sends_nothing() -> None:
    assert build(DigestPool(pool().stories, frozenset())) is None


# ===================================================================== rendering

def test_closing_soon_leads_in_the_html_and_escapes_a_hostile_title() -> None:
    stories = [dated(1, ("applications-close", 3), title=f"Mary {EVIL} Seacole"),
               dated(2, ("event", -1), title=f"Old {EVIL} event"),
               dated(3, ("event", 6), domains=(), title="Workshop")]
    content = build(stories)
    assert content is not None
    html = render(content).html
    headings = re.findall(r"<h2[^>]*>([^<]*)</h2>", html)
    assert headings == ["Closing soon", "Opening soon", LABELS[LC], "Other news"]
    box = html[html.index("Closing soon"):html.index("Opening soon")]
    assert "Fri 18 Dec</strong> — 3 days left:" in box
    assert "Mary &lt;script&gt;alert(1)&lt;/script&gt; Seacole</a>" in box
    assert EVIL not in html
    assert "Old &lt;script&gt;alert(1)&lt;/script&gt; event</a>" in html
    markup = Markup(html)
    assert {tag for tag, _ in markup.elements} <= {
        "html", "head", "meta", "title", "body", "div", "h1", "h2", "h3", "p", "strong",
        "a", "br"}
    assert f"Mary {EVIL} Seacole" in markup.text


def test_the_text_version_has_closing_soon_first_with_days_left() -> None:
    stories = [dated(1, ("applications-close", 3), title="Mary Seacole Programme"),
               dated(2, ("event", 6), title=f"Workshop {EVIL}"),
               dated(3, ("deadline", -3), title="Old vacancy")]
    content = build(stories)
    assert content is not None
    lines = render(content).text.splitlines()
    at = lines.index("* Fri 18 Dec — 3 days left: Mary Seacole Programme")
    assert lines[at + 1] == "  https://academy.example.org/news/1"
    assert lines.index("CLOSING SOON") < at < lines.index("OPENING SOON") < lines.index(
        LABELS[LC].upper())
    assert f"* Mon 21 Dec - Event: Workshop {EVIL}" in lines
    assert "* Old vacancy [Closed]" in lines
    assert "  📅 Deadline passed Sat 12 Dec" in lines


# ===================================================================== configuration

def test_the_config_keys_and_their_limits() -> None:
    cfg = HeraldConfig().digest
    assert (cfg.passed, cfg.closing_soon) == ("mark", timedelta(days=14))
    assert config(passed="omit", closing_soon="7d").digest.closing_soon == timedelta(days=7)
    for bad in ({"passed": "hide"}, {"closing_soon": "0d"}, {"closing_soon": "400d"}):
        with pytest.raises(ConfigError):
            config(**bad)


# ===================================================================== end to end

def test_the_sent_digest_counts_days_in_the_digest_timezone(tmp_path: Path,
                                                             heralds: MakeHerald) -> None:
    # Monday 14 December 12:00 UTC is already Tuesday 15 December 01:00 in Auckland.
    now = utc(2026, 12, 14, 12, 0)
    herald = heralds(tmp_path, FixedClock(now), digest={"timezone": "Pacific/Auckland"})
    herald.store.ingest([item(1, title="Mary Seacole Programme", text="Apply now.",
                              published_at=now, collected_at=now)], herald.routing, now=now)
    [story] = herald.store.list_stories()
    assert story.id is not None
    herald.store.edit_story(story.id, by="test", ctx=herald.routing, now=now,
                            dates=[KeyDate("applications-close", date(2026, 12, 18))])
    sub = Subscriber(0, "reader@example.org", None, "weekly", now, None, now, None)
    job = DigestJob(herald)
    period = period_from_start(date(2026, 12, 14), "mon 08:00", "Pacific/Auckland")
    composed = job.compose(sub, [herald.store.list_stories()[0]], period, now)
    assert composed is not None
    plain, html = bodies(composed[0])
    assert "* Fri 18 Dec — 3 days left: Mary Seacole Programme" in plain.splitlines()
    assert "📅 Applications close Fri 18 Dec — 3 days left" in html


def test_the_digest_page_preview_shows_days_left_and_a_passed_deadline(web: Web) -> None:
    # Thursday 20 August 2026 (the web clock): one cohort closes Monday, one closed Tuesday.
    now = web.clock.now()
    for n, title in ((1, "Cohort closing soon"), (2, "Cohort already closed")):
        web.store.ingest([item(n, title=title, text="Join the new cohort.", published_at=now,
                               collected_at=now)], web.herald.routing, now=now)
    ids = {s.title: s.id for s in web.store.list_stories()}
    for title, when in (("Cohort closing soon", date(2026, 8, 24)),
                        ("Cohort already closed", date(2026, 8, 18))):
        web.store.edit_story(ids[title], by="test", ctx=web.herald.routing, now=now,
                             dates=[KeyDate("applications-close", when)])
    web.store.add_subscriber("a@example.org", domains=None, now=now)
    editor = web.staff(EDITOR)
    [key] = re.findall(r'name="group" value="([0-9a-f]+)"', editor.get("/digest").text)
    frame = editor.get(f"/digest/preview/{key}").text
    assert "Mon 24 Aug</strong> — 4 days left:" in frame
    assert "📅 Applications close Mon 24 Aug — 4 days left" in frame
    assert re.search(r'Cohort already closed</a> <strong class="mark"[^>]*>Closed</strong>',
                     frame)
    assert "📅 Applications closed Tue 18 Aug" in frame


def test_the_digest_page_counts_without_the_stories_left_out(tmp_path: Path,
                                                             clock: FixedClock) -> None:
    from tests.web_helpers import make_web

    web = make_web(tmp_path, clock, digest={"passed": "omit"})
    try:
        now = web.clock.now()
        for n in (1, 2):
            web.store.ingest([item(n, published_at=now, collected_at=now)],
                             web.herald.routing, now=now)
        for story in web.store.list_stories():
            when = date(2026, 8, 24) if story.url and story.url.endswith("/1") else \
                date(2026, 8, 18)
            web.store.edit_story(story.id, by="test", ctx=web.herald.routing, now=now,
                                 dates=[KeyDate("applications-close", when)])
        web.store.add_subscriber("a@example.org", domains=None, now=now)
        page = web.staff(EDITOR).get("/digest").text
        assert "1 subscriber · 1 story" in page, page
    finally:
        web.close()
