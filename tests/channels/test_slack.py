"""Slack: Block Kit within Slack's limits, feed text that cannot mention or link, sends and
errors through the real slack-sdk against the loopback fake, never twice, updates in place.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.dispatch import Dispatcher
from bot.errors import PermanentSendError, RateLimited, TransientSendError
from bot.model import Delivery, DeliveryStatus, KeyDate, Story, Tag, TagGroup
from bot.retry import RetryPolicy
from bot.store import Store
from channels import ChannelContext, SendResult
from channels.slack import SlackChannel, SlackOptions
from tests.builders import item, routing
from tests.fakes.slack_server import (
    DROP,
    DROP_AFTER_PROCESSING,
    NOT_IN_CHANNEL_TOKEN,
    FakeSlack,
    ratelimited,
    running_fake_slack,
    server_error,
)

WHEN = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=3)
TARGET = "staff-slack"
WJ = "\u2060"  # word joiner


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


def channel(fake: FakeSlack | None, tmp_path: Path, *, target: str = TARGET,
            token: str = "xoxb-good", labels: dict[str, str] | None = None,
            **options: Any) -> SlackChannel:
    opts: dict[str, Any] = {"channel": "C0NEWS", "on_update": "edit"}
    if fake is not None:
        opts["base_url"] = fake.base_url
    opts.update(options)
    ctx = ChannelContext(outbox_dir=tmp_path, environ={"SLACK_BOT_TOKEN": token},
                         labels=labels or {"news": "News", "event": "Event"},
                         clock=FixedClock(WHEN))
    return SlackChannel(target, SlackOptions(**opts), ctx)


def story(title: str = "Applications open for the leadership programme",
          summary: str = "Join the next cohort: sessions run monthly from September.",
          *, url: str | None = "https://academy.example.org/news/1",
          sources: tuple[str, ...] = ("news",), kind: str = "news",
          tags: tuple[Tag, ...] = (), dates: tuple[KeyDate, ...] = (),
          story_id: int = 3) -> Story:
    items = tuple(item(n, source=s) for n, s in enumerate(sources, start=1))
    return Story(id=story_id, title=title, summary=summary, url=url, kind=kind, tags=tags,
                 dates=dates, items=items, first_seen=WHEN, updated_at=WHEN)


def delivery(delivery_id: int = 7, *, story_id: int = 3, attempts: int = 1,
             created_at: datetime | None = None) -> Delivery:
    return Delivery(id=delivery_id, story_id=story_id, target=TARGET,
                    status=DeliveryStatus.IN_FLIGHT, attempts=attempts, next_attempt_at=None,
                    lease_until=None, external_id=None, last_error=None,
                    created_at=created_at or datetime.now(UTC), sent_at=None)


def text_fields(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, text) of every text object in the blocks, plus the fallback (read as mrkdwn)."""
    found: list[tuple[str, str]] = [("fallback", payload["text"])]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
                found.append((node["type"], node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload["blocks"])
    return found


def blocks_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in payload["blocks"] if b["type"] == kind]


def dispatcher(store: Store, clock: FixedClock, channels: dict[str, Any], owner: str = "w1",
               sleep: Any = None) -> Dispatcher:
    return Dispatcher(store, channels, clock=clock, policy=POLICY, owner=owner,
                      lease_seconds=300, sleep=sleep or (lambda s: None))


# --- render: Slack's limits --------------------------------------------------------------

LENGTHS = [0, 1, 149, 150, 151, 2999, 3000, 3001, 50_000]


