"""Reminders before a key date (issue #17), as each place shows them: the wording
(channels._reminder) for each meaning and distance, Slack's reply in the original post's
thread (once, even after a lost answer), Teams' card naming the original (valid against
the Adaptive Card schema), the file channel's JSON and the console's panel. Loopback
fakes and a fixed clock; nothing leaves the machine."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from bot.clock import FixedClock
from bot.errors import PermanentSendError, RateLimited, TargetAuthError, TransientSendError
from bot.model import (
    Delivery,
    DeliveryStatus,
    KeyDate,
    Reminder,
    ReminderStatus,
    Story,
    Tag,
    TagGroup,
)
from channels import ChannelContext
from channels._reminder import NAME_MAX, day_phrase, reminder_text
from channels._slack_reminder import REMINDER_EVENT
from channels.console import ConsoleChannel
from channels.file import FileChannel, FileOptions
from channels.slack import SlackChannel, SlackOptions
from channels.teams import TeamsChannel, TeamsOptions
from tests.builders import item
from tests.conftest import reference_dir
from tests.fakes.slack_server import (
    DROP_AFTER_PROCESSING,
    FakeSlack,
    ratelimited,
    running_fake_slack,
)
from tests.fakes.teams_webhook import FakeTeamsWebhook, running_teams_webhook

#: Tuesday 15 December 2026, 09:00 in London.
WHEN = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
TODAY = date(2026, 12, 15)
LABELS = {"mary-seacole-programme": "Mary Seacole Programme", "ready-now": "Ready Now",
          "cohort-opening": "Cohort opening"}
SEACOLE = Tag(TagGroup.PROGRAMME, "mary-seacole-programme", "rule")
WJ = "\u2060"
ZWSP = "\u200b"


def story(title: str = "Leading change masterclass", *, tags: tuple[Tag, ...] = (),
          dates: tuple[KeyDate, ...] = (), url: str | None = "https://academy.example.org/n/1",
          kind: str = "cohort-opening") -> Story:
    return Story(id=3, title=title, summary="Join us.", url=url, kind=kind, tags=tags,
                 dates=dates, items=(item(1),), first_seen=WHEN, updated_at=WHEN)


def reminder(what: str = "applications-close", day: date = date(2026, 12, 18), *,
             reminder_id: int = 11, attempts: int = 1) -> Reminder:
    return Reminder(id=reminder_id, story_id=3, target="t", what=what, day=day, days_before=3,
                    due_at=WHEN, status=ReminderStatus.IN_FLIGHT, attempts=attempts)


def original(external_id: str | None, sent_at: datetime | None = WHEN - timedelta(days=14)
             ) -> Delivery:
    return Delivery(id=7, story_id=3, target="t", status=DeliveryStatus.SENT, attempts=1,
                    next_attempt_at=None, lease_until=None, external_id=external_id,
                    last_error=None, created_at=WHEN - timedelta(days=14), sent_at=sent_at)


def context(tmp_path: Path, clock_at: datetime = WHEN, **kw: Any) -> ChannelContext:
    return ChannelContext(outbox_dir=tmp_path, labels=dict(LABELS), clock=FixedClock(clock_at),
                          **kw)


def programme_story(what: str = "applications-close") -> Story:
    """A story of the Mary Seacole Programme: its title names the programme, which names
    applications and deadlines (an event is named by its title)."""
    if what == "event":
        return story(tags=(SEACOLE,))
    return story("Mary Seacole Programme places for pharmacy teams", tags=(SEACOLE,))


def line(what: str, day: date, s: Story | None = None, today: date = TODAY) -> str:
    return reminder_text(s or programme_story(what), reminder(what, day), today, LABELS).line


def test_a_programme_only_mentioned_in_the_text_does_not_name_the_reminder() -> None:
    """Found from outside: "Rosalind Franklin Programme: applications open … Alumni of the
    Mary Seacole Programme are especially welcome" was tagged with both programmes, and its
    reminder said "Applications for the Mary Seacole Programme close …"."""
    franklin = story("Rosalind Franklin Programme: applications open for the next cohort",
                     tags=(SEACOLE,))
    assert line("applications-close", date(2026, 12, 18), franklin) == (
        "Applications for “Rosalind Franklin Programme: applications open for the next "
        "cohort” close this Friday, 18 December — 3 days left")


# --- the wording ---------------------------------------------------------------------------

D = TODAY
WORDING = [
    ("applications-close", 0, "Applications for the Mary Seacole Programme close today"
                              " — last day to apply"),
    ("applications-close", 1, "Applications for the Mary Seacole Programme close tomorrow,"
                              " Wednesday 16 December — 1 day left"),
    ("applications-close", 3, "Applications for the Mary Seacole Programme close this Friday,"
                              " 18 December — 3 days left"),
    ("applications-close", 10, "Applications for the Mary Seacole Programme close on Friday"
                               " 25 December — 10 days left"),
    ("applications-close", -2, "Applications for the Mary Seacole Programme closed on Sunday"
                               " 13 December"),
    ("deadline", 0, "The deadline for the Mary Seacole Programme is today"),
    ("deadline", 1, "The deadline for the Mary Seacole Programme is tomorrow, Wednesday"
                    " 16 December — 1 day left"),
    ("deadline", 6, "The deadline for the Mary Seacole Programme is this Monday, 21 December"
                    " — 6 days left"),
    ("deadline", 7, "The deadline for the Mary Seacole Programme is on Tuesday 22 December"
                    " — 7 days left"),
    ("deadline", -1, "The deadline for the Mary Seacole Programme passed on Monday"
                     " 14 December"),
    ("event", 0, "“Leading change masterclass” is today"),
    ("event", 1, "“Leading change masterclass” is tomorrow, Wednesday 16 December"),
    ("event", 2, "“Leading change masterclass” is this Thursday, 17 December"),
    ("event", 20, "“Leading change masterclass” is on Monday 4 January 2027"),
    ("event", -3, "“Leading change masterclass” took place on Saturday 12 December"),
    ("applications-open", 0, "Applications for the Mary Seacole Programme open today"),
    ("applications-open", 1, "Applications for the Mary Seacole Programme open tomorrow,"
                             " Wednesday 16 December"),
    ("applications-open", 4, "Applications for the Mary Seacole Programme open this Saturday,"
                             " 19 December"),
    ("applications-open", 30, "Applications for the Mary Seacole Programme open on Thursday"
                              " 14 January 2027"),
    ("applications-open", -5, "Applications for the Mary Seacole Programme opened on Thursday"
                              " 10 December"),
]


@pytest.mark.parametrize(("what", "offset", "expected"), WORDING,
                         ids=[f"{w}{o:+d}" for w, o, _ in WORDING])
def test_wording_by_meaning_and_distance(what: str, offset: int, expected: str) -> None:
    words = reminder_text(programme_story(what), reminder(what, D + timedelta(days=offset)),
                          TODAY, LABELS)
    assert words.line == expected
    assert words.days_left == offset and words.passed is (offset < 0)
    assert "-" + str(abs(offset)) not in words.line  # never "−2 days left"


def test_the_day_phrases() -> None:
    assert day_phrase(TODAY, TODAY) == "today"
    assert day_phrase(date(2026, 12, 21), TODAY) == "this Monday, 21 December"
    assert day_phrase(date(2026, 12, 22), TODAY) == "on Tuesday 22 December"
    assert day_phrase(date(2027, 1, 1), TODAY) == "on Friday 1 January 2027"


def test_an_event_gives_its_time_and_place_from_the_matching_key_date() -> None:
    day = date(2026, 12, 15)
    s = story(dates=(KeyDate("event", day, at_time="09:30–13:00",
                             place="the Brew House, Preston"),
                     KeyDate("event", date(2026, 12, 30), place="Elsewhere")))
    assert line("event", day, s) == ("“Leading change masterclass” is today, 09:30–13:00, "
                                     "the Brew House, Preston")
    words = reminder_text(s, reminder("event", day), TODAY, LABELS)
    assert (words.at_time, words.place) == ("09:30–13:00", "the Brew House, Preston")


def test_a_key_date_gone_from_the_story_uses_the_reminders_day_and_meaning() -> None:
    moved = story(dates=(KeyDate("event", date(2026, 12, 20), at_time="10:00", place="Leeds"),))
    words = reminder_text(moved, reminder("event", date(2026, 12, 16)), TODAY, LABELS)
    assert words.line == "“Leading change masterclass” is tomorrow, Wednesday 16 December"
    assert words.at_time is None and words.place is None and words.day == date(2026, 12, 16)


def test_programme_label_or_title() -> None:
    ready = Tag(TagGroup.PROGRAMME, "ready-now", "rule")
    unknown = Tag(TagGroup.PROGRAMME, "no-label-known", "rule")
    day = date(2026, 12, 18)
    assert line("applications-close", day, story("Ready Now: the next cohort",
                                                 tags=(ready,))).startswith(
        "Applications for Ready Now close")
    assert line("applications-close", day, story(tags=(unknown,))).startswith(
        "Applications for “Leading change masterclass” close")
    assert line("deadline", day, story()).startswith(
        "The deadline for “Leading change masterclass” is")
    # An event of a programme is not the programme: it is named by its title.
    assert line("event", day, story(tags=(SEACOLE,))).startswith(
        "“Leading change masterclass” is this Friday")


def test_a_missing_title_reads_without_a_name() -> None:
    day = date(2026, 12, 15)
    assert line("applications-close", day, story("  ")) == \
        "Applications close today — last day to apply"
    assert line("deadline", day, story("")) == "The deadline is today"
    assert line("event", day, story("")) == "The event is today"
    assert line("applications-open", day, story("")) == "Applications open today"
    assert reminder_text(story(""), reminder(), TODAY, LABELS).title == ""


def test_a_very_long_title_is_cut_at_a_word() -> None:
    long_title = "Leadership cohort " * 100
    words = reminder_text(story(long_title), reminder(), TODAY, LABELS)
    assert len(words.title) <= NAME_MAX and words.title.endswith("…")
    assert len(words.line) < NAME_MAX + 80
    assert words.line.endswith("— 3 days left")


def test_a_huge_time_and_place_stay_short() -> None:
    day = date(2026, 12, 16)
    s = story(dates=(KeyDate("event", day, at_time="9" * 5000, place="Hall " * 5000),))
    assert len(reminder_text(s, reminder("event", day), TODAY).line) < 3 * NAME_MAX


def test_only_web_addresses_are_linked() -> None:
    assert reminder_text(story(url="javascript:alert(1)"), reminder(), TODAY).url is None
    assert reminder_text(story(url=None), reminder(), TODAY).url is None


def test_days_are_counted_in_the_workers_timezone(tmp_path: Path) -> None:
    # 23:30 UTC on 17 December is still the 17th in London, but the 18th in Auckland.
    late = datetime(2026, 12, 17, 23, 30, tzinfo=UTC)
    ch = FileChannel("files", FileOptions(), context(tmp_path, late))
    assert ch.render_reminder(story(), reminder())["days_left"] == 1
    ch = FileChannel("files", FileOptions(), context(tmp_path, late,
                                                     timezone="Pacific/Auckland"))
    payload = ch.render_reminder(story(), reminder())
    assert payload["days_left"] == 0 and "last day to apply" in payload["line"]


# --- Slack: a reply in the thread ----------------------------------------------------------

@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


def slack_channel(fake: FakeSlack | None, tmp_path: Path, token: str = "xoxb-good",
                  broadcast: bool = False) -> SlackChannel:
    opts = SlackOptions(channel="C0NEWS", base_url=fake.base_url if fake else
                        "http://127.0.0.1:9/api/")
    return SlackChannel("staff-slack", opts, context(
        tmp_path, environ={"SLACK_BOT_TOKEN": token}, reminder_broadcast=broadcast))


def post_story(fake: FakeSlack, ch: SlackChannel) -> Delivery:
    """Post the story itself, the way the dispatcher does, and return its sent delivery."""
    sent = ch.send(ch.render(story()), delivery=original(None))
    return original(sent.external_id)


HOSTILE = ["<!channel>", "<http://x|y>", "*bold* _it_ ~gone~ `code`", "@here & <@U1>",
           "<!subteam^S1|@team>"]


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    return [payload["text"], *(b["text"]["text"] for b in payload["blocks"])]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_slack_escapes_hostile_titles_and_places(tmp_path: Path, hostile: str) -> None:
    day = date(2026, 12, 15)
    s = story(f"{hostile} title", kind=hostile,
              dates=(KeyDate("event", day, at_time=hostile, place=f"{hostile} place"),))
    payload = slack_channel(None, tmp_path).render_reminder(s, reminder("event", day))
    for text in mrkdwn_texts(payload):
        lowered = text.lower()
        assert "<" not in text and ">" not in text, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
        assert not re.search(r"@(here|channel|everyone)\b", text, re.I), text
        # Every emphasis mark is held apart from the words around it.
        assert not re.search(rf"[^{WJ}][*_~`]|[*_~`][^{WJ}*_~`]", text), text
        assert "<!" not in lowered and "<http" not in lowered
    shown = html.unescape(payload["blocks"][0]["text"]["text"].replace(WJ, ""))
    assert shown == f"\u23f0 “{hostile} title” is today, {hostile}, {hostile} place"
    button = payload["blocks"][0]["accessory"]["text"]["text"]
    assert "<!" not in button and "<http" not in button


def test_slack_button_only_for_web_addresses(tmp_path: Path) -> None:
    ch = slack_channel(None, tmp_path)
    assert ch.render_reminder(story(), reminder())["blocks"][0]["accessory"]["url"] == \
        "https://academy.example.org/n/1"
    assert "accessory" not in ch.render_reminder(story(url="javascript:x"), reminder())[
        "blocks"][0]


@pytest.mark.parametrize("broadcast", [False, True])
def test_slack_replies_in_the_originals_thread(slack: FakeSlack, tmp_path: Path,
                                              broadcast: bool) -> None:
    ch = slack_channel(slack, tmp_path, broadcast=broadcast)
    sent = post_story(slack, ch)
    _, _, ts = (sent.external_id or "").partition(":")
    payload = ch.render_reminder(programme_story(), reminder())
    result = ch.send_reminder(payload, reminder=reminder(), original=sent)
    (reply,) = slack.replies(ts)
    assert result.external_id == f"C0NEWS:{reply['ts']}"
    assert reply["thread_ts"] == ts and reply["blocks"] == payload["blocks"]
    assert reply["text"].startswith("Applications for the Mary Seacole Programme close")
    assert reply["metadata"] == {"event_type": REMINDER_EVENT, "event_payload": {
        "reminder_id": 11, "story_id": 3, "what": "applications-close", "day": "2026-12-18"}}
    assert (reply.get("subtype") == "thread_broadcast") is broadcast
    # A broadcast reply shows in the channel's history too.
    history = ch._call("conversations_history", channel="C0NEWS")["messages"]
    assert len(history) == (2 if broadcast else 1)
    (call,) = slack.calls_to("chat.postMessage")[1:]
    assert bool(call.get("reply_broadcast")) is broadcast


@pytest.mark.parametrize("how", ["attempts", "reclaimed"])
def test_slack_retry_after_a_lost_answer_adopts_the_reply(slack: FakeSlack, tmp_path: Path,
                                                          how: str) -> None:
    ch = slack_channel(slack, tmp_path)
    sent = post_story(slack, ch)
    _, _, ts = (sent.external_id or "").partition(":")
    payload = ch.render_reminder(story(), reminder())
    slack.state.fail_next.append(DROP_AFTER_PROCESSING)  # posted, but the answer is lost
    with pytest.raises(TransientSendError):
        ch.send_reminder(payload, reminder=reminder(), original=sent)
    again = reminder(attempts=2) if how == "attempts" else reminder()
    result = ch.send_reminder(payload, reminder=again, original=sent,
                              reclaimed=how == "reclaimed")
    (reply,) = slack.replies(ts)
    assert result.external_id == f"C0NEWS:{reply['ts']}" and "adopted" in result.detail
    assert len(slack.calls_to("conversations.replies")) == 1


def test_slack_retry_posts_when_no_earlier_reply_is_there(slack: FakeSlack,
                                                          tmp_path: Path) -> None:
    ch = slack_channel(slack, tmp_path)
    sent = post_story(slack, ch)
    _, _, ts = (sent.external_id or "").partition(":")
    # Another reminder's reply in the thread is not this one's.
    other = reminder(reminder_id=12)
    ch.send_reminder(ch.render_reminder(story(), other), reminder=other, original=sent)
    ch.send_reminder(ch.render_reminder(story(), reminder()), reminder=reminder(attempts=3),
                     original=sent)
    assert [r["metadata"]["event_payload"]["reminder_id"] for r in slack.replies(ts)] == [12, 11]


def test_slack_reminder_errors_map_like_deliveries(slack: FakeSlack, tmp_path: Path) -> None:
    ch = slack_channel(slack, tmp_path)
    sent = post_story(slack, ch)
    payload = ch.render_reminder(story(), reminder())
    slack.state.fail_next.append(ratelimited(4))
    with pytest.raises(RateLimited) as limited:
        ch.send_reminder(payload, reminder=reminder(), original=sent)
    assert limited.value.retry_after == 4
    with pytest.raises(TargetAuthError):
        slack_channel(slack, tmp_path, token="xoxb-revoked").send_reminder(
            payload, reminder=reminder(), original=sent)
    with pytest.raises(PermanentSendError):
        ch.send_reminder(payload, reminder=reminder(), original=original("C0GONE:1.000100"))
    with pytest.raises(PermanentSendError, match="no ts"):
        ch.send_reminder(payload, reminder=reminder(), original=original(None))


# --- Teams: a new card naming the original -------------------------------------------------

@pytest.fixture(scope="module")
def card_schema() -> jsonschema.Draft6Validator:
    path = reference_dir("adaptive-card") / "schemas" / "1.4.0" / "adaptive-card.json"
    return jsonschema.Draft6Validator(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture
def teams() -> Iterator[FakeTeamsWebhook]:
    with running_teams_webhook() as fake:
        yield fake


def teams_channel(tmp_path: Path, url: str = "https://example.invalid/hook?sig=s"
                  ) -> TeamsChannel:
    return TeamsChannel("staff-teams", TeamsOptions(),
                        context(tmp_path, environ={"TEAMS_WEBHOOK_URL": url}))


def card_of(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["attachments"][0]["content"]


HOSTILE_MD = ("[click](https://evil.example) **bold** _it_ ~~gone~~ `code`\n- item\n"
              "1. item\n# heading {{DATE(2017-02-14T06:08:39Z, SHORT)}} {{{TIME(x)}}}")
TEAMS_STORIES = {
    "plain": programme_story(),
    "untitled": story("", url=None),
    "hostile": story("{{DATE(2017-02-14T06:08:39Z, SHORT)}} " + HOSTILE_MD,
                     dates=(KeyDate("event", date(2026, 12, 18), at_time=HOSTILE_MD,
                                    place=HOSTILE_MD),)),
    "long": story("T" * 50_000, kind="k" * 5000),
}


@pytest.mark.parametrize("name", list(TEAMS_STORIES))
@pytest.mark.parametrize("what", ["applications-close", "event"])
def test_teams_reminder_card_validates(card_schema: jsonschema.Draft6Validator,
                                       tmp_path: Path, name: str, what: str) -> None:
    payload = teams_channel(tmp_path).render_reminder(TEAMS_STORIES[name],
                                                      reminder(what))
    errors = [e.message for e in card_schema.iter_errors(card_of(payload))]
    assert errors == []
    assert len(json.dumps(payload).encode()) < 28 * 1024


def test_teams_card_text_is_shown_as_written(tmp_path: Path) -> None:
    card = card_of(teams_channel(tmp_path).render_reminder(TEAMS_STORIES["hostile"],
                                                           reminder("event")))
    for block in card["body"]:
        text = block["text"]
        assert "{{" not in text and "}}" not in text and "](" not in text and "**" not in text
        assert not re.search(r"(?<!\\)[*_\[\]`~#]", text), text
        assert not any(re.match(r"\s*([-+*]|\d+[.)])\s", ln) for ln in text.split("\n"))
    shown = re.sub(r"\\(.)", r"\1", card["body"][1]["text"]).replace(ZWSP, "")
    assert "{{DATE(2017-02-14T06:08:39Z, SHORT)}}" in shown


def test_teams_sends_a_card_naming_the_original(teams: FakeTeamsWebhook,
                                                tmp_path: Path) -> None:
    ch = teams_channel(tmp_path, teams.url)
    payload = ch.render_reminder(programme_story(), reminder())
    result = ch.send_reminder(payload, reminder=reminder(), original=original("run-1"))
    assert result.external_id
    (card,) = teams.cards
    about, said = card["body"][0]["text"], card["body"][1]["text"]
    assert about == ("Reminder about “Mary Seacole Programme places for pharmacy teams”, "
                     "posted Tue 1 Dec")
    assert said == ("Applications for the Mary Seacole Programme close this Friday, "
                    "18 December — 3 days left")
    assert card["actions"][0]["url"] == "https://academy.example.org/n/1"
    assert card_of(payload)["body"][0]["text"].endswith("”")  # the rendered payload is kept


def test_teams_untitled_original_and_unknown_send_day(teams: FakeTeamsWebhook,
                                                      tmp_path: Path) -> None:
    ch = teams_channel(tmp_path, teams.url)
    ch.send_reminder(ch.render_reminder(story(""), reminder()), reminder=reminder(),
                     original=original("run-1", sent_at=None))
    assert teams.cards[0]["body"][0]["text"] == "Reminder about an earlier post"


# --- file and console ------------------------------------------------------------------------

def test_file_writes_the_reminder_beside_the_story(tmp_path: Path) -> None:
    ch = FileChannel("files", FileOptions(), context(tmp_path))
    s = story(dates=(KeyDate("event", date(2026, 12, 16), at_time="14:00", place="Online"),))
    payload = ch.render_reminder(s, reminder("event", date(2026, 12, 16)))
    first = ch.send_reminder(payload, reminder=reminder(), original=original("/x/story.json"))
    again = ch.send_reminder(payload, reminder=reminder(attempts=2),
                             original=original("/x/story.json"), reclaimed=True)
    assert first.external_id == again.external_id
    (path,) = (tmp_path / "files").glob("*.json")
    assert path.name == "story-000003-reminder-000011.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["reminder_of"] == "/x/story.json" and record["reminder_id"] == 11
    assert record["payload"]["line"] == ("“Leading change masterclass” is tomorrow, "
                                         "Wednesday 16 December, 14:00, Online")
    assert record["payload"] | {} == payload
    assert (payload["what"], payload["day"], payload["days_left"], payload["passed"]) == \
        ("event", "2026-12-16", 1, False)


def test_console_prints_a_reminder_panel(tmp_path: Path) -> None:
    out = io.StringIO()
    ch = ConsoleChannel("console", ConsoleChannel.Options(), context(
        tmp_path, console=Console(file=out, width=200, color_system=None)))
    s = story("[bold red]Loud[/] title")
    result = ch.send_reminder(ch.render_reminder(s, reminder("event", TODAY)),
                              reminder=reminder(), original=original("console:7"))
    text = out.getvalue()
    assert "Reminder" in text and "“[bold red]Loud[/] title” is today" in text
    assert "https://academy.example.org/n/1" in text
    assert result.external_id == "console:reminder:11"


def test_the_built_in_channels_send_reminders() -> None:
    assert all(cls.supports_reminders for cls in (SlackChannel, TeamsChannel, FileChannel,
                                                  ConsoleChannel))
