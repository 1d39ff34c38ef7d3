"""Microsoft Teams: each story as an Adaptive Card posted to a Workflows webhook.

Setup: in Teams, open the channel's "Workflows", pick "Post to a channel when a
webhook request is received", finish the flow and copy its URL into the
environment (the old Office 365 connector webhooks are retired)::

    [[targets]]
    name = "staff-teams"
    type = "teams"
    webhook_env = "TEAMS_WEBHOOK_URL"   # the default

The card (version 1.4: Workflows shows "couldn't be displayed" for 1.5 cards)
reads in Slack's order (channels._post): the title, the key date, the text, the academy
and sources, tags in one line, and a button labelled by kind, wrapped in the message
envelope Workflows expects. Every card validates against the official 1.4 schema and
stays under Teams' 28 KB limit, however long the story. TextBlock text is read as
Markdown by Teams, so feed text is escaped: it cannot make links, emphasis, lists or
``{{DATE()}}`` functions. Comms' own announcements are drawn from their Markdown as
TextBlock markdown (channels._markdown: bold, italics, links, lists, line breaks).

The webhook answers 202 with an empty body: any 2xx is sent. 429 and 5xx are
retried with backoff (Retry-After honoured); 401 and 403 (a wrong or withdrawn signature)
pause the target (``TargetAuthError``, :mod:`bot.pause`); other 4xx are permanent. A webhook
cannot edit what it posted, so a story that changes later is not posted again.

A reminder before a key date is a new card (webhooks cannot reply in a thread): its first
line names the post it follows ("Reminder about “…”, posted Tue 1 Dec"), then the
reminder's line in bold (channels._reminder), then the story's button. A webhook cannot
read the channel either, so a reminder whose answer was lost may show twice; the outbox
tries it again only after a failure it saw.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from bot.clock import local_date
from bot.config import EnvName
from bot.errors import PermanentSendError, RateLimited, TargetAuthError, TransientSendError
from bot.model import Delivery, Reminder, Story
from bot.sources.fetch import parse_retry_after
from channels import BaseChannel, SendResult
from channels._markdown import Style, images, markdown_of, render_text
from channels._post import byline, key_date_line, other_dates, tag_line, when
from channels._reminder import reminder_text
from channels._text import fit

CARD_VERSION = "1.4"
MAX_PAYLOAD_BYTES = 28 * 1024
TITLE_MAX = 200
SUMMARY_MAX = 2000
FACT_MAX = 300

_MD_CHARS = re.compile(r"([\\`*_\[\]()~#>|!])")
_LIST_START = re.compile(r"^(\s*)(?:([-+])|(\d+)([.)]))(?=\s)", re.MULTILINE)
_LINE_BREAK = re.compile(r"\r\n?")


def _escape_list_marker(m: re.Match[str]) -> str:
    # CommonMark escapes the punctuation: "\- item", "1\. item" ("\1." shows the backslash).
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


def escape_card_text(text: str) -> str:
    """Text that Teams' Markdown shows as written: no links, emphasis, lists or functions."""
    # A lone "\r" starts a line too (the Adaptive Cards docs write lists with it).
    text = _LINE_BREAK.sub("\n", text)
    text = _MD_CHARS.sub(r"\\\1", text)
    text = _LIST_START.sub(_escape_list_marker, text)
    # Adaptive Cards expand {{DATE(...)}} and {{TIME(...)}}: break every pair of braces
    # apart (str.replace left "{{" in "{{{").
    return re.sub(r"\}(?=\})", "}\u200b", re.sub(r"\{(?=\{)", "{\u200b", text))


def _card_link(url: str, label: str) -> str:
    """``[label](url)``: the URL with the characters that would end it encoded."""
    target = url.replace("(", "%28").replace(")", "%29").replace("<", "%3C") \
        .replace(">", "%3E")
    return f"[{label}]({target})"


#: Comms' Markdown as TextBlock markdown (channels._markdown): what TextBlock supports,
#: **bold**, _italic_, [text](url), lists and line breaks; the rest is escaped.
CARD_STYLE = Style(escape=escape_card_text, prepare=lambda text: text, strong=("**", "**"),
                   em=("_", "_"), code=("", ""), link=_card_link, bullet="- ")


class TeamsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_env: EnvName = "TEAMS_WEBHOOK_URL"
    timeout: float = Field(default=15.0, gt=0, le=120)