def sized(n: int, words: bool) -> str:
    return ("Leadership cohort " * (n // 18 + 1))[:n] if words else "x" * n


@pytest.mark.parametrize("words", [True, False], ids=["words", "one-word"])
@pytest.mark.parametrize("n", LENGTHS)
def test_render_stays_within_block_kit_limits(tmp_path: Path, n: int, words: bool) -> None:
    many_tags = tuple(Tag(TagGroup.DOMAIN if i % 2 else TagGroup.PROGRAMME, f"tag-{i}",
                          "rule") for i in range(200))
    many_dates = tuple(KeyDate("applications-open", date(2026, 9, 1) + timedelta(days=i))
                       for i in range(40))
    labels = {f"tag-{i}": f"A rather long label for tag number {i}" for i in range(200)}
    s = story(sized(n, words), sized(n, words), tags=many_tags, dates=many_dates,
              sources=tuple(f"source-{i}-" + "s" * 40 for i in range(30)))
    payload = channel(None, tmp_path, labels=labels).render(s)

    assert 1 <= len(payload["blocks"]) <= 50
    (header,) = blocks_of(payload, "header")
    assert header["text"]["type"] == "plain_text"
    assert 1 <= len(header["text"]["text"]) <= 150
    for section in blocks_of(payload, "section"):
        assert 1 <= len(section["text"]["text"]) <= 3000
    assert bool([b for b in blocks_of(payload, "section") if b["block_id"] == "text"]) \
        == (n > 0)
    (context,) = blocks_of(payload, "context")
    assert context["elements"] and len(context["elements"]) <= 10
    for element in context["elements"]:
        assert 1 <= len(element["text"]) <= 2000
    for actions in blocks_of(payload, "actions"):
        for button in actions["elements"]:
            assert button["url"].startswith(("https://", "http://"))
            assert len(button["url"]) <= 3000
            assert len(button["text"]["text"]) <= 75
    assert payload["text"].strip() and len(payload["text"]) <= 3000
    if n == 0:
        assert header["text"]["text"] == "(untitled)"
        assert payload["text"] == "(untitled)"
    if 0 < n <= 150:
        assert header["text"]["text"] == sized(n, words).strip()
    if n > 150:
        assert header["text"]["text"].endswith("…")


@pytest.mark.parametrize(("url", "button"), [
    ("https://academy.example.org/news/1", True),
    ("http://academy.example.org/news/1", True),
    (None, False),
    ("", False),
    ("javascript:alert(1)", False),
    ("ftp://academy.example.org/file", False),
    ("mailto:news@academy.example.org", False),
    ("/news/1", False),
    ("https://academy.example.org/" + "a" * 3000, False),
])
def test_button_only_for_web_urls(tmp_path: Path, url: str | None, button: bool) -> None:
    payload = channel(None, tmp_path).render(story(url=url))
    actions = blocks_of(payload, "actions")
    assert bool(actions) == button
    if button:
        (el,) = actions[0]["elements"]
        assert el["type"] == "button" and el["url"] == url



DATED = (KeyDate("applications-close", date(2026, 9, 7)),
         KeyDate("event", date(2026, 9, 24), at_time="09:30–13:00",
                 place="the Brew House, Preston"))


def key_line(payload: dict[str, Any]) -> str:
    (block,) = [b for b in payload["blocks"] if b.get("block_id") == "key_date"]
    text: str = block["text"]["text"]
    return text


def test_an_event_shows_its_time_and_place_and_a_passed_deadline_is_marked(
        tmp_path: Path) -> None:
    slack = channel(None, tmp_path)
    text = key_line(slack.render(story(dates=DATED)))
    # The key date first (the next to come), bold, then the others.
    assert text.startswith("*📅 Applications close Mon 7 Sep*")
    assert "Event Thu 24 Sep, 09:30–13:00, the Brew House, Preston" in text
    # The same story rendered after the closing date: marked as gone, not as to come,
    # and after the date still ahead.
    slack.context.clock.advance(days=20)  # 9 September
    text = key_line(slack.render(story(dates=DATED)))
    assert "Applications close " not in text
    assert text.startswith("*📅 Event Thu 24 Sep, 09:30–13:00")
    assert text.index("Applications closed Mon 7 Sep") > text.index("Event Thu 24 Sep")


def test_only_three_dates_and_those_to_come_first(tmp_path: Path) -> None:
    gone = tuple(KeyDate("deadline", date(2026, 8, d)) for d in (1, 2, 3))
    text = key_line(channel(None, tmp_path).render(story(dates=(*gone, *DATED))))
    assert "Applications close Mon 7 Sep" in text and "Event Thu 24 Sep" in text
    # Three at most; of the dates gone, the latest.
    assert text.count("Deadline passed") == 1 and "Mon 3 Aug" in text


def test_the_key_date_is_chosen_by_kind_and_the_button_fits_the_kind(tmp_path: Path) -> None:
    dates = (KeyDate("applications-open", date(2026, 8, 27)),
             KeyDate("event", date(2026, 9, 2)), KeyDate("applications-close", date(2026, 9, 30)))
    slack = channel(None, tmp_path)
    cohort = slack.render(story(kind="cohort-opening", dates=dates))
    assert key_line(cohort).startswith("*📅 Applications close Wed 30 Sep*")
    assert blocks_of(cohort, "actions")[0]["elements"][0]["text"]["text"] == "Apply"
    event = slack.render(story(kind="event", dates=dates))
    assert key_line(event).startswith("*📅 Event Wed 2 Sep*")
    assert blocks_of(event, "actions")[0]["elements"][0]["text"]["text"] == "Book your place"
    coaching = slack.render(story(kind="coaching-offer"))
    assert blocks_of(coaching, "actions")[0]["elements"][0]["text"]["text"] \
        == "Request a coach"
    news = slack.render(story(kind="news", dates=dates))
    assert key_line(news).startswith("*📅 Applications open Thu 27 Aug*")
    assert blocks_of(news, "actions")[0]["elements"][0]["text"]["text"] == "Read more"
    # The key date comes before the text.
    ids = [b.get("block_id") for b in news["blocks"]]
    assert ids.index("key_date") < ids.index("text")
    assert not [b for b in slack.render(story())["blocks"] if b.get("block_id") == "key_date"]


def test_a_hostile_place_is_escaped(tmp_path: Path) -> None:
    kd = KeyDate("event", date(2026, 9, 24), place="<!channel> & <https://evil.example|here>")
    text = key_line(channel(None, tmp_path).render(story(dates=(kd,))))
    assert "<" not in text and "&lt;!channel&gt; &amp; &lt;https://evil.example|here&gt;" in text


def test_render_shows_sources_kind_tags_and_dates(tmp_path: Path) -> None:
    s = story(sources=("news", "academy-x-posts"), kind="event",
              tags=(Tag(TagGroup.DOMAIN, "coaching", "r"), Tag(TagGroup.KIND, "event", "r"),
                    Tag(TagGroup.PROGRAMME, "seacole", "r")),
              dates=(KeyDate("applications-open", date(2026, 8, 27)),))
    slack = channel(None, tmp_path, labels={"coaching": "Coaching & mentoring",
                                            "event": "Event", "seacole": "Seacole"})
    slack.context.brand = "North West Leadership Academy"
    slack.context.source_names = {"news": "Academy news"}
    payload = slack.render(s)
    (context,) = blocks_of(payload, "context")
    byline, tags = (e["text"] for e in context["elements"])
    # The academy and the sources' names, not their slugs; then kind, domains and
    # programmes in one line.
    assert byline == "North West Leadership Academy · Academy news, Academy x posts"
    assert tags == "Event · Coaching &amp; mentoring · Seacole"
    assert key_line(payload) == "*📅 Applications open Thu 27 Aug*"
    assert payload["story_id"] == 3 and payload["revision"] == 1


# --- render: feed text cannot mention, link or inject markup ------------------------------

HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "<@U123ABC>",
    "<#C123|general>",
    "<https://evil.example|click me>",
    "@here please",
    "@channel",
    "&amp; already",
    "*bold* _it_",
    "<!subteam^S0123|@team> and <mailto:a@evil.example|mail>",
    "@Everyone, @HERE and @channel!",
]


def assert_defused(kind: str, text: str) -> None:
    lowered = text.lower()
    for seq in ("<!", "<@", "<#", "<http", "<mailto"):
        assert seq not in lowered, (kind, text)
    assert not re.search(r"@(here|channel|everyone)\b", text, re.IGNORECASE), (kind, text)
    if kind in ("mrkdwn", "fallback"):
        assert "<" not in text and ">" not in text, (kind, text)
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), (kind, text)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_escaped_everywhere(tmp_path: Path, hostile: str) -> None:
    s = story(title=f"{hostile} in the title", summary=f"Summary: {hostile} end",
              sources=(f"{hostile} source", "news"), kind="hostile-kind")
    payload = channel(None, tmp_path, labels={"hostile-kind": hostile}).render(s)
    fields = text_fields(payload)
    assert {k for k, _ in fields} >= {"fallback", "plain_text", "mrkdwn"}
    for kind, text in fields:
        assert_defused(kind, text)
    # The reader still sees what the feed wrote, only defused.
    seen: dict[str, list[str]] = {kind: [] for kind, _ in fields}
    for kind, text in fields:
        shown = html.unescape(text) if kind != "plain_text" else text
        seen[kind].append(shown.replace(WJ, ""))
    assert f"{hostile} in the title" in seen["plain_text"]
    assert any(f"Summary: {hostile} end" == t for t in seen["mrkdwn"])
    assert any(f"{hostile} source, News" in t for t in seen["mrkdwn"])


