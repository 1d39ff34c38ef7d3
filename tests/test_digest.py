"""The weekly digest email, end to end with real parts.

Periods (and the clock changes), what goes into one subscriber's digest, the HTML and
plain-text rendering with hostile feed text, the list headers of RFC 2369 / RFC 8058,
sending over a real SMTP server on loopback (aiosmtpd, spoken to by the real smtplib,
with STARTTLS and AUTH from a trustme CA), exactly-once per subscriber and period
across re-runs, refusals and a stop mid-batch, the file output, and the command line.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Herald
from bot.clock import FixedClock
from bot.digest import (
    MAIL_POLICY,
    OPENING_SOON_MAX,
    DigestContent,
    DigestJob,
    Period,
    build_digest,
    last_complete_period,
    parse_period,
    period_from_start,
    render_digest,
)
from bot.errors import ConfigError, TransientSendError
from bot.model import KeyDate, Story, Tag, TagGroup
from bot.pipeline.tagging import load_taxonomy
from bot.store import Store, Subscriber
from bot.store.schema import digests as t_digests
from bot.tokens import Signer, TokenError
from channels.email import SmtpConnectionError, SmtpLoginRefused, SmtpSender, parse_smtp_url
from tests.builders import item, routing
from tests.conftest import CONFIG_DIR, make_settings
from tests.fakes.smtp_server import MAILBOX_BUSY, NO_SUCH_USER, FakeSmtp, running_smtp_server

LONDON = "Europe/London"
WEEKLY = "mon 08:00"
KEY = "digest-test-signing-key"
BASE = "https://herald.example.org"
SENDER = "Academy news <news@academy.example.org>"
SENDER_ADDR = "news@academy.example.org"

IE = "individual-effectiveness"
RC = "relationships-connectivity"
II = "innovation-improvement"
LC = "learning-capacity"

TAXONOMY = load_taxonomy(CONFIG_DIR / "taxonomy.toml")
LABELS = {r.slug: r.label for r in TAXONOMY.rules}
DOMAIN_ORDER = TAXONOMY.slugs("domain")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


#: Monday 17 August 2026 08:00 BST (07:00 UTC) to Monday 24 August 08:00 BST.
AUG17 = period_from_start(date(2026, 8, 17), WEEKLY, LONDON)
IN_PERIOD = utc(2026, 8, 19, 12, 0)
SENT_AT = utc(2026, 8, 24, 9, 0)  # Monday 10:00 BST, after the period ended
TODAY = date(2026, 8, 24)


# ===================================================================== 1. periods

@pytest.mark.parametrize(("now", "key"), [
    (utc(2026, 8, 24, 6, 59, 59), "2026-08-10"),  # Monday 07:59:59 BST: the week is not over
    (utc(2026, 8, 24, 7, 0), "2026-08-17"),  # 08:00:00 BST: it is
    (utc(2026, 8, 24, 7, 1), "2026-08-17"),
    (utc(2026, 8, 26, 12, 0), "2026-08-17"),  # midweek
    (utc(2026, 8, 30, 23, 30), "2026-08-17"),  # Monday 00:30 BST, a local day later than UTC
    (utc(2026, 8, 31, 6, 59), "2026-08-17"),
    (utc(2026, 8, 31, 7, 0), "2026-08-24"),
])
def test_last_complete_period_turns_over_at_monday_0800_london(now: datetime,
                                                               key: str) -> None:
    period = last_complete_period(now, WEEKLY, LONDON)
    assert period.key == key
    start = date.fromisoformat(key)
    assert period.start == datetime(start.year, start.month, start.day, 7, 0, tzinfo=UTC)
    assert period.end == period.start + timedelta(days=7)
    assert period.end <= now < period.end + timedelta(days=7)


def test_the_period_across_the_end_of_summer_time_is_seven_local_days() -> None:
    # Clocks go back on Sunday 25 October 2026: the week starts at 08:00 BST (07:00 UTC)
    # and ends at 08:00 GMT (08:00 UTC), 7 days and 1 hour later in absolute time.
    period = period_from_start(date(2026, 10, 19), WEEKLY, LONDON)
    london = ZoneInfo(LONDON)
    start, end = period.start.astimezone(london), period.end.astimezone(london)
    assert (start.date(), start.hour, start.minute) == (date(2026, 10, 19), 8, 0)
    assert (end.date(), end.hour, end.minute) == (date(2026, 10, 26), 8, 0)
    assert period.start == utc(2026, 10, 19, 7, 0)
    assert period.end == utc(2026, 10, 26, 8, 0)
    assert period.end - period.start == timedelta(days=7, hours=1)
    assert period.label == "19–25 October 2026"

    # 07:30 UTC on the Monday after is 07:30 GMT: the week is not over yet, although it
    # would be if the summer offset were still applied.
    assert last_complete_period(utc(2026, 10, 26, 7, 30), WEEKLY, LONDON).key == "2026-10-12"
    assert last_complete_period(utc(2026, 10, 26, 8, 0), WEEKLY, LONDON) == period
    after = parse_period("current", WEEKLY, LONDON, utc(2026, 10, 26, 8, 0))
    assert after.key == "2026-10-26"
    assert after.start == period.end
    assert after.end - after.start == timedelta(days=7)


def test_the_period_across_the_start_of_summer_time_is_seven_local_days() -> None:
    # Clocks go forward on Sunday 28 March 2027.
    period = period_from_start(date(2027, 3, 22), WEEKLY, LONDON)
    assert period.start == utc(2027, 3, 22, 8, 0)
    assert period.end == utc(2027, 3, 29, 7, 0)
    assert period.end - period.start == timedelta(days=6, hours=23)


def test_consecutive_periods_meet_exactly_through_a_year_of_clock_changes() -> None:
    london = ZoneInfo(LONDON)
    periods = [period_from_start(date(2026, 8, 17) + timedelta(weeks=n), WEEKLY, LONDON)
               for n in range(60)]
    for before, after in pairwise(periods):
        assert before.end == after.start
    for period in periods:
        local = period.start.astimezone(london)
        assert (local.weekday(), local.hour, local.minute) == (0, 8, 0)
        assert period.key == local.date().isoformat()


def test_parse_period_last_current_and_a_start_date() -> None:
    now = utc(2026, 8, 26, 12, 0)  # a Wednesday
    last = parse_period("last", WEEKLY, LONDON, now)
    assert last.key == "2026-08-17"
    assert parse_period("", WEEKLY, LONDON, now) == last
    current = parse_period("current", WEEKLY, LONDON, now)
    assert current.key == "2026-08-24"
    assert current.start == last.end
    assert current.start <= now < current.end
    assert parse_period("2026-08-17", WEEKLY, LONDON, now) == last
    assert parse_period("2026-03-02", WEEKLY, LONDON, now).label == "2–8 March 2026"


def test_parse_period_refuses_a_date_that_is_not_the_schedule_weekday() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_period("2026-08-18", WEEKLY, LONDON, SENT_AT)
    message = str(caught.value)
    assert "2026-08-18" in message
    assert "weekday" in message
    assert "2026-08-24" in message  # the next day that would do


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "17/08/2026", "Last"])
def test_parse_period_refuses_anything_else_and_says_what_it_takes(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_period(text, WEEKLY, LONDON, SENT_AT)
    message = str(caught.value)
    assert "'last'" in message and "'current'" in message and "YYYY-MM-DD" in message


def test_periods_follow_another_schedule_and_zone() -> None:
    # Friday 17:30 in New York (EDT, UTC-4 in August): 21:30 UTC.
    schedule, zone = "fri 17:30", "America/New_York"
    assert last_complete_period(utc(2026, 8, 21, 21, 29), schedule, zone).key == "2026-08-07"
    period = last_complete_period(utc(2026, 8, 21, 21, 30), schedule, zone)
    assert period.key == "2026-08-14"
    assert period.start == utc(2026, 8, 14, 21, 30)
    assert period.label == "14–20 August 2026"
    with pytest.raises(ConfigError):
        parse_period("2026-08-17", schedule, zone, SENT_AT)


@pytest.mark.parametrize(("start", "label"), [
    (date(2026, 8, 17), "17–23 August 2026"),
    (date(2026, 8, 3), "3–9 August 2026"),
    (date(2026, 8, 31), "31 August – 6 September 2026"),
    (date(2026, 12, 28), "28 December 2026 – 3 January 2027"),
    (date(2026, 10, 19), "19–25 October 2026"),
])
def test_period_labels(start: date, label: str) -> None:
    period = period_from_start(start, WEEKLY, LONDON)
    assert period.label == label
    assert period.key == start.isoformat()


# ===================================================================== 2. building

def story(n: int, seen: datetime, *domains: str, dates: tuple[tuple[str, date], ...] = (),
          title: str | None = None, summary: str | None = None,
          url: str | None = "default") -> Story:
    tags = (Tag(TagGroup.KIND, "news", "test"),
            *(Tag(TagGroup.DOMAIN, d, "test") for d in domains))
    return Story(id=n, title=title or f"Story number {n}",
                 summary=summary if summary is not None else f"What story {n} is about.",
                 url=f"https://academy.example.org/news/{n}" if url == "default" else url,
                 kind="news", tags=tags, dates=tuple(KeyDate(w, d) for w, d in dates),
                 items=(), first_seen=seen, updated_at=seen)


def layout(content: DigestContent | None) -> list[tuple[str, list[int]]]:
    assert content is not None
    return [(g.slug, [s.id for s in g.stories if s.id is not None]) for g in content.groups]


def build(domains: tuple[str, ...] | None, stories: list[Story],
          period: Period = AUG17, today: date = TODAY) -> DigestContent | None:
    return build_digest(domains, stories, period, today, LABELS, DOMAIN_ORDER)


WEEK = [
    story(1, utc(2026, 8, 18, 10), LC),
    story(2, utc(2026, 8, 19, 9), LC, IE),  # tags not in taxonomy order
    story(3, utc(2026, 8, 20, 9)),  # no domain
    story(4, AUG17.start, RC),  # the first instant of the period
    story(5, AUG17.end, LC),  # the first instant of the next period
    story(6, utc(2026, 8, 16, 12), LC),  # the week before
    story(7, utc(2026, 8, 21, 16), II),
    story(8, utc(2026, 8, 18, 8), LC),  # earlier than story 1
]


def test_every_domain_subscriber_gets_the_week_grouped_in_taxonomy_order() -> None:
    content = build(None, WEEK)
    assert layout(content) == [(IE, [2]), (RC, [4]), (II, [7]), (LC, [8, 1]), ("", [3])]
    assert content is not None
    assert [g.label for g in content.groups] == [
        LABELS[IE], LABELS[RC], LABELS[II], LABELS[LC], "Other news"]
    assert content.period == AUG17
    assert content.story_count == 6


def test_a_subscriber_gets_only_their_domains_and_no_other_news() -> None:
    assert layout(build((LC,), WEEK)) == [(LC, [8, 1, 2])]
    assert layout(build((RC,), WEEK)) == [(RC, [4])]
    # Chosen in another order: the groups still follow the taxonomy, and story 2 (both
    # domains) sits under the first of them only.
    assert layout(build((LC, IE), WEEK)) == [(IE, [2]), (LC, [8, 1])]
    assert layout(build((LC, II), WEEK)) == [(II, [7]), (LC, [8, 1, 2])]


def test_nothing_new_for_the_subscriber_gives_no_digest() -> None:
    older = [story(6, utc(2026, 8, 16, 12), LC,
                   dates=(("applications-close", date(2026, 9, 30)),)),
             story(3, utc(2026, 8, 20, 9))]
    # Only an old story with a date still ahead, and a story with no domain: nothing
    # new in learning, so no email, however much "Opening soon" there would be.
    assert build((LC,), older) is None
    assert layout(build(None, older)) == [("", [3])]
    assert build(None, []) is None
    assert build(None, [story(5, AUG17.end, LC)]) is None


def test_stories_read_back_from_the_store(store: Store) -> None:
    ctx = routing()

    def add(n: int, when: datetime, title: str, text: str) -> None:
        store.ingest([item(n, title=title, text=text, published_at=when, collected_at=when)],
                     ctx, now=when)

    add(1, utc(2026, 8, 16, 9), "Applications open for the autumn leadership cohort",
        "Join the new cohort with a masterclass and webinars. "
        "Applications close on 30 September 2026.")
    add(2, utc(2026, 8, 18, 10), "Webinar series and masterclass for new leaders",
        "Join our webinar series and a masterclass on Thursdays.")
    add(3, utc(2026, 8, 19, 11), "Executive coaching and mentoring for senior leaders",
        "Book coaching sessions and mentoring to build resilience.")
    add(4, utc(2026, 8, 20, 12), "Office moves to a new building",
        "The academy office moves to Manchester on Friday.")
    add(5, utc(2026, 8, 24, 8), "Quality improvement award",
        "A quality improvement method using PDSA cycles.")
    stories = {s.title: s for s in store.list_stories()}
    assert len(stories) == 5
    by_title = {title: s.id for title, s in stories.items()}
    cohort = stories["Applications open for the autumn leadership cohort"]
    assert LC in cohort.domains
    assert KeyDate("applications-close", date(2026, 9, 30)) in {
        KeyDate(d.what, d.date) for d in cohort.dates}
    assert stories["Office moves to a new building"].domains == ()

    content = build(None, list(stories.values()))
    assert layout(content) == [
        (IE, [by_title["Executive coaching and mentoring for senior leaders"]]),
        (LC, [by_title["Webinar series and masterclass for new leaders"]]),
        ("", [by_title["Office moves to a new building"]])]
    assert content is not None
    # The cohort story is from the week before, but its closing date is still ahead: in
    # "Closing soon" once it is within two weeks (issue #17: closing dates left "Opening
    # soon" for "Closing soon").
    assert content.opening_soon == content.closing_soon == ()
    later = build(None, list(stories.values()), today=date(2026, 9, 20))
    assert later is not None
    assert [(e.day, e.what, e.title, e.left) for e in later.closing_soon] == [
        (date(2026, 9, 30), "Applications close", cohort.title, "10 days left")]
    assert layout(build((LC,), list(stories.values()))) == [
        (LC, [by_title["Webinar series and masterclass for new leaders"]])]
    assert build((II,), list(stories.values())) is None


DATED = [
    story(1, utc(2026, 8, 18, 10), LC, dates=(("applications-close", date(2026, 9, 30)),
                                              ("event", date(2026, 8, 10)))),
    story(2, utc(2026, 8, 19, 9), LC, IE, dates=(("applications-open", TODAY),)),
    story(6, utc(2026, 8, 16, 12), LC, dates=(("deadline", date(2026, 9, 7)),)),
    story(7, utc(2026, 8, 21, 16), II, dates=(("event", date(2026, 9, 1)),)),
    story(3, utc(2026, 8, 20, 9), dates=(("event", date(2026, 9, 2)),
                                         ("event", date(2026, 8, 23)))),
]


def test_opening_soon_lists_dates_from_today_on_in_order_for_the_subscriber() -> None:
    # Issue #17: closing dates moved to "Closing soon" (within two weeks: the deadline on
    # 7 Sep); the one on 30 Sep is in neither until it comes within two weeks.
    content = build((LC,), DATED)
    assert content is not None
    assert [(e.day, e.what, e.title) for e in content.opening_soon] == [
        (TODAY, "Applications open", "Story number 2")]
    assert [(e.day, e.what, e.title, e.left) for e in content.closing_soon] == [
        (date(2026, 9, 7), "Deadline", "Story number 6", "14 days left")]
    assert content.opening_soon[0].when == "Mon 24 Aug"
    assert content.opening_soon[0].url == "https://academy.example.org/news/2"

    everything = build(None, DATED)
    assert everything is not None
    assert [e.day for e in everything.opening_soon] == [
        TODAY, date(2026, 9, 1), date(2026, 9, 2)]
    assert [e.day for e in everything.closing_soon] == [date(2026, 9, 7)]


def test_opening_soon_is_capped() -> None:
    many = [story(n, utc(2026, 8, 18, 10), LC,
                  dates=(("event", TODAY + timedelta(days=30 - n)),)) for n in range(1, 16)]
    content = build(None, many)
    assert content is not None
    assert len(content.opening_soon) == OPENING_SOON_MAX
    days = [e.day for e in content.opening_soon]
    assert days == sorted(days)
    assert days[0] == TODAY + timedelta(days=15)


def test_only_http_links_reach_the_digest() -> None:
    stories = [story(1, IN_PERIOD, LC, url="javascript:alert(1)",
                     dates=(("applications-close", date(2026, 9, 3)),
                            ("event", date(2026, 9, 30)))),
               story(2, IN_PERIOD, LC, url="data:text/html,<b>x</b>"),
               story(3, IN_PERIOD, LC, url=None)]
    content = build(None, stories)
    assert content is not None
    assert [s.url for g in content.groups for s in g.stories] == [None, None, None]
    assert [e.url for e in content.opening_soon] == [None]
    assert [e.url for e in content.closing_soon] == [None]
    rendered = render(content)
    assert "javascript:" not in rendered.html
    assert "data:" not in rendered.html


# ===================================================================== 3. rendering

HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
           '"><a href=javascript:alert(1)>')


class Markup(HTMLParser):
    """Every element and attribute of an HTML document, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def render(content: DigestContent) -> Any:
    return render_digest(content, list_name="Academy news", domains_label="every domain",
                         unsubscribe_url=f"{BASE}/unsubscribe/tok",
                         preferences_url=f"{BASE}/preferences/tok")


