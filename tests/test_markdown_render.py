"""Comms' Markdown drawn faithfully for each place (channels/_markdown.py): Slack mrkdwn,
Adaptive Card TextBlock markdown and the digest's HTML, each within its limit and never cut
inside a link or an escape; links only to http(s) and mailto; feed text still escaped; and
the API preview showing exactly what is sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.model import Story
from bot.queue import Draft, announcement_item, announcement_story
from channels import ChannelContext
from channels._markdown import markdown_of, render_html, render_text
from channels.slack import SLACK_STYLE, SlackChannel, SlackOptions
from channels.teams import CARD_STYLE, TeamsChannel, TeamsOptions
from tests.builders import item
from tests.fakes.slack_server import FakeSlack
from tests.web_helpers import APPROVER, EDITOR, make_web

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ACCEPT = "**Apply** by *Friday*: [the form](https://academy.example.org/apply)"
RICH = ("# Cohort 6\n\n**Apply** by *Friday*: [the form](https://academy.example.org/apply)\n"
        "Second line\n\n- one\n- two with `code`\n\n1. first\n2. second\n\n"
        "![the poster](https://academy.example.org/poster.png)")
HOSTILE = ("[click](javascript:alert(1)) [d](data:text/html,hi) <script>alert(1)</script> "
           "@here <!channel> <@U123> & {{DATE(2017-02-14T06:08:39Z, SHORT)}} "
           "[ok](https://a.example/x?a=1&b=<2>|3)")


def comms_story(body: str, *, kind: str = "cohort-opening") -> Story:
    draft = Draft(title="Cohort 6 opens", body=body, url="https://academy.example.org/c6",
                  kind=kind, domains=[], targets=["x"])
    it = announcement_item(1, draft, "ed@example.org", WHEN, WHEN)
    return announcement_story(draft, it, labels={}, chosen_by="ed", story_id=9, now=WHEN)


def context(tmp_path: Path) -> ChannelContext:
    return ChannelContext(outbox_dir=tmp_path, clock=FixedClock(WHEN),
                          environ={"SLACK_BOT_TOKEN": "xoxb-good"})


def slack_section(payload: dict[str, Any]) -> str:
    (block,) = [b for b in payload["blocks"] if b.get("block_id") == "text"]
    text: str = block["text"]["text"]
    return text


def card_text_block(payload: dict[str, Any]) -> str:
    card = payload["attachments"][0]["content"]
    (text,) = [b["text"] for b in card["body"] if b.get("id") == "text"]
    return str(text)


# -- each place ------------------------------------------------------------------------------

def test_slack_mrkdwn_keeps_bold_italics_links_lists_and_line_breaks() -> None:
    text = render_text(RICH, SLACK_STYLE, 3000)
    assert text.startswith("*Cohort 6*\n\n*Apply* by _Friday_: "
                           "<https://academy.example.org/apply|the form>\nSecond line")
    assert "\n\n• one\n• two with `code`\n\n1. first\n2. second\n\n" in text
    assert text.endswith("<https://academy.example.org/poster.png|the poster>")


def test_card_markdown_keeps_what_a_textblock_supports() -> None:
    text = render_text(RICH, CARD_STYLE, 2000)
    assert "**Apply** by _Friday_: [the form](https://academy.example.org/apply)" in text
    assert "\n\n- one\n- two with code\n\n1. first\n2. second" in text
    assert text.startswith("**Cohort 6**")


def test_email_html_is_cleaned_and_keeps_the_markup() -> None:
    html = render_html(RICH)
    assert "<strong>Apply</strong> by <em>Friday</em>: " \
        '<a href="https://academy.example.org/apply" rel="noopener noreferrer">the form</a>' \
        "<br>" in html
    assert "<ul><li>one</li>" in html and "<ol><li>first</li>" in html
    assert '<img src="https://academy.example.org/poster.png" alt="the poster">' in html


def test_email_embeds_only_https_images_and_links_the_others() -> None:
    html = render_html("![poster](https://academy.example.org/p.png) and "
                       "![plain](http://x.example/p.png)")
    assert '<img src="https://academy.example.org/p.png" alt="poster">' in html
    assert "<img" not in html.split(" and ")[1]
    assert '<a href="http://x.example/p.png" rel="noopener noreferrer">plain</a>' in html


def test_hostile_markdown_links_nothing_but_the_web_and_escapes_the_rest() -> None:
    slack = render_text(HOSTILE, SLACK_STYLE, 3000)
    assert "javascript" not in slack.split("click")[0]
    assert "<javascript" not in slack and "<data:" not in slack
    assert "<!" not in slack and "<@" not in slack and "&lt;script&gt;" in slack
    assert "@\u2060here" in slack
    # The one web link: what would end the link early is encoded.
    assert "<https://a.example/x?a=1&amp;b=%3C2%3E%7C3|ok>" in slack
    assert len(re.findall(r"<[^&]", slack)) == 1
    card = render_text(HOSTILE, CARD_STYLE, 2000)
    assert "](javascript" not in card and "](data" not in card
    assert "{{" not in card and "[ok](https://a.example/x?a=1&b=%3C2%3E%7C3)" in card
    html = render_html(HOSTILE)
    assert "<script" not in html and 'href="javascript' not in html and 'href="data' not in html
    assert html.count("<a ") == 1


@pytest.mark.parametrize("style", [SLACK_STYLE, CARD_STYLE], ids=["slack", "card"])
def test_a_cut_never_breaks_a_link_an_escape_or_a_mark(style: Any) -> None:
    body = ("**Bold & <brave>** then _quite_ a [long link label](https://academy.example.org/"
            "a/very/long/path) and more & more words " * 6)
    full = render_text(body, style, 100_000)
    for limit in range(1, len(full) + 5):
        text = render_text(body, style, limit)
        assert len(text) <= limit or text == "…"
        if style is SLACK_STYLE:
            # Every "<" opens a whole link; every "&" is a whole escape.
            assert all(re.fullmatch(r"<https://[^|>]+\|[^<>]+>", m)
                       for m in re.findall(r"<[^>]*>?", text)), text
            assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
            assert text.count("*") % 2 == 0, text
        else:
            assert not re.search(r"\[[^\]]*$", text.replace("\\[", "")), text
            assert text.count("**") % 2 == 0, text


def test_feed_text_is_never_read_as_markdown(tmp_path: Path) -> None:
    feed = Story(id=1, title="t", summary="**not bold** [x](https://evil.example)",
                 url=None, kind="news", tags=(), dates=(), items=(item(1),),
                 first_seen=WHEN, updated_at=WHEN)
    assert markdown_of(feed) is None
    slack = SlackChannel("s", SlackOptions(channel="C1"), context(tmp_path)).render(feed)
    assert slack_section(slack) == "**not bold** [x](https://evil.example)"
    teams = TeamsChannel("t", TeamsOptions(), context(tmp_path)).render(feed)
    assert card_text_block(teams) == r"\*\*not bold\*\* \[x\]\(https://evil.example\)"


def test_a_comms_story_is_drawn_from_its_markdown_in_each_channel(tmp_path: Path) -> None:
    story = comms_story(ACCEPT)
    assert markdown_of(story) == ACCEPT
    slack = SlackChannel("s", SlackOptions(channel="C1"), context(tmp_path)).render(story)
    assert slack_section(slack) == \
        "*Apply* by _Friday_: <https://academy.example.org/apply|the form>"
    teams = TeamsChannel("t", TeamsOptions(), context(tmp_path)).render(story)
    assert card_text_block(teams) == \
        "**Apply** by _Friday_: [the form](https://academy.example.org/apply)"
    assert teams["attachments"][0]["content"]["actions"][0]["title"] == "Apply"


def test_inline_images_become_image_blocks_where_the_place_has_them(tmp_path: Path) -> None:
    story = comms_story("See ![the poster](https://academy.example.org/p.png) and "
                        "![local](http://x.example/p.png)")
    slack = SlackChannel("s", SlackOptions(channel="C1"), context(tmp_path)).render(story)
    assert [b["image_url"] for b in slack["blocks"] if b["type"] == "image"] == [
        "https://academy.example.org/p.png"]
    card = TeamsChannel("t", TeamsOptions(), context(tmp_path)).render(story)
    assert [b["url"] for b in card["attachments"][0]["content"]["body"]
            if b["type"] == "Image"] == ["https://academy.example.org/p.png"]


def test_a_long_announcement_is_cut_within_slacks_section_limit(tmp_path: Path) -> None:
    body = "\n".join(f"- **item {n}** [link {n}](https://academy.example.org/{n})"
                     for n in range(250))
    slack = SlackChannel("s", SlackOptions(channel="C1"), context(tmp_path)).render(
        comms_story(body))
    text = slack_section(slack)
    assert 2900 < len(text) <= 3000 and text.endswith(("…", "…*"))
    assert text.count("<") == text.count(">")


def test_a_long_announcement_takes_several_sections_split_between_paragraphs(
        tmp_path: Path) -> None:
    paragraphs = [f"Part {n}: **bold** and [a link](https://academy.example.org/{n}) "
                  + "word " * 250 for n in range(4)]
    slack = SlackChannel("s", SlackOptions(channel="C1"), context(tmp_path)).render(
        comms_story("\n\n".join(paragraphs)))
    sections = [b for b in slack["blocks"] if str(b.get("block_id", "")).startswith("text")]
    assert [b["block_id"] for b in sections] == ["text", "text-2"]
    texts = [b["text"]["text"] for b in sections]
    assert all(len(t) <= 3000 for t in texts)
    # Nothing lost, nothing cut: every part is there, whole.
    assert "…" not in "".join(texts)
    for n in range(4):
        assert f"Part {n}: *bold* and <https://academy.example.org/{n}|a link>" in "".join(texts)


# -- through the web app ---------------------------------------------------------------------


def test_the_api_preview_shows_the_markdown_as_each_place_draws_it(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack) -> None:
    web = make_web(tmp_path, clock, environ={
        "SLACK_BOT_TOKEN": "xoxb-good", "TEAMS_WEBHOOK_URL": "http://127.0.0.1:9/hook"},
        targets=[{"name": "news-slack", "type": "slack", "channel": "academy-news",
                  "base_url": slack.base_url},
                 {"name": "staff-teams", "type": "teams"}],
        routes=[{"to": ["news-slack"]}])
    try:
        ed = web.staff(EDITOR)
        ann_id = web.compose(ed, targets=["news-slack", "staff-teams", "digest"], body=ACCEPT)
        api = ed.api("GET", f"/api/announcements/{ann_id}/preview").json()
        by = {p["channel"]: p for p in api}
        assert set(by) == {"slack", "teams", "email"} and not any(p["error"] for p in api)
        slack_text = slack_section(by["slack"]["payload"])
        assert "*Apply*" in slack_text
        assert "<https://academy.example.org/apply|the form>" in slack_text
        card = card_text_block(by["teams"]["payload"])
        assert "**Apply**" in card and "[the form](https://academy.example.org/apply)" in card
        html = by["email"]["payload"]["html"]
        assert re.search(r"<strong[^>]*>Apply</strong>", html)
        assert re.search(r'<a href="https://academy.example.org/apply"[^>]*>the form</a>', html)
        # The page draws the same: bold and the link, in Slack's and Teams' previews.
        page = ed.get(f"/queue/{ann_id}").text
        assert page.count("<strong>Apply</strong>") >= 2
        assert page.count('<a href="https://academy.example.org/apply"') >= 2
        assert slack.calls == []
    finally:
        web.close()


def test_an_approved_announcement_goes_out_with_its_markdown(
        tmp_path: Path, clock: FixedClock, slack: FakeSlack) -> None:
    web = make_web(tmp_path, clock, environ={"SLACK_BOT_TOKEN": "xoxb-good"}, targets=[
        {"name": "news-slack", "type": "slack", "channel": "C0NEWS",
         "base_url": slack.base_url}], routes=[{"to": ["news-slack"]}])
    try:
        ed, ap = web.staff(EDITOR), web.staff(APPROVER)
        ann_id = web.compose(ed, targets=["news-slack"], body=ACCEPT)
        assert ed.post(f"/queue/{ann_id}/submit").status_code == 303
        assert ap.post(f"/queue/{ann_id}/approve").status_code == 303
        story_id = web.store.get_announcement(ann_id).story_id
        assert markdown_of(web.store.get_story(story_id)) == ACCEPT
        assert web.herald.dispatch().sent == 1
        (msg,) = slack.posted()
        assert "<https://academy.example.org/apply|the form>" in slack_section(msg)
        assert msg["blocks"][-1]["elements"][0]["text"]["text"] == "Apply"
    finally:
        web.close()


def test_emphasis_nested_thousands_deep_is_flattened_before_nh3(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A 20,000-character body can nest emphasis 6,000 deep; nh3 takes the square of that.
    import bot.queue as queue
    from bot.text import MAX_DEPTH, html_depth

    depths: list[int] = []
    real = queue.sanitize_html

    def spy(value: str | None) -> str:
        depths.append(html_depth(value or "", limit=10**9))
        return real(value)

    monkeypatch.setattr(queue, "sanitize_html", spy)
    body = "*a " * 6000 + "b" + "*" * 6000
    assert "a a a" in queue.markdown_text(body)
    assert depths and max(depths) <= MAX_DEPTH
    assert queue.markdown_html("*fine* **words**").strip() == (
        "<p><em>fine</em> <strong>words</strong></p>")