def test_all_hostile_inputs_at_once_in_every_field(tmp_path: Path) -> None:
    everything = " ".join(HOSTILE)
    s = story(title=everything, summary=everything, sources=(everything,), kind="k",
              tags=(Tag(TagGroup.DOMAIN, "d", "r"),))
    payload = channel(None, tmp_path, labels={"k": everything, "d": everything}).render(s)
    for kind, text in text_fields(payload):
        assert_defused(kind, text)
    # Mention words keep their letters, with an invisible joiner after the "@".
    assert f"@{WJ}here" in payload["blocks"][0]["text"]["text"]


# --- send through the fake ---------------------------------------------------------------

def test_send_posts_one_message_with_blocks_text_and_metadata(slack: FakeSlack,
                                                              tmp_path: Path) -> None:
    ch = channel(slack, tmp_path)
    payload = ch.render(story())
    result = ch.send(payload, delivery=delivery(7, story_id=3))
    (msg,) = slack.posted()
    assert msg["channel"] == "C0NEWS"
    assert msg["blocks"] == payload["blocks"] and msg["text"] == payload["text"]
    assert msg["metadata"] == {"event_type": "herald_delivery",
                               "event_payload": {"delivery_id": 7, "story_id": 3,
                                                 "revision": 1}}
    assert isinstance(result, SendResult) and result.external_id == f"C0NEWS:{msg['ts']}"
    (call,) = slack.calls_to("chat.postMessage")
    assert call["unfurl_links"] is False and call["unfurl_media"] is False
    # A first attempt does not look at the history.
    assert slack.calls_to("conversations.history") == []


