"""Previews: a story drawn as each target will show it.

Each preview starts from the payload the channel itself renders (``channel.render``), so
what comms approve is what goes out: the Slack blocks drawn as a Slack message, the Teams
Adaptive Card drawn as a card, the digest entry as the email's own HTML, and for other
targets the payload as JSON. The drawing turns the channel's escaped text back into what
a reader sees, and Jinja escapes it again for the page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from markupsafe import Markup, escape

from bot.app import Herald
from bot.clock import local_date
from bot.digest import build_digest, last_complete_period, render_digest
from bot.model import Story

_SLACK_BOLD = re.compile(r"\*([^*\n]+)\*")
_SLACK_ITALIC = re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])")
_CARD_ESCAPE = re.compile(r"\\(.)")


def slack_text(mrkdwn: str) -> Markup:
    """Slack mrkdwn (as our channel writes it) to safe HTML: entities undone, then escaped
    for the page, then bold and italics drawn."""
    shown = mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    html = str(escape(shown))
    html = _SLACK_BOLD.sub(r"<strong>\1</strong>", html)
    html = _SLACK_ITALIC.sub(r"<em>\1</em>", html)
    return Markup(html.replace("\n", "<br>"))


def card_text(text: str) -> str:
    """Adaptive Card text as Teams shows it: our Markdown escapes undone, braces joined."""
    return _CARD_ESCAPE.sub(r"\1", text).replace("\u200b", "")


@dataclass
class Preview:
    target: str
    channel: str  # slack, teams, file, console, …
    payload: dict[str, Any] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def json(self) -> str:
        return json.dumps(self.payload, indent=2, ensure_ascii=False, default=str)

    @property
    def card(self) -> dict[str, Any] | None:
        if self.channel != "teams" or not self.payload:
            return None
        return self.payload["attachments"][0]["content"]


def previews(herald: Herald, story: Story, targets: list[str]) -> list[Preview]:
    """One preview per target that the story goes (or would go) to."""
    out: list[Preview] = []
    for name in targets:
        channel = herald.channels.get(name)
        if channel is None:
            out.append(Preview(name, "unknown", error=f"target {name!r} is not enabled"))
            continue
        try:
            payload = channel.render(story)
        except Exception as exc:  # a preview never takes the page down
            out.append(Preview(name, channel.name, error=f"cannot render: {exc}"))
            continue
        out.append(Preview(name, channel.name, payload))
    return out


def digest_html(herald: Herald, story: Story) -> str:
    """The digest email, with this story in it, as a subscriber to every domain gets it."""
    cfg = herald.settings.config.digest
    labels = {r.slug: r.label for r in herald.taxonomy.rules}
    period = last_complete_period(story.first_seen + timedelta(days=7), cfg.schedule,
                                  cfg.timezone)
    # "Opening soon" as of now: a date already gone is not shown as one to come.
    today = local_date(max(story.first_seen, herald.clock.now()), cfg.timezone)
    content = build_digest(None, [story], period, today, labels,
                           herald.taxonomy.slugs("domain"))
    if content is None:  # pragma: no cover - the period is chosen to hold the story
        return "<p>This story would not be in a digest.</p>"
    rendered = render_digest(content, list_name=cfg.list_name, domains_label="every domain",
                             unsubscribe_url="#", preferences_url="#")
    return rendered.html