def hostile_week() -> list[Story]:
    return [
        story(1, IN_PERIOD, LC, title=f"Cohort {HOSTILE[0]} opens", summary=HOSTILE[1],
              dates=(("applications-close", date(2026, 9, 3)),)),
        story(2, IN_PERIOD, IE, title=HOSTILE[2], summary=f"Coaching & {HOSTILE[0]}"),
        story(3, IN_PERIOD, title=HOSTILE[1], summary=HOSTILE[2],
              url='https://academy.example.org/x"onmouseover="alert(1)'),
    ]


def test_html_has_inlined_styles_and_opening_soon_first() -> None:
    content = build(None, DATED)
    assert content is not None
    html = render(content).html
    assert "<style" not in html.lower()
    markup = Markup(html)
    assert not markup.tags("style")
    assert html.count('style="') >= 10
    for name in ("body", "h1", "h2", "h3"):
        assert markup.tags(name), name
        assert all(attrs.get("style") for attrs in markup.tags(name)), name
    headings = re.findall(r"<h2[^>]*>([^<]*)</h2>", html)
    assert headings == ["Closing soon", "Opening soon", LABELS[IE], LABELS[II], LABELS[LC],
                        "Other news"]
    assert html.index("Opening soon") < html.index(f">{LABELS[IE]}</h2>")
    closing = html[html.index("Closing soon"):html.index("Opening soon")]
    assert re.findall(r"<strong[^>]*>([^<]*)</strong>", closing) == ["Mon 7 Sep"]
    soon = html[html.index("Opening soon"):html.index(f">{LABELS[IE]}</h2>")]
    assert re.findall(r"<strong[^>]*>([^<]*)</strong>", soon) == [
        "Mon 24 Aug", "Tue 1 Sep", "Wed 2 Sep"]