def test_send_to_a_channel_named_by_name(slack: FakeSlack, tmp_path: Path) -> None:
    ch = channel(slack, tmp_path, channel="#academy-news")
    result = ch.send(ch.render(story()), delivery=delivery())
    (msg,) = slack.posted("C0NEWS")
    assert result.external_id == f"C0NEWS:{msg['ts']}"


def test_identity_and_redacted_keep_the_token_out(slack: FakeSlack, tmp_path: Path) -> None:
    ch = channel(slack, tmp_path)
    assert "xoxb-good" not in ch.identity() and "xoxb-good" not in ch.redacted()
    assert ch.identity() == channel(slack, tmp_path).identity()
    assert ch.identity() != channel(slack, tmp_path, channel="C0OTHER").identity()
    assert "SLACK_BOT_TOKEN" in ch.redacted()


# --- errors ------------------------------------------------------------------------------

def test_rate_limited_carries_retry_after(slack: FakeSlack, tmp_path: Path) -> None:
    slack.fail_next.append(ratelimited(3))
    ch = channel(slack, tmp_path)
    with pytest.raises(RateLimited) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert info.value.retry_after == 3
    assert info.value.target == TARGET
    assert slack.posted() == []


@pytest.mark.parametrize(("token", "target_channel", "error"), [
    ("xoxb-bad", "C0NEWS", "invalid_auth"),
    ("xoxb-good", "C0MISSING", "channel_not_found"),
    (NOT_IN_CHANNEL_TOKEN, "C0NEWS", "not_in_channel"),
])
def test_permanent_errors_name_slacks_error(slack: FakeSlack, tmp_path: Path, token: str,
                                            target_channel: str, error: str) -> None:
    ch = channel(slack, tmp_path, token=token, channel=target_channel)
    with pytest.raises(PermanentSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert error in str(info.value)
    assert token not in str(info.value)
    assert slack.posted() == []


def test_missing_token_is_permanent_and_names_the_variable(slack: FakeSlack,
                                                           tmp_path: Path) -> None:
    ch = channel(slack, tmp_path, token="")
    with pytest.raises(PermanentSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert "SLACK_BOT_TOKEN" in str(info.value)
    assert slack.calls == []


@pytest.mark.parametrize("failure", [server_error(500), server_error(503), DROP],
                         ids=["500", "503", "drop"])
def test_server_errors_and_drops_are_transient(slack: FakeSlack, tmp_path: Path,
                                               failure: Any) -> None:
    slack.fail_next.append(failure)
    ch = channel(slack, tmp_path)
    with pytest.raises(TransientSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert not isinstance(info.value, RateLimited)
    # No retry inside the client: one call, nothing posted.
    assert len(slack.calls_to("chat.postMessage")) == 1 and slack.posted() == []


def test_slow_server_beyond_the_timeout_is_transient(slack: FakeSlack, tmp_path: Path) -> None:
    slack.delay_seconds = 3
    ch = channel(slack, tmp_path, timeout=1)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        ch.send(ch.render(story()), delivery=delivery())
    assert time.monotonic() - started < 2.5  # gave up at the timeout, not at the answer


def test_a_sub_second_timeout_still_sends(slack: FakeSlack, tmp_path: Path) -> None:
    # int(0.5) == 0 made the socket non-blocking: every call failed at once.
    ch = channel(slack, tmp_path, timeout=0.5)
    ch.send(ch.render(story()), delivery=delivery())
    assert len(slack.posted()) == 1


# --- never twice -------------------------------------------------------------------------

@pytest.mark.parametrize("target_channel", ["C0NEWS", "#academy-news"])
def test_retry_after_a_lost_answer_adopts_the_posted_message(
        slack: FakeSlack, tmp_path: Path, target_channel: str) -> None:
    ch = channel(slack, tmp_path, channel=target_channel)
    payload = ch.render(story())
    first = delivery(7)
    slack.fail_next.append(DROP_AFTER_PROCESSING)
    with pytest.raises(TransientSendError):
        ch.send(payload, delivery=first)
    (msg,) = slack.posted()  # it did go through; the client could not tell

    result = ch.send(payload, delivery=replace(first, attempts=2))
    assert slack.posted() == [msg]
    assert result.external_id == f"C0NEWS:{msg['ts']}"
    assert "adopted" in result.detail
    assert len(slack.calls_to("chat.postMessage")) == 1
    (history,) = slack.calls_to("conversations.history")
    assert history["channel"] == "C0NEWS"


def test_reclaimed_with_nothing_posted_posts_once(slack: FakeSlack, tmp_path: Path) -> None:
    ch = channel(slack, tmp_path)
    result = ch.send(ch.render(story()), delivery=delivery(7), reclaimed=True)
    (msg,) = slack.posted()
    assert result.external_id == f"C0NEWS:{msg['ts']}"
    assert len(slack.calls_to("conversations.history")) == 1
    assert msg["metadata"]["event_payload"]["delivery_id"] == 7


def test_reclaimed_does_not_adopt_another_deliverys_message(slack: FakeSlack,
                                                            tmp_path: Path) -> None:
    ch = channel(slack, tmp_path)
    payload = ch.render(story())
    other = ch.send(payload, delivery=delivery(7))
    mine = ch.send(payload, delivery=delivery(8), reclaimed=True)
    assert len(slack.posted()) == 2 and mine.external_id != other.external_id


# --- through the dispatcher and a real store ---------------------------------------------

NEW_TITLE = "Announcement number 1, now with a corrected date"


def test_an_edited_story_is_edited_in_place(store: Store, clock: FixedClock,
                                            slack: FakeSlack, tmp_path: Path) -> None:
    ch = channel(slack, tmp_path, on_update="edit")
    store.ingest([item(1)], routing((TARGET,)), clock.now())
    assert dispatcher(store, clock, {TARGET: ch}).run_once().sent == 1
    (msg,) = slack.posted()
    (sent,) = store.list_deliveries("sent")
    assert sent.external_id == f"C0NEWS:{msg['ts']}"

    clock.advance(minutes=5)
    store.ingest([item(1, title=NEW_TITLE)], routing((TARGET,)), clock.now())
    (s,) = store.list_stories()
    assert s.revision == 2 and s.title == NEW_TITLE
    stats = dispatcher(store, clock, {TARGET: ch}).run_once()
    assert (stats.sent, stats.updated, stats.failed, stats.dead) == (0, 1, 0, 0)
    (update,) = slack.updates
    assert update["ts"] == msg["ts"] and update["channel"] == "C0NEWS"
    assert update["blocks"][0]["type"] == "header"
    assert update["blocks"][0]["text"]["text"] == NEW_TITLE
    (now_posted,) = slack.posted()
    assert now_posted["ts"] == msg["ts"] and now_posted["blocks"][0]["text"]["text"] == NEW_TITLE
    assert len(slack.calls_to("chat.postMessage")) == 1
    (sent,) = store.list_deliveries("sent")
    assert sent.external_id == f"C0NEWS:{msg['ts']}"

    calls = len(slack.calls)
    stats = dispatcher(store, clock, {TARGET: ch}).run_once()
    assert (stats.sent, stats.updated, stats.failed) == (0, 0, 0)
    assert len(slack.calls) == calls and len(slack.updates) == 1


def test_an_edited_story_is_followed_in_its_thread(store: Store, clock: FixedClock,
                                                   slack: FakeSlack, tmp_path: Path) -> None:
    ch = channel(slack, tmp_path, on_update="thread")
    store.ingest([item(1)], routing((TARGET,)), clock.now())
    assert dispatcher(store, clock, {TARGET: ch}).run_once().sent == 1
    (msg,) = slack.posted()

    clock.advance(minutes=5)
    store.ingest([item(1, title=NEW_TITLE)], routing((TARGET,)), clock.now())
    stats = dispatcher(store, clock, {TARGET: ch}).run_once()
    assert stats.updated == 1 and stats.sent == 0
    assert slack.posted() == [msg] and slack.updates == []
    (reply,) = slack.replies(msg["ts"])
    assert reply["thread_ts"] == msg["ts"]
    assert f"Updated: {NEW_TITLE}" in reply["text"]
    assert reply["blocks"][0]["text"]["text"] == f"Updated: {NEW_TITLE}"
    assert dispatcher(store, clock, {TARGET: ch}).run_once().updated == 0
    assert len(slack.replies(msg["ts"])) == 1


def test_a_thread_reply_whose_answer_was_lost_is_not_posted_again(
        store: Store, clock: FixedClock, slack: FakeSlack, tmp_path: Path) -> None:
    ch = channel(slack, tmp_path, on_update="thread")
    store.ingest([item(1)], routing((TARGET,)), clock.now())
    dispatcher(store, clock, {TARGET: ch}).run_once()
    (msg,) = slack.posted()
    clock.advance(minutes=5)
    store.ingest([item(1, title=NEW_TITLE)], routing((TARGET,)), clock.now())
    slack.fail_next.append(DROP_AFTER_PROCESSING)  # the reply lands; the answer is lost
    assert dispatcher(store, clock, {TARGET: ch}).run_once().failed == 1
    clock.advance(hours=1)
    assert dispatcher(store, clock, {TARGET: ch}).run_once().updated == 1
    assert len(slack.replies(msg["ts"])) == 1
    (sent,) = store.list_deliveries("sent")
    assert sent.external_id.endswith(msg["ts"])


def test_dispatcher_spaces_sends_to_one_slack_target(store: Store, clock: FixedClock,
                                                     slack: FakeSlack, tmp_path: Path) -> None:
    waits: list[float] = []
    store.ingest([item(n) for n in range(1, 4)], routing((TARGET,)), clock.now())
    stats = dispatcher(store, clock, {TARGET: channel(slack, tmp_path)},
                       sleep=waits.append).run_once()
    assert stats.sent == 3 and len(slack.posted()) == 3
    assert len(waits) == 2  # before the second and the third send
    assert all(0 < w <= 1.0 for w in waits)


def test_crash_between_send_and_commit_posts_once(store: Store, clock: FixedClock,
                                                  slack: FakeSlack, tmp_path: Path) -> None:
    # The fake's message clock agrees with the test clock (the history is searched from the
    # delivery's creation time).
    slack.state.ts_base = int(clock.now().timestamp())
    store.ingest([item(1)], routing((TARGET,)), clock.now())
    dying = channel(slack, tmp_path)
    real_send = dying.send

    def send_then_die(payload: dict[str, Any], *, delivery: Delivery,
                      reclaimed: bool = False) -> SendResult:
        real_send(payload, delivery=delivery, reclaimed=reclaimed)
        raise SystemExit("worker died between the send and the commit")

    dying.send = send_then_die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        dispatcher(store, clock, {TARGET: dying}, owner="dies").run_once()
    (stuck,) = store.list_deliveries("in_flight")
    (msg,) = slack.posted()

    restarted = channel(slack, tmp_path)  # a new worker: nothing cached
    d2 = dispatcher(store, clock, {TARGET: restarted}, owner="w2")
    assert d2.run_once().sent == 0  # the dead worker's lease still holds
    clock.advance(minutes=6)
    stats = d2.run_once()
    assert stats.sent == 1 and stats.failed == 0
    assert slack.posted() == [msg]
    assert len(slack.calls_to("chat.postMessage")) == 1
    (sent,) = store.list_deliveries("sent")
    assert sent.id == stuck.id and sent.external_id == f"C0NEWS:{msg['ts']}"
    assert sent.attempts == 2


def test_cutting_never_splits_an_escape(tmp_path: Path) -> None:
    payload = channel(None, tmp_path).render(story(title="R&D " * 100, summary="a & b < c " * 600))
    header = blocks_of(payload, "header")[0]["text"]["text"]
    section = blocks_of(payload, "section")[0]["text"]["text"]
    assert len(header) <= 150 and len(section) <= 3000
    for text in (section, payload["text"]):
        body = text.rstrip("…")
        assert not re.search(r"&[a-z]{0,3}$", body), body[-12:]
        assert len(re.findall(r"&(?!amp;|lt;|gt;)", body)) == 0
