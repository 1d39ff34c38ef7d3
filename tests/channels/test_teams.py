"""Teams: every card validates against the official Adaptive Card 1.4 schema, stays under
28 KB, shows feed text as written (no links, emphasis, lists or functions), and sends
through real httpx to the loopback Workflows webhook fake."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.clock import FixedClock
from bot.errors import PermanentSendError, RateLimited, TransientSendError
from bot.model import Delivery, DeliveryStatus, KeyDate, Story, Tag, TagGroup
from channels import ChannelContext, SendResult
from channels.teams import TeamsChannel, TeamsOptions
from tests.builders import item
from tests.conftest import reference_dir
from tests.fakes.teams_webhook import (
    DROP,
    FakeTeamsWebhook,
    running_teams_webhook,
    server_error,
    throttled,
)

WHEN = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
MAX_BYTES = 28 * 1024
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ZWSP = "\u200b"


@pytest.fixture
def teams() -> Iterator[FakeTeamsWebhook]:
    with running_teams_webhook() as fake:
        yield fake


@pytest.fixture(scope="module")
def card_schema() -> jsonschema.Draft6Validator:
    path = reference_dir("adaptive-card") / "schemas" / "1.4.0" / "adaptive-card.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema)


def channel(tmp_path: Path, url: str | None = "https://example.invalid/hook?sig=secret",
            labels: dict[str, str] | None = None, **options: Any) -> TeamsChannel:
    environ = {"TEAMS_WEBHOOK_URL": url} if url is not None else {}
    return TeamsChannel("staff-teams", TeamsOptions(**options),
                        ChannelContext(outbox_dir=tmp_path, environ=environ,
                                       labels=labels or {}, clock=FixedClock(WHEN)))


def story(title: str = "Applications open for the leadership programme",
          summary: str = "Join the next cohort: sessions run monthly from September.",
          *, url: str | None = "https://academy.example.org/news/1",
          sources: tuple[str, ...] = ("news",), kind: str = "news",
          tags: tuple[Tag, ...] = (), dates: tuple[KeyDate, ...] = ()) -> Story:
    items = tuple(item(n, source=s) for n, s in enumerate(sources, start=1))
    return Story(id=3, title=title, summary=summary, url=url, kind=kind, tags=tags,
                 dates=dates, items=items, first_seen=WHEN, updated_at=WHEN)


def delivery() -> Delivery:
    return Delivery(id=7, story_id=3, target="staff-teams", status=DeliveryStatus.IN_FLIGHT,
                    attempts=1, next_attempt_at=None, lease_until=None, external_id=None,
                    last_error=None, created_at=WHEN, sent_at=None)


def card_of(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["attachments"][0]["content"]


def size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def markdown_fields(card: dict[str, Any]) -> list[str]:
    """Every string Teams reads as Markdown: TextBlock text, Fact titles and values."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                for fact in node["facts"]:
                    found.extend([fact["title"], fact["value"]])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card["body"])
    return found


MANY_TAGS = tuple(Tag(TagGroup.DOMAIN if i % 2 else TagGroup.PROGRAMME, f"tag-{i}", "rule")
                  for i in range(200))
MANY_LABELS = {f"tag-{i}": f"A rather long label for tag number {i}" for i in range(200)}
DATES = (KeyDate("applications-open", date(2026, 8, 27)),
         KeyDate("applications-close", date(2026, 9, 30)),
         KeyDate("event", date(2026, 10, 12)),
         KeyDate("event", date(2026, 11, 12)))
HOSTILE_MD = ("[click](https://evil.example) **bold** _it_ ~~gone~~ `code` ![img](x.png)\n"
              "- item\n1. item\n2) item\n+ plus\n# heading\n> quote\n"
              "{{DATE(2017-02-14T06:08:39Z, SHORT)}} {{{TIME(2017-02-14T06:08:39Z)}}}")