def card_payload(card: dict[str, Any]) -> dict[str, Any]:
    """The message envelope a Workflows webhook expects around a card."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": card}]}


class TeamsChannel(BaseChannel):
    name: ClassVar[str] = "teams"
    max_title: ClassVar[int] = TITLE_MAX
    max_text: ClassVar[int] = SUMMARY_MAX
    rate_per_sec: ClassVar[float] = 2.0
    format: ClassVar[str] = "adaptive-card-1.4"
    supports_reminders: ClassVar[bool] = True
    Options: ClassVar[type[BaseModel]] = TeamsOptions
    options: TeamsOptions

    @property
    def webhook_url(self) -> str:
        url = self.context.environ.get(self.options.webhook_env, "")
        if not url:
            raise TargetAuthError(f"the environment variable {self.options.webhook_env} "
                                  f"is not set; the teams target {self.target} needs its "
                                  "webhook URL", target=self.target)
        return url

    def identity(self) -> str:
        url = self.context.environ.get(self.options.webhook_env, "")
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return f"teams:{digest}"

    def redacted(self) -> str:
        url = self.context.environ.get(self.options.webhook_env, "")
        host = urlsplit(url).hostname or "?"
        return f"teams:https://{host}/… (from ${self.options.webhook_env})"

    # -- render (pure) --------------------------------------------------------------------

    def card(self, story: Story, summary_limit: int = SUMMARY_MAX) -> dict[str, Any]:
        """The card, in the same order as Slack's message: title, key date, text, images,
        who it is from, tags in one line, and the button."""
        today = self.context.today()
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": escape_card_text(fit(story.title, TITLE_MAX))
             or "(untitled)", "size": "Large", "weight": "Bolder", "wrap": True,
             "id": "title"},
        ]
        when = key_date_line(story, today)
        if when:
            body.append({"type": "TextBlock", "text": escape_card_text(fit(when, FACT_MAX)),
                         "weight": "Bolder", "wrap": True, "spacing": "Small",
                         "id": "key_date"})
            more = other_dates(story, today)
            if more:
                body.append({"type": "TextBlock", "text": escape_card_text(
                    fit(" · ".join(more), FACT_MAX)), "isSubtle": True, "size": "Small",
                    "wrap": True, "spacing": "None", "id": "dates"})
        pictures: list[tuple[str, str]] = []
        if story.image_url and story.image_url.startswith("https://"):
            pictures.append((story.image_url, story.title))
        markdown = markdown_of(story)
        if markdown is not None:  # comms' own words: their Markdown, as TextBlock markdown
            summary = render_text(markdown, CARD_STYLE, summary_limit) if summary_limit else ""
            pictures.extend(images(markdown, 2))
        else:
            summary = escape_card_text(fit(story.summary, summary_limit))
        for url, alt in pictures[:2]:
            body.append({"type": "Image", "url": url, "altText": fit(alt, FACT_MAX),
                         "size": "Stretch"})
        if summary:
            body.append({"type": "TextBlock", "text": summary, "wrap": True, "id": "text"})
        byline_text = byline(story, self.context.source_names, self.context.brand)
        for name, line in (("byline", byline_text),
                           ("tags", tag_line(story, self.context.labels))):
            if line:
                body.append({"type": "TextBlock", "text": escape_card_text(fit(line, FACT_MAX)),
                             "isSubtle": True, "size": "Small", "wrap": True,
                             "spacing": "Small", "id": name})
        card: dict[str, Any] = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": body,
        }
        if story.url and story.url.startswith(("https://", "http://")):
            card["actions"] = [{"type": "Action.OpenUrl", "title": fit(
                self.context.button(story.kind), FACT_MAX), "url": story.url}]
        return card

    def render(self, story: Story) -> dict[str, Any]:
        limit = SUMMARY_MAX
        while True:
            payload = card_payload(self.card(story, limit))
            size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
            if size <= MAX_PAYLOAD_BYTES or limit <= 0:
                return payload
            limit = max(0, limit - max(200, (size - MAX_PAYLOAD_BYTES) // 2))

    # -- send -----------------------------------------------------------------------------

    def reminder_card(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        """A reminder's card: which post it follows, the reminder's line, the button."""
        words = reminder_text(story, reminder, self.context.today(), self.context.labels)
        about = (f"Reminder about \u201c{words.title}\u201d" if words.title
                 else "Reminder about an earlier post")
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": escape_card_text(about), "isSubtle": True,
             "size": "Small", "wrap": True, "id": "reminder_of"},
            {"type": "TextBlock", "text": escape_card_text(fit(words.line, SUMMARY_MAX)),
             "weight": "Bolder", "size": "Medium", "wrap": True, "spacing": "Small",
             "id": "reminder"},
        ]
        card: dict[str, Any] = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": body,
        }
        if words.url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": fit(
                self.context.button(story.kind), FACT_MAX), "url": words.url}]
        return card

    def render_reminder(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        """The reminder's card in the webhook's envelope. It names the post it follows by
        the story's title; :meth:`send_reminder` adds the day that post went out."""
        return card_payload(self.reminder_card(story, reminder))

    def send_reminder(self, payload: dict[str, Any], *, reminder: Reminder,
                      original: Delivery, reclaimed: bool = False) -> SendResult:
        """Post the reminder's card (a new card: a webhook cannot thread), naming the day
        the original went out ("…, posted Tue 1 Dec")."""
        if original.sent_at is not None:
            payload = copy.deepcopy(payload)
            posted = local_date(original.sent_at, self.context.timezone)
            suffix = escape_card_text(f", posted {when(posted, self.context.today())}")
            for block in payload["attachments"][0]["content"]["body"]:
                if block.get("id") == "reminder_of":
                    block["text"] += suffix
        return self._post(payload)

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        return self._post(payload)

    def _post(self, payload: dict[str, Any]) -> SendResult:
        try:
            with httpx.Client(timeout=self.options.timeout, follow_redirects=False) as http:
                response = http.post(self.webhook_url, json=payload)
        except httpx.TimeoutException as exc:
            raise TransientSendError(f"Teams webhook timed out ({type(exc).__name__})",
                                     target=self.target) from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(f"Teams webhook: {type(exc).__name__}: {exc}",
                                     target=self.target) from exc
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(external_id=response.headers.get("x-ms-workflow-run-id")
                              or f"teams:{status}")
        detail = response.text[:200].strip()
        message = f"Teams webhook HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            raise RateLimited(message, target=self.target,
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500 or status == 408:
            raise TransientSendError(message, target=self.target)
        if status in (401, 403):
            raise TargetAuthError(message, target=self.target)
        raise PermanentSendError(message, target=self.target)