def test_html_without_dates_ahead_has_no_opening_soon() -> None:
    content = build(None, WEEK)
    assert content is not None and content.opening_soon == ()
    assert "Opening soon" not in render(content).html
    assert "OPENING SOON" not in render(content).text



def test_opening_soon_shows_an_events_time_and_place_and_never_a_passed_deadline() -> None:
    when = utc(2026, 8, 18, 10)
    event = replace(story(1, when, LC), title="Coaching workshop", dates=(
        KeyDate("applications-close", TODAY - timedelta(days=1)),
        KeyDate("event", date(2026, 9, 24), at_time="09:30–13:00",
                place="the Brew House & <b>Bar</b>, Preston")))
    content = build(None, [event])
    assert content is not None
    assert [(e.day, e.what, e.at) for e in content.opening_soon] == [
        (date(2026, 9, 24), "Event", "09:30–13:00, the Brew House & <b>Bar</b>, Preston")]
    rendered = render(content)
    assert "Thu 24 Sep</strong>, 09:30–13:00, the Brew House &amp; &lt;b&gt;Bar&lt;/b&gt;, " \
        "Preston · Event:" in rendered.html
    assert "* Thu 24 Sep, 09:30–13:00, the Brew House & <b>Bar</b>, Preston - Event: " \
        "Coaching workshop" in rendered.text
    assert "Sun 23 Aug" not in rendered.html and "Sun 23 Aug" not in rendered.text