STORIES: dict[str, Story] = {
    "minimal": story("Short news", "", url=None),
    "untitled": story("", "", url=None),
    "full": story(sources=("news", "blog"), kind="event",
                  tags=(Tag(TagGroup.DOMAIN, "coaching", "r"), Tag(TagGroup.KIND, "event", "r"),
                        Tag(TagGroup.PROGRAMME, "seacole", "r")), dates=DATES),
    "huge-summary": story(summary="Leadership cohort " * 2800),
    "hostile-markdown": story(HOSTILE_MD, HOSTILE_MD, sources=(HOSTILE_MD,)),
    "non-http-url": story(url="javascript:alert(1)"),
    "ftp-url": story(url="ftp://academy.example.org/file"),
    "unicode": story("Café ☕ — 学习 🚀 مرحبا 👩‍⚕️ naïve", "Ünïcödé 😀 text\u0301 in RTL עברית",
                     sources=("ニュース",)),
    "huge-everything": story("T" * 100_000, "word " * 20_000, tags=MANY_TAGS, dates=DATES,
                             sources=tuple(f"source-{i}" for i in range(50))),
}


# --- the card against the official schema ------------------------------------------------

def test_the_schema_rejects_a_broken_card(card_schema: jsonschema.Draft6Validator) -> None:
    # So that the validations below mean something.
    assert not card_schema.is_valid({"type": "AdaptiveCard", "version": "1.4",
                                     "body": [{"type": "TextBlok", "text": "x"}]})
    assert not card_schema.is_valid({"type": "AdaptiveCard", "version": "1.4",
                                     "body": [{"type": "FactSet",
                                               "facts": [{"title": "x"}]}]})


@pytest.mark.parametrize("name", list(STORIES))
def test_every_card_validates_against_the_1_4_schema(
        card_schema: jsonschema.Draft6Validator, tmp_path: Path, name: str) -> None:
    payload = channel(tmp_path, labels=MANY_LABELS).render(STORIES[name])
    card = card_of(payload)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in card_schema.iter_errors(card)]
    best = jsonschema.exceptions.best_match(card_schema.iter_errors(card))
    assert errors == [], best.message if best else errors
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["type"] == "TextBlock" and card["body"][0]["text"]
    assert size(payload) <= MAX_BYTES


def test_the_envelope_is_what_workflows_expects(tmp_path: Path) -> None:
    payload = channel(tmp_path).render(STORIES["full"])
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert attachment["content"]["version"] == "1.4"
    assert json.loads(json.dumps(payload)) == payload  # plain JSON


@pytest.mark.parametrize(("url", "action"), [
    ("https://academy.example.org/news/1", True),
    ("http://academy.example.org/news/1", True),
    (None, False),
    ("javascript:alert(1)", False),
    ("data:text/html,hi", False),
    ("ftp://academy.example.org/file", False),
])
def test_read_more_only_for_web_urls(tmp_path: Path, url: str | None, action: bool) -> None:
    card = card_of(channel(tmp_path).render(story(url=url)))
    if action:
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Read more",
                                    "url": url}]
    else:
        assert "actions" not in card


def blocks_by_id(card: dict[str, Any]) -> dict[str, str]:
    return {b["id"]: b["text"] for b in card["body"] if b["type"] == "TextBlock"}


def test_full_card_reads_in_slacks_order_without_a_fact_table(tmp_path: Path) -> None:
    labels = {"coaching": "Coaching", "seacole": "Seacole", "event": "Event"}
    ch = channel(tmp_path, labels=labels)
    ch.context.brand = "North West Leadership Academy"
    ch.context.source_names = {"blog": "The academy blog"}
    card = card_of(ch.render(STORIES["full"]))
    assert not [b for b in card["body"] if b["type"] == "FactSet"]
    shown = blocks_by_id(card)
    assert list(shown) == ["title", "key_date", "dates", "text", "byline", "tags"]
    # An event: its date is the key date, first; the others after, small.
    assert shown["key_date"] == "📅 Event Mon 12 Oct"
    assert shown["dates"] == "Applications open Thu 27 Aug · Applications close Wed 30 Sep"
    assert shown["byline"] == "North West Leadership Academy · News, The academy blog"
    assert shown["tags"] == "Event · Coaching · Seacole"
    assert card["actions"][0]["title"] == "Book your place"


def test_an_event_shows_its_time_and_place_and_a_passed_deadline_is_marked(
        tmp_path: Path) -> None:
    dated = (KeyDate("applications-close", date(2026, 9, 7)),
             KeyDate("event", date(2026, 9, 24), at_time="09:30–13:00",
                     place="the *Brew* House, Preston [map](https://evil.example)"))
    teams = channel(tmp_path)

    def dates() -> list[str]:
        shown = blocks_by_id(card_of(teams.render(story(dates=dated))))
        return [shown["key_date"], shown["dates"]]

    assert dates() == [
        "📅 Applications close Mon 7 Sep",
        r"Event Thu 24 Sep, 09:30–13:00, the \*Brew\* House, Preston "
        r"\[map\]\(https://evil.example\)"]
    teams.context.clock.advance(days=20)  # 9 September: the closing date has gone
    assert dates()[1] == "Applications closed Mon 7 Sep"
    assert dates()[0].startswith("📅 Event Thu 24 Sep, 09:30–13:00")

