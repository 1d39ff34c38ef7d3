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
from bot.digest import Rendered, build_digest, last_complete_period, render_digest
from bot.digest_story import DigestBrand
from bot.model import Story
from bot.release import DIGEST

_SLACK_LINK = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
_SLACK_MARKS = ((re.compile(r"`([^`\n]+)`"), "code"),
                (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])"), "strong"),
                (re.compile(r"(?<![\w])_(?!\s)([^_\n]+?)_(?![\w])"), "em"),
                (re.compile(r"(?<![\w])~(?!\s)([^~\n]+?)~(?![\w])"), "s"))
_LINK_SCHEMES = ("https://", "http://", "mailto:")


def _unescape_slack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _slack_marks(text: str) -> str:
    """Escaped text with Slack's bold, italics, strike and code drawn."""
    html = str(escape(_unescape_slack(text)))
    for pattern, tag in _SLACK_MARKS:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    return html


def _slack_line(line: str) -> str:
    parts: list[str] = []
    pos = 0
    for m in _SLACK_LINK.finditer(line):
        parts.append(_slack_marks(line[pos:m.start()]))
        url = _unescape_slack(m.group(1))
        label = _unescape_slack(m.group(2) or m.group(1))
        if url.startswith(_LINK_SCHEMES):
            parts.append(f'<a href="{escape(url)}" rel="noopener noreferrer">{escape(label)}</a>')
        else:  # Herald never writes another kind; show it as the text it is
            parts.append(str(escape(m.group(0))))
        pos = m.end()
    parts.append(_slack_marks(line[pos:]))
    return "".join(parts)


def slack_text(mrkdwn: str) -> Markup:
    """Slack mrkdwn (as our channel writes it) to safe HTML, as Slack shows it: links
    (``<url|text>``, http(s) and mailto only), bold, italics, strike, code, quotes and line
    breaks; everything else escaped for the page."""
    lines = []
    for line in mrkdwn.split("\n"):
        if line.startswith(">"):  # a quote: Slack's own ">" (a written one is &gt;)
            lines.append(f'<span class="slack-quote">{_slack_line(line[1:].lstrip())}</span>')
        else:
            lines.append(_slack_line(line))
    return Markup("<br>".join(lines))  # every part above is escaped


def card_text(text: str) -> Markup:
    """Adaptive Card TextBlock markdown as Teams shows it: read with the same CommonMark
    parser (escapes undone, bold, italics, links and lists drawn), cleaned by nh3."""
    from channels._markdown import render_html

    return Markup(render_html(text.replace("\u200b", "")))  # nh3-cleaned


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
        if name == DIGEST and herald.settings.config.digest.enabled:
            try:
                email = digest_email(herald, story)
            except Exception as exc:  # a preview never takes the page down
                out.append(Preview(name, "email", error=f"cannot render: {exc}"))
                continue
            if email is None:  # pragma: no cover - the period is chosen to hold the story
                out.append(Preview(name, "email", error="not in a digest"))
                continue
            out.append(Preview(name, "email", {"subject": email.subject, "html": email.html,
                                               "text": email.text}))
            continue
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


def digest_email(herald: Herald, story: Story) -> Rendered | None:
    """The digest email, with this story in it, as a subscriber to every domain gets it
    (None: the story would not be in a digest)."""
    cfg = herald.settings.config.digest
    labels = {r.slug: r.label for r in herald.taxonomy.rules}
    period = last_complete_period(story.first_seen + timedelta(days=7), cfg.schedule,
                                  cfg.timezone)
    # "Opening soon" as of now: a date already gone is not shown as one to come.
    today = local_date(max(story.first_seen, herald.clock.now()), cfg.timezone)
    content = build_digest(None, [story], period, today, labels,
                           herald.taxonomy.slugs("domain"), config=herald.settings.config)
    if content is None:  # [digest] passed = "omit" and the story's dates have gone
        return None
    return render_digest(content, list_name=cfg.list_name, domains_label="every domain",
                         unsubscribe_url="#", preferences_url="#",
                         brand=DigestBrand.of(herald.settings.config,
                                              herald.post_context()["source_names"]))


def digest_html(herald: Herald, story: Story) -> str:
    """The digest email's HTML, with this story in it (see :func:`digest_email`)."""
    email = digest_email(herald, story)
    return email.html if email else "<p>This story would not be in a digest.</p>"