def test_hostile_feed_text_is_only_ever_text_in_the_html() -> None:
    content = build(None, hostile_week())
    assert content is not None
    html = render(content).html
    markup = Markup(html)
    allowed = {"html", "head", "meta", "title", "body", "div", "h1", "h2", "h3", "p",
               "strong", "a", "br"}
    assert {tag for tag, _ in markup.elements} <= allowed
    for tag, attrs in markup.elements:
        for name in attrs:
            assert not name.startswith("on"), (tag, attrs)
            assert name in ("lang", "charset", "name", "content", "style", "class", "href"), (
                tag, attrs)
    hrefs = [a["href"] for a in markup.tags("a")]
    assert all(h and h.startswith(("https://", "http://")) for h in hrefs), hrefs
    # Three stories (the title and the button each), one "Closing soon" entry, and the two
    # footer links: nothing more.
    assert len(hrefs) == 3 * 2 + 1 + 2
    assert 'https://academy.example.org/x"onmouseover="alert(1)' in hrefs
    for bad in HOSTILE:
        assert bad not in html
        assert bad in markup.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_plain_text_part_has_the_same_stories_one_per_line() -> None:
    content = build(None, DATED)
    assert content is not None
    rendered = render(content)
    lines = rendered.text.splitlines()
    for group in content.groups:
        assert group.label.upper() in lines
        for s in group.stories:
            assert f"* {s.title}" in lines
            assert f"  Read more: {s.url}" in lines
            assert f"  {s.summary}" in lines
    # Opening soon: one line per date with the link on the next line, never run together
    # with the next heading.
    assert "OPENING SOON" in lines
    entry = lines.index("* Mon 24 Aug - Applications open: Story number 2")
    assert lines[entry + 1] == "  https://academy.example.org/news/2"
    assert lines.index("OPENING SOON") < lines.index(LABELS[IE].upper())
    for line in lines:
        assert not re.search(r"\S(https?://)", line), line
    assert f"Unsubscribe: {BASE}/unsubscribe/tok" in lines
    assert rendered.text.count("Story number") == len(
        {s.id for g in content.groups for s in g.stories}) + len(content.opening_soon) + len(
        content.closing_soon)


def test_plain_text_keeps_hostile_text_as_written() -> None:
    content = build(None, hostile_week())
    assert content is not None
    text = render(content).text
    assert f"* {HOSTILE[2]}" in text.splitlines()
    assert f"  {HOSTILE[1]}" in text.splitlines()
    assert "&lt;" not in text


def test_subject_names_the_period() -> None:
    content = build(None, WEEK)
    assert content is not None
    rendered = render(content)
    assert rendered.subject == "Academy news: 17–23 August 2026"
    assert "17–23 August 2026" in Markup(rendered.html).text
    assert rendered.text.splitlines()[:2] == ["Academy news", "17–23 August 2026"]


# ===================================================================== Herald helpers

MakeHerald = Callable[..., Herald]

SAMPLE = [
    ("Webinar series and masterclass for new leaders",
     "Join our webinar series and a masterclass. Applications close on 3 September 2026."),
    ("Executive coaching and mentoring for senior leaders",
     "Book coaching sessions and mentoring to build resilience."),
    ("Community of practice meets in Preston",
     "Our community of practice brought integrated care system partners together."),
    ("Office moves to a new building", "The academy office moves to Manchester on Friday."),
]
LEARNER = "learner@example.org"  # learning only: gets the webinar story
EVERYONE = "everyone@example.org"  # every domain: gets all four
IMPROVER = "improver@example.org"  # improvement only: nothing new this week
COACHEE = "coachee@example.org"  # individual effectiveness: gets the coaching story


@pytest.fixture
def heralds() -> Iterator[MakeHerald]:
    """Builds prepared Heralds on tmp_path's config; closes them afterwards."""
    made: list[Herald] = []

    def make(tmp_path: Path, clock: FixedClock, *, smtp_url: str | None = None,
             db_url: str | None = None, digest: dict[str, Any] | None = None,
             sources: list[dict[str, Any]] | None = None) -> Herald:
        environ = {"HERALD_SECRET_KEY": KEY}
        if smtp_url:
            environ["SMTP_URL"] = smtp_url
        if db_url:
            environ["DATABASE_URL"] = db_url
        data: dict[str, Any] = {"digest": {"from": SENDER, "base_url": BASE,
                                           **(digest or {})}}
        if sources:
            data["sources"] = sources
        herald = Herald(make_settings(tmp_path, data, environ=environ), clock=clock)
        made.append(herald)
        herald.prepare()
        return herald

    yield make
    for herald in reversed(made):
        herald.close()


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with running_smtp_server() as fake:
        yield fake


def ingest_sample(herald: Herald) -> None:
    for n, (title, text) in enumerate(SAMPLE, start=1):
        when = IN_PERIOD + timedelta(hours=n)
        herald.store.ingest([item(n, title=title, text=text, published_at=when,
                                  collected_at=when)], herald.routing, now=when)


def subscribe(herald: Herald, *people: tuple[str, list[str] | None]) -> dict[str, Subscriber]:
    return {address: herald.store.add_subscriber(address, domains=domains, now=IN_PERIOD)
            for address, domains in people}


def digest_rows(herald: Herald, period: str = AUG17.key) -> dict[str, Any]:
    by_id = {s.id: s.email for s in herald.store.list_subscribers()}
    return {by_id[r.subscriber_id]: r for r in herald.store.list_digests(period)}


def next_try(herald: Herald, digest_id: int) -> datetime | None:
    with herald.store.engine.connect() as conn:
        return conn.execute(select(t_digests.c.next_attempt_at)
                            .where(t_digests.c.id == digest_id)).scalar_one()


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain",
                                                                      "text/html"]
    return plain.get_content(), html.get_content()