# --- 28 KB, however long the story -------------------------------------------------------

HUGE: dict[str, Story] = {
    "words": story("word " * 20_000, "word " * 20_000, tags=MANY_TAGS,
                   sources=tuple(f"source-{i}" for i in range(200))),
    "one-word": story("x" * 100_000, "y" * 100_000, tags=MANY_TAGS),
    "emoji": story("🚀" * 100_000, "👩‍⚕️" * 30_000, tags=MANY_TAGS),
    "markdown": story("*_[" * 34_000, "\\*_[](){}" * 12_000, tags=MANY_TAGS,
                      sources=("*_" * 1000,)),
    "controls": story("\x01" * 100_000, "\x02\u2028" * 50_000, tags=MANY_TAGS),
    "lines": story("- a\n" * 25_000, "1. b\n" * 20_000, tags=MANY_TAGS),
}


@pytest.mark.parametrize("name", list(HUGE))
def test_payload_stays_under_28_kb(card_schema: jsonschema.Draft6Validator, tmp_path: Path,
                                   teams: FakeTeamsWebhook, name: str) -> None:
    ch = channel(tmp_path, teams.url, labels=MANY_LABELS)
    payload = ch.render(HUGE[name])
    assert size(payload) <= MAX_BYTES
    assert card_schema.is_valid(card_of(payload))
    texts = blocks_by_id(card_of(payload))
    assert texts["title"] and texts["text"]  # the summary is cut, not dropped
    # What httpx actually puts on the wire is under the limit too.
    ch.send(payload, delivery=delivery())
    (_, _, _, raw) = teams.requests[-1]
    assert len(raw) <= MAX_BYTES
    assert teams.received[-1] == payload


# --- Markdown neutralised ----------------------------------------------------------------

PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
SPECIAL = set("*_[]()`~#>|!")


def unescaped_specials(text: str) -> list[str]:
    """Markdown characters that are not escaped with a backslash (CommonMark rules)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in PUNCT:
            i += 2
            continue
        if text[i] in SPECIAL:
            out.append(text[i])
        i += 1
    return out


def as_shown(text: str) -> str:
    """What a CommonMark reader shows for escaped text (escapes and ZWSP removed)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace(ZWSP, "")


MARKDOWN = [
    "[click](https://evil.example)",
    "**bold**",
    "_it_",
    "- item",
    "1. item",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
    "{{{TIME(2017-02-14T06:08:39Z)}}}",
    "![img](https://evil.example/x.png)",
    "~~struck~~ and `code`",
    "# heading",
    "> quote",
    "+ plus item",
    "12) item",
    "a \\[b\\] c \\\\",
    "intro\n- item\n1. item\n  2. nested",
    "intro\r- item\r1. item",
    "intro\r\n* star item\r\n3. item",
]


def assert_neutralised(text: str) -> None:
    assert unescaped_specials(text) == [], text
    assert "](" not in text and "**" not in text and "{{" not in text and "}}" not in text
    for line in text.split("\n"):
        assert "\r" not in line, text
        assert not re.match(r"\s*([-+*]|\d+[.)])(\s|$)", line), text


@pytest.mark.parametrize("hostile", MARKDOWN)
def test_feed_markdown_is_shown_as_written(tmp_path: Path, hostile: str) -> None:
    s = story(hostile, f"{hostile}\nmore", sources=(hostile, "news"), kind="k",
              tags=(Tag(TagGroup.DOMAIN, "d", "r"),))
    card = card_of(channel(tmp_path, labels={"k": hostile, "d": hostile}).render(s))
    fields = markdown_fields(card)
    for text in fields:
        assert_neutralised(text)
    shown = [as_shown(t) for t in fields]
    # fit() keeps the lines of text that has "\n", and folds the rest onto one line.
    title = re.sub(r"\r\n?", "\n", hostile).strip() if "\n" in hostile \
        else " ".join(hostile.split())
    assert shown[0] == title
    assert shown[1] == re.sub(r"\r\n?", "\n", f"{hostile}\nmore").strip()


def test_all_hostile_markdown_at_once(tmp_path: Path) -> None:
    card = card_of(channel(tmp_path, labels={"k": HOSTILE_MD}).render(
        story(HOSTILE_MD, HOSTILE_MD, sources=(HOSTILE_MD,), kind="k")))
    for text in markdown_fields(card):
        assert_neutralised(text)


# --- send --------------------------------------------------------------------------------

def test_send_posts_the_envelope(teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    ch = channel(tmp_path, teams.url)
    payload = ch.render(STORIES["full"])
    result = ch.send(payload, delivery=delivery())
    assert isinstance(result, SendResult) and result.external_id
    assert teams.received == [payload]
    assert teams.cards == [card_of(payload)]
    (method, _, headers, _) = teams.requests[0]
    assert method == "POST" and headers["Content-Type"].startswith("application/json")


def test_throttled_is_rate_limited_with_retry_after(teams: FakeTeamsWebhook,
                                                    tmp_path: Path) -> None:
    teams.fail_next.append(throttled(7))
    ch = channel(tmp_path, teams.url)
    with pytest.raises(RateLimited) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert info.value.retry_after == 7
    assert "secret" not in str(info.value)
    assert teams.received == []


@pytest.mark.parametrize("failure", [server_error(500), server_error(503),
                                     (408, {"error": {"code": "RequestTimeout"}}, {}), DROP],
                         ids=["500", "503", "408", "drop"])
def test_server_errors_and_drops_are_transient(teams: FakeTeamsWebhook, tmp_path: Path,
                                               failure: Any) -> None:
    teams.fail_next.append(failure)
    ch = channel(tmp_path, teams.url)
    with pytest.raises(TransientSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert not isinstance(info.value, RateLimited)
    assert "secret" not in str(info.value)
    assert teams.received == []


def test_bad_request_is_permanent(teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    teams.fail_next.append((400, {"error": {"code": "InvalidRequestContent"}}, {}))
    ch = channel(tmp_path, teams.url)
    with pytest.raises(PermanentSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert "400" in str(info.value) and "secret" not in str(info.value)


def test_wrong_signature_is_permanent(teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    ch = channel(tmp_path, teams.url.replace("sig=secret", "sig=stale"))
    with pytest.raises(PermanentSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert "401" in str(info.value) and "stale" not in str(info.value)


def test_slow_webhook_beyond_the_timeout_is_transient(teams: FakeTeamsWebhook,
                                                      tmp_path: Path) -> None:
    teams.delay_seconds = 2
    ch = channel(tmp_path, teams.url, timeout=0.5)
    with pytest.raises(TransientSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert "timed out" in str(info.value)


def test_missing_webhook_url_is_permanent_and_names_the_variable(
        teams: FakeTeamsWebhook, tmp_path: Path) -> None:
    ch = channel(tmp_path, url=None)
    with pytest.raises(PermanentSendError) as info:
        ch.send(ch.render(story()), delivery=delivery())
    assert "TEAMS_WEBHOOK_URL" in str(info.value)
    assert teams.requests == []


# --- identity ----------------------------------------------------------------------------

def test_redacted_hides_the_signature_and_identity_is_stable(teams: FakeTeamsWebhook,
                                                             tmp_path: Path) -> None:
    one = channel(tmp_path, teams.url)
    assert "secret" not in one.redacted() and "sig" not in one.redacted()
    assert "127.0.0.1" in one.redacted() and "TEAMS_WEBHOOK_URL" in one.redacted()
    assert "secret" not in one.identity()
    assert one.identity() == channel(tmp_path, teams.url).identity()
    other = channel(tmp_path, teams.url.replace("/workflows/abc/", "/workflows/xyz/"))
    assert other.identity() != one.identity()
    assert channel(tmp_path, teams.url.replace("sig=secret", "sig=other")).identity() \
        != one.identity()


def test_dates_in_the_future_of_the_card_are_just_text(tmp_path: Path) -> None:
    # A key date is rendered by Herald, never as a {{DATE()}} function for the client.
    kd = KeyDate("applications-open", (WHEN + timedelta(days=7)).date())
    card = card_of(channel(tmp_path).render(story(dates=(kd,))))
    assert "{{" not in json.dumps(card)