def raw_header_lines(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def check_list_headers(raw: bytes, sub: Subscriber, now: datetime) -> EmailMessage:
    """The headers every digest carries, checked on the bytes as they travel."""
    message = parse(raw)
    assert message["To"] == sub.email
    assert message["From"] == SENDER
    assert parsedate_to_datetime(message["Date"]) == now
    assert re.fullmatch(r"<[^<>@\s]+@academy\.example\.org>", message["Message-ID"])
    assert message["List-Id"] == "Academy news <digest.academy.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"

    lines = raw_header_lines(raw)
    unsub = [n for n, line in enumerate(lines) if line.startswith(b"List-Unsubscribe:")]
    assert len(unsub) == 1
    line = lines[unsub[0]]
    # On one line (not folded) and not RFC 2047-encoded, so clients read the links.
    assert b"=?" not in line
    assert not lines[unsub[0] + 1].startswith((b" ", b"\t"))
    found = re.fullmatch(rb"List-Unsubscribe: <(https?://[^<>\s]+)>, <(mailto:[^<>\s]+)>",
                         line)
    assert found, line
    url, mailto = found.group(1).decode(), found.group(2).decode()
    assert url.startswith(f"{BASE}/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    assert Signer(KEY).check("unsubscribe", token) == {"s": sub.id, "e": sub.email}
    with pytest.raises(TokenError):
        Signer(KEY).check("preferences", token)
    with pytest.raises(TokenError):
        Signer("another key").check("unsubscribe", token)
    assert mailto == f"mailto:{SENDER_ADDR}?subject=unsubscribe%20{token}"
    return message


# ===================================================================== 4. headers

def test_composed_message_headers(tmp_path: Path, heralds: MakeHerald) -> None:
    herald = heralds(tmp_path, FixedClock(SENT_AT))
    ingest_sample(herald)
    subs = subscribe(herald, (LEARNER, [LC]), (EVERYONE, None))
    job = DigestJob(herald)
    stories = job.stories_for(AUG17)
    ids = set()
    for sub in subs.values():
        composed = job.compose(sub, stories, AUG17, SENT_AT)
        assert composed is not None
        message, count = composed
        assert count >= 1
        parsed = check_list_headers(message.as_bytes(policy=MAIL_POLICY), sub, SENT_AT)
        assert parsed["Subject"] == "Academy news: 17–23 August 2026"
        ids.add(parsed["Message-ID"])
        # The same subscriber and period always get the same Message-ID.
        again = job.compose(sub, stories, AUG17, SENT_AT + timedelta(hours=1))
        assert again is not None and again[0]["Message-ID"] == parsed["Message-ID"]
    assert len(ids) == 2
    unsub_token = job.links(subs[LEARNER])[0].rsplit("/", 1)[1]
    prefs_token = job.links(subs[LEARNER])[1].rsplit("/", 1)[1]
    assert Signer(KEY).check("preferences", prefs_token) == {"s": subs[LEARNER].id,
                                                              "e": LEARNER}
    assert unsub_token != prefs_token


def test_a_feed_title_or_list_name_with_crlf_cannot_add_a_header(
        tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    injected = "\r\nBcc: victim@example.org"
    herald = heralds(tmp_path, FixedClock(SENT_AT),
                     smtp_url=smtp.url(query="starttls=off"),
                     digest={"list_name": f"Academy news{injected}\r\nX-Evil: 1"})
    when = IN_PERIOD
    herald.store.ingest([item(1, title=f"Webinar and masterclass{injected}",
                              text=f"A webinar and a masterclass.{injected}",
                              published_at=when, collected_at=when)],
                        herald.routing, now=when)
    sub = subscribe(herald, (LEARNER, [LC]))[LEARNER]
    job = DigestJob(herald)
    composed = job.compose(sub, job.stories_for(AUG17), AUG17, SENT_AT)
    assert composed is not None
    raw = composed[0].as_bytes(policy=MAIL_POLICY)
    parsed = parse(raw)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert parsed["Subject"].endswith(": 17–23 August 2026")
    assert "\n" not in parsed["List-Id"]
    names = [line.split(b":", 1)[0].lower() for line in raw_header_lines(raw)
             if line and not line.startswith((b" ", b"\t"))]
    assert b"bcc" not in names and b"x-evil" not in names

    stats = job.run(AUG17, SENT_AT)
    assert stats.sent == 1
    [received] = smtp.messages
    assert received.rcpt_tos == (LEARNER,)
    parsed = received.parsed()
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    plain, html = bodies(parsed)
    assert "Webinar and masterclass Bcc: victim@example.org" in plain
    assert "Bcc:" in Markup(html).text


# ===================================================================== 5. sending

def write_feed(folder: Path) -> Path:
    entries = "".join(f"""
    <item>
      <title>{title}</title>
      <link>https://academy.example.org/news/{n}</link>
      <guid isPermaLink="false">digest-sample-{n}</guid>
      <pubDate>Wed, 19 Aug 2026 0{n}:00:00 +0000</pubDate>
      <description>{text}</description>
    </item>""" for n, (title, text) in enumerate(SAMPLE, start=1))
    path = folder / "feed.xml"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Academy</title><link>https://academy.example.org/</link>
  <description>News for the digest tests.</description>{entries}
</channel></rss>
""", encoding="utf-8")
    return path


def test_one_batch_over_one_connection_each_subscriber_once(
        db_url: str, tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    clock = FixedClock(IN_PERIOD)
    write_feed(tmp_path)
    herald = heralds(tmp_path, clock, db_url=db_url, smtp_url=smtp.url(query="starttls=off"),
                     sources=[{"name": "academy", "url": "feed.xml"}])
    cycle = herald.cycle()
    assert len(cycle.collect.ingest.new_stories) == 4
    subs = subscribe(herald, (LEARNER, [LC]), (EVERYONE, None), (IMPROVER, [II]))
    herald.store.add_subscriber("unconfirmed@example.org", domains=None, now=IN_PERIOD,
                                confirmed=False)
    herald.store.add_subscriber("gone@example.org", domains=None, now=IN_PERIOD)
    herald.store.unsubscribe("gone@example.org", IN_PERIOD)

    clock.advance(seconds=(SENT_AT - IN_PERIOD).total_seconds())
    period = parse_period("last", WEEKLY, LONDON, clock.now())
    assert period == AUG17
    stats = DigestJob(herald).run(period, clock.now())
    assert (stats.planned, stats.sent, stats.empty, stats.failed) == (3, 2, 1, 0)
    assert stats.errors == []
    assert smtp.connections == 1
    assert len(smtp.messages) == 2
    assert [m.rcpt_tos for m in smtp.messages] == [(EVERYONE,), (LEARNER,)]
    assert {m.mail_from for m in smtp.messages} == {SENDER_ADDR}

    learner = check_list_headers(smtp.to(LEARNER)[0].raw, subs[LEARNER], SENT_AT)
    everyone = check_list_headers(smtp.to(EVERYONE)[0].raw, subs[EVERYONE], SENT_AT)
    assert learner["Message-ID"] != everyone["Message-ID"]
    plain, html = bodies(learner)
    assert SAMPLE[0][0] in plain and SAMPLE[0][0] in html
    for title, _ in SAMPLE[1:]:
        assert title not in plain and title not in html
    assert html.index("Closing soon") < html.index(LABELS[LC])
    plain, html = bodies(everyone)
    for title, _ in SAMPLE:
        assert f"* {title}" in plain.splitlines()
        assert title in Markup(html).text
    assert "<style" not in html and 'style="' in html

    rows = digest_rows(herald)
    assert set(rows) == {LEARNER, EVERYONE, IMPROVER}
    assert (rows[LEARNER].status, rows[LEARNER].stories) == ("sent", 1)
    assert (rows[EVERYONE].status, rows[EVERYONE].stories) == ("sent", 4)
    assert rows[LEARNER].message_id == learner["Message-ID"]
    assert rows[LEARNER].sent_at == SENT_AT
    assert rows[IMPROVER].status == "empty"

    # Again, later the same day and from another worker: nothing more, not even a connection.
    clock.advance(hours=3)
    again = DigestJob(heralds(tmp_path, clock, db_url=db_url,
                              smtp_url=smtp.url(query="starttls=off"))).run(period, clock.now())
    assert (again.planned, again.sent, again.empty, again.failed) == (0, 0, 0, 0)
    assert len(smtp.messages) == 2
    assert smtp.connections == 1


def test_a_550_refusal_is_dead_and_the_others_still_get_theirs(
        tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    clock = FixedClock(SENT_AT)
    herald = heralds(tmp_path, clock, smtp_url=smtp.url(query="starttls=off"))
    ingest_sample(herald)
    subscribe(herald, (COACHEE, [IE]), (EVERYONE, None), (LEARNER, [LC]))
    smtp.reject[EVERYONE] = NO_SUCH_USER  # in the middle of the batch

    stats = DigestJob(herald).run(AUG17, clock.now())
    assert (stats.sent, stats.failed) == (2, 1)
    assert len(stats.errors) == 1 and "550" in stats.errors[0] and EVERYONE in stats.errors[0]
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == [COACHEE, LEARNER]
    assert smtp.connections == 1
    rows = digest_rows(herald)
    assert rows[EVERYONE].status == "dead"
    assert "550 5.1.1 no such user" in (rows[EVERYONE].last_error or "")
    assert next_try(herald, rows[EVERYONE].id) is None
    assert rows[COACHEE].status == rows[LEARNER].status == "sent"

    del smtp.reject[EVERYONE]
    clock.advance(days=1)
    later = DigestJob(herald).run(AUG17, clock.now())
    assert (later.sent, later.failed) == (0, 0)
    assert smtp.to(EVERYONE) == []


def test_a_4xx_refusal_is_retried_later_and_sent_once(
        tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    clock = FixedClock(SENT_AT)
    herald = heralds(tmp_path, clock, smtp_url=smtp.url(query="starttls=off"))
    ingest_sample(herald)
    subscribe(herald, (LEARNER, [LC]), (EVERYONE, None), (IMPROVER, [II]))
    smtp.reject[LEARNER] = MAILBOX_BUSY

    stats = DigestJob(herald).run(AUG17, clock.now())
    assert (stats.sent, stats.empty, stats.failed) == (1, 1, 1)
    assert "450" in stats.errors[0]
    rows = digest_rows(herald)
    assert rows[LEARNER].status == "failed"
    assert rows[LEARNER].attempts == 1
    assert "450 4.2.1" in (rows[LEARNER].last_error or "")
    retry_at = next_try(herald, rows[LEARNER].id)
    assert retry_at is not None and SENT_AT < retry_at <= SENT_AT + timedelta(minutes=5)

    del smtp.reject[LEARNER]
    early = DigestJob(herald).run(AUG17, clock.now())  # not due yet
    assert early.sent == 0 and smtp.to(LEARNER) == []

    clock.advance(minutes=10)
    later = DigestJob(herald).run(AUG17, clock.now())
    assert (later.sent, later.failed, later.empty) == (1, 0, 0)
    assert len(smtp.to(LEARNER)) == 1
    assert len(smtp.to(EVERYONE)) == 1
    assert smtp.to(IMPROVER) == []
    rows = digest_rows(herald)
    assert (rows[LEARNER].status, rows[LEARNER].attempts) == ("sent", 2)
    assert smtp.connections == 2  # one per run that had something to send

    clock.advance(days=1)
    assert DigestJob(herald).run(AUG17, clock.now()).sent == 0
    assert len(smtp.messages) == 2


def test_a_subscriber_who_leaves_before_the_retry_gets_nothing(
        tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    clock = FixedClock(SENT_AT)
    herald = heralds(tmp_path, clock, smtp_url=smtp.url(query="starttls=off"))
    ingest_sample(herald)
    subscribe(herald, (LEARNER, [LC]))
    smtp.reject[LEARNER] = MAILBOX_BUSY
    assert DigestJob(herald).run(AUG17, clock.now()).failed == 1
    del smtp.reject[LEARNER]
    herald.store.unsubscribe(LEARNER, clock.now())
    clock.advance(hours=1)
    stats = DigestJob(herald).run(AUG17, clock.now())
    assert (stats.sent, stats.empty) == (0, 1)
    assert smtp.messages == []
    row = digest_rows(herald)[LEARNER]
    assert row.status == "empty" and "unsubscribed" in (row.last_error or "")


# ===================================================================== 6. restart mid-batch

class StopAfter:
    """Passes ``allowed`` messages to the real sender, then stops the process."""

    def __init__(self, real: Any, allowed: int) -> None:
        self.real = real
        self.allowed = allowed
        self.sent = 0

    def __enter__(self) -> StopAfter:
        self.real.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.real.__exit__(*exc)

    def send(self, message: EmailMessage) -> str:
        if self.sent >= self.allowed:
            raise SystemExit("stopped in the middle of the batch")
        self.sent += 1
        return str(self.real.send(message))


class StoppingJob(DigestJob):
    def sender(self) -> Any:
        return StopAfter(super().sender(), allowed=1)


def test_a_restart_after_a_stop_mid_batch_sends_each_digest_once(
        db_url: str, tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    clock = FixedClock(SENT_AT)
    url = smtp.url(query="starttls=off")
    first = heralds(tmp_path, clock, db_url=db_url, smtp_url=url)
    ingest_sample(first)
    subscribe(first, (COACHEE, [IE]), (EVERYONE, None), (LEARNER, [LC]))

    with pytest.raises(SystemExit):
        StoppingJob(first).run(AUG17, clock.now())
    assert [m.rcpt_tos for m in smtp.messages] == [(COACHEE,)]
    rows = digest_rows(first)
    assert rows[COACHEE].status == "sent"
    assert rows[EVERYONE].status == rows[LEARNER].status == "in_flight"
    first.close()

    # A new process at once: nothing goes out twice. (Today the stopped worker's claims
    # stay leased, since it might still be alive and sending, so this sends nothing.)
    second = heralds(tmp_path, clock, db_url=db_url, smtp_url=url)
    DigestJob(second).run(AUG17, clock.now())
    for address in (COACHEE, EVERYONE, LEARNER):
        assert len(smtp.to(address)) <= 1, address

    # Once the lease has run out, the rest go, once each.
    lease = second.settings.config.worker.lease
    clock.advance(seconds=lease.total_seconds() + 1)
    stats = DigestJob(second).run(AUG17, clock.now())
    assert stats.failed == 0
    clock.advance(days=1)
    assert DigestJob(second).run(AUG17, clock.now()).sent == 0
    for address in (COACHEE, EVERYONE, LEARNER):
        assert len(smtp.to(address)) == 1, address
    assert {r.status for r in digest_rows(second).values()} == {"sent"}


# ===================================================================== 7. STARTTLS and AUTH

@pytest.fixture(scope="module")
def tls() -> Any:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    return ca, context


def ca_file(ca: Any, folder: Path) -> Path:
    path = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


USER, PASSWORD = "herald", "p@ss:word/1"


def test_starttls_and_login_with_a_private_ca(tmp_path: Path, heralds: MakeHerald,
                                              tls: Any) -> None:
    ca, context = tls
    with running_smtp_server(tls_context=context, require_starttls=True,
                             users={USER: PASSWORD}) as fake:
        url = f"smtp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{fake.port}"
        assert parse_smtp_url(url).tls == "starttls"
        herald = heralds(tmp_path, FixedClock(SENT_AT), smtp_url=url,
                         digest={"tls_ca_file": str(ca_file(ca, tmp_path))})
        ingest_sample(herald)
        subscribe(herald, (LEARNER, [LC]), (EVERYONE, None))
        stats = DigestJob(herald).run(AUG17, SENT_AT)
        assert (stats.sent, stats.failed) == (2, 0), stats.errors
        assert fake.connections == 1
        assert [(m.tls, m.login) for m in fake.messages] == [(True, USER), (True, USER)]
        assert fake.logins == [USER]


def test_starttls_fails_without_the_ca(tmp_path: Path, heralds: MakeHerald,
                                       tls: Any) -> None:
    _ca, context = tls
    with running_smtp_server(tls_context=context, require_starttls=True,
                             users={USER: PASSWORD}) as fake:
        url = f"smtp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{fake.port}"
        herald = heralds(tmp_path, FixedClock(SENT_AT), smtp_url=url)
        ingest_sample(herald)
        subscribe(herald, (LEARNER, [LC]))
        stats = DigestJob(herald).run(AUG17, SENT_AT)
        assert (stats.sent, stats.failed) == (0, 1)
        assert "certificate verify failed" in stats.errors[0].lower()
        assert PASSWORD not in stats.errors[0]
        assert fake.messages == [] and fake.logins == []


def test_a_wrong_password_stops_the_connection(tmp_path: Path, tls: Any) -> None:
    ca, context = tls
    with running_smtp_server(tls_context=context, require_starttls=True,
                             users={USER: PASSWORD}) as fake:
        settings = parse_smtp_url(f"smtp://{USER}:wrong@127.0.0.1:{fake.port}")
        # A refused login is the target's problem: it pauses (issue #14, bot.pause).
        with SmtpSender(settings, ca_file=str(ca_file(ca, tmp_path)), timeout=10) as sender, \
                pytest.raises(SmtpLoginRefused) as caught:
            sender.send(plain_message())
        assert "login refused" in str(caught.value)
        assert "wrong" not in str(caught.value)
        assert fake.messages == []


def test_smtps_with_tls_from_the_start(tmp_path: Path, tls: Any) -> None:
    ca, context = tls
    with running_smtp_server(implicit_tls=context, users={USER: PASSWORD}) as fake:
        settings = parse_smtp_url(f"smtps://{USER}:{quote(PASSWORD, safe='')}"
                                  f"@127.0.0.1:{fake.port}")
        assert settings.tls == "ssl"
        with SmtpSender(settings, ca_file=str(ca_file(ca, tmp_path)), timeout=10) as sender:
            assert sender.send(plain_message()) == "<tls-test@academy.example.org>"
        assert [(m.rcpt_tos, m.login) for m in fake.messages] == [((LEARNER,), USER)]


def plain_message() -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = SENDER
    message["To"] = LEARNER
    message["Subject"] = "TLS test"
    message["Message-ID"] = "<tls-test@academy.example.org>"
    message.set_content("Hello over TLS.")
    return message


def test_a_server_without_starttls_is_refused_unless_told_it_is_a_trusted_relay(
        tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    with SmtpSender(parse_smtp_url(smtp.url()), timeout=10) as sender, \
            pytest.raises(SmtpConnectionError) as caught:
        sender.send(plain_message())
    assert "STARTTLS" in str(caught.value)
    assert "starttls=off" in str(caught.value)
    assert smtp.messages == []

    herald = heralds(tmp_path, FixedClock(SENT_AT), smtp_url=smtp.url())
    ingest_sample(herald)
    subscribe(herald, (LEARNER, [LC]))
    stats = DigestJob(herald).run(AUG17, SENT_AT)
    assert (stats.sent, stats.failed) == (0, 1)
    assert "STARTTLS" in stats.errors[0]
    assert smtp.messages == []


def test_an_unreachable_server_is_a_transient_failure(tmp_path: Path) -> None:
    with running_smtp_server() as fake:
        port = fake.port
    # The server is gone: nothing listens on that port any more.
    with SmtpSender(parse_smtp_url(f"smtp://127.0.0.1:{port}?starttls=off"),
                    timeout=5) as sender, pytest.raises(TransientSendError) as caught:
        sender.send(plain_message())
    assert "cannot reach" in str(caught.value)


# ===================================================================== 8. file output

def test_without_smtp_url_digests_are_written_as_files_once(
        tmp_path: Path, heralds: MakeHerald) -> None:
    herald = heralds(tmp_path, FixedClock(SENT_AT))
    ingest_sample(herald)
    subs = subscribe(herald, (LEARNER, [LC]), (EVERYONE, None), (IMPROVER, [II]))
    stats = DigestJob(herald).run(AUG17, SENT_AT)
    assert (stats.sent, stats.empty, stats.failed) == (2, 1, 0)

    folder = tmp_path / "outbox" / "digest"
    files = sorted(p.name for p in folder.iterdir())
    stems = {f"herald.digest.{subs[a].id}.{AUG17.key}_at_academy.example.org"
             for a in (LEARNER, EVERYONE)}
    assert files == sorted([f"{s}.eml" for s in stems] + [f"{s}.html" for s in stems])
    for address in (LEARNER, EVERYONE):
        stem = f"herald.digest.{subs[address].id}.{AUG17.key}_at_academy.example.org"
        raw = (folder / f"{stem}.eml").read_bytes()
        message = check_list_headers(raw, subs[address], SENT_AT)
        _plain, html = bodies(message)
        written = (folder / f"{stem}.html").read_text(encoding="utf-8")
        assert written.splitlines() == html.splitlines()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}

    again = DigestJob(herald).run(AUG17, SENT_AT + timedelta(hours=1))
    assert (again.sent, again.empty, again.failed) == (0, 0, 0)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in folder.iterdir()} == before


# ===================================================================== 9. command line

CLI_TIMEOUT = 120


def cli(cwd: Path, *args: str | Path, code: int = 0,
        smtp_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HERALD_CONFIG", "DATABASE_URL", "SMTP_URL", "HERALD_SECRET_KEY")}
    if smtp_url is not None:
        env["SMTP_URL"] = smtp_url
    result = subprocess.run([sys.executable, "-m", "bot", *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True, encoding="utf-8",
                            timeout=CLI_TIMEOUT)
    assert result.returncode == code, (
        f"exit {result.returncode}, expected {code}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def cli_workspace(root: Path) -> Path:
    """A feed and a config whose digest week is half over now, whatever the date."""
    write_feed(root)
    tick = datetime.now(UTC) + timedelta(days=3, hours=12)
    schedule = f"{tick:%a} {tick:%H:%M}".lower()
    config = root / "herald.toml"
    config.write_text(
        f"paths = {{ taxonomy = {json.dumps(str(CONFIG_DIR / 'taxonomy.toml'))} }}\n"
        '[[sources]]\nname = "academy"\nurl = "feed.xml"\nannounce_backlog = true\n'
        '[[targets]]\nname = "files"\ntype = "file"\n'
        '[[routes]]\nto = ["files"]\n'
        f'[digest]\nfrom = "{SENDER}"\nbase_url = "{BASE}"\n'
        f'schedule = "{schedule}"\ntimezone = "UTC"\n', encoding="utf-8")
    return config


@pytest.mark.slow
def test_cli_subscribers_add_list_remove(tmp_path: Path) -> None:
    config = cli_workspace(tmp_path)
    added = cli(tmp_path, "subscribers", "add", "a@example.org", "--domains", LC,
                "--config", config)
    assert "a@example.org" in added.stdout and LC in added.stdout
    everyone = cli(tmp_path, "subscribers", "add", "all@Example.ORG", "--config", config)
    assert "all@example.org" in everyone.stdout and "every domain" in everyone.stdout

    bad = cli(tmp_path, "subscribers", "add", "x@example.org", "--domains", f"{LC},no-such",
              "--config", config, code=2)
    message = " ".join(bad.stderr.split())
    assert "unknown no-such" in message and LC in message and "Traceback" not in bad.stderr

    listed = json.loads(cli(tmp_path, "subscribers", "list", "--json", "--config",
                            config).stdout)
    assert [(s["email"], s["domains"], s["active"]) for s in listed] == [
        ("a@example.org", [LC], True), ("all@example.org", "all", True)]

    removed = cli(tmp_path, "subscribers", "remove", "a@example.org", "--config", config)
    assert "unsubscribed a@example.org" in removed.stdout
    listed = json.loads(cli(tmp_path, "subscribers", "list", "--json", "--config",
                            config).stdout)
    assert [(s["email"], s["active"], bool(s["unsubscribed_at"])) for s in listed] == [
        ("a@example.org", False, True), ("all@example.org", True, False)]


@pytest.mark.slow
def test_cli_digest_preview_and_send(tmp_path: Path) -> None:
    config = cli_workspace(tmp_path)
    cli(tmp_path, "run", "--once", "--config", config)
    cli(tmp_path, "subscribers", "add", "a@example.org", "--domains", LC, "--config", config)
    cli(tmp_path, "subscribers", "add", "all@example.org", "--config", config)
    cli(tmp_path, "subscribers", "add", "i@example.org", "--domains", II, "--config", config)

    out = tmp_path / "preview" / "digest.html"
    preview = cli(tmp_path, "digest", "preview", "--out", out, "--config", config)
    assert "wrote" in preview.stdout
    html = out.read_text(encoding="utf-8")
    assert "<style" not in html and 'style="' in html
    for title, _ in SAMPLE:
        assert title in Markup(html).text
    assert not (tmp_path / "var" / "outbox" / "digest").exists()  # a preview sends nothing

    sent = cli(tmp_path, "digest", "send", "--period", "current", "--config", config)
    text = " ".join(sent.stdout.split())
    assert re.search(r"digest .+: 2 sent, 1 with nothing new, 0 failed", text), text
    folder = tmp_path / "var" / "outbox" / "digest"
    assert len(list(folder.glob("*.eml"))) == 2
    assert len(list(folder.glob("*.html"))) == 2

    again = cli(tmp_path, "digest", "send", "--period", "current", "--config", config)
    assert "0 sent, 0 with nothing new, 0 failed" in " ".join(again.stdout.split())
    assert len(list(folder.glob("*.eml"))) == 2

    bad = cli(tmp_path, "digest", "send", "--period", "someday", "--config", config, code=2)
    assert "--period" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_cli_digest_send_exits_4_while_a_digest_waits(tmp_path: Path) -> None:
    """README and --help: "4: a digest failed or waits". A digest left waiting by an earlier
    run (the mail server could not be reached) keeps the exit code at 4 until it goes, even
    when this run had nothing to try (before: 0 with "1 waiting")."""
    import socket

    config = cli_workspace(tmp_path)
    cli(tmp_path, "run", "--once", "--config", config)
    cli(tmp_path, "subscribers", "add", "a@example.org", "--config", config)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"smtp://127.0.0.1:{s.getsockname()[1]}?starttls=off"
    cli(tmp_path, "digest", "send", "--period", "current", "--config", config,
        smtp_url=closed, code=4)
    with running_smtp_server() as smtp:
        waits = cli(tmp_path, "digest", "send", "--period", "current", "--config", config,
                    smtp_url=smtp.url(query="starttls=off"), code=4)
        assert "1 waiting" in " ".join(waits.stdout.split())
        assert smtp.messages == []


def test_a_digest_run_counts_each_subscriber_done(tmp_path: Path, heralds: MakeHerald) -> None:
    """``herald digest send`` draws its progress bar from these counts."""
    from tests.test_progress import Counted

    herald = heralds(tmp_path, FixedClock(SENT_AT))  # no SMTP_URL: .eml files
    ingest_sample(herald)
    subscribe(herald, (LEARNER, [LC]), (EVERYONE, None), (IMPROVER, [II]))
    progress = Counted()
    stats = DigestJob(herald).run(AUG17, SENT_AT, progress=progress)
    assert stats.sent + stats.empty == 3
    assert (progress.total, progress.done) == (3, 3)
