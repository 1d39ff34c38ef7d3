"""Microsoft Teams: each story as an Adaptive Card posted to a Workflows webhook.

Setup: in Teams, open the channel's "Workflows", pick "Post to a channel when a
webhook request is received", finish the flow and copy its URL into the
environment (the old Office 365 connector webhooks are retired)::

    [[targets]]
    name = "staff-teams"
    type = "teams"
    webhook_env = "TEAMS_WEBHOOK_URL"   # the default

The card (version 1.4: Workflows shows "couldn't be displayed" for 1.5 cards)
has the title, the summary, facts (sources, tags, key dates) and a "Read more"
button, wrapped in the message envelope Workflows expects. Every card validates
against the official 1.4 schema and stays under Teams' 28 KB limit, however long
the story. TextBlock and Fact text is read as Markdown by Teams, so feed text is
escaped: it cannot make links, emphasis, lists or ``{{DATE()}}`` functions.

The webhook answers 202 with an empty body: any 2xx is sent. 429 and 5xx are
retried with backoff (Retry-After honoured); 401 and 403 (a wrong or withdrawn signature)
pause the target (``TargetAuthError``, :mod:`bot.pause`); other 4xx are permanent. A webhook
cannot edit what it posted, so a story that changes later is not posted again.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from bot.config import EnvName
from bot.errors import PermanentSendError, RateLimited, TargetAuthError, TransientSendError
from bot.model import Delivery, Story, TagGroup
from bot.sources.fetch import parse_retry_after
from channels import BaseChannel, SendResult
from channels._text import date_lines, fit, tag_labels

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
        facts = [{"title": "Source", "value": escape_card_text(
            fit(", ".join(story.sources) or "Herald", FACT_MAX))}]
        facts.append({"title": "Kind", "value": escape_card_text(
            fit(self.label(story.kind), FACT_MAX))})
        tags = tag_labels(story, self.context.labels, TagGroup.DOMAIN, TagGroup.PROGRAMME)
        if tags:
            facts.append({"title": "Tags", "value": escape_card_text(
                fit(" · ".join(tags), FACT_MAX))})
        for line in date_lines(story.dates, self.context.today(), 3):
            facts.append({"title": "Key date", "value": escape_card_text(fit(line, FACT_MAX))})
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": escape_card_text(fit(story.title, TITLE_MAX))
             or "(untitled)", "size": "Large", "weight": "Bolder", "wrap": True},
        ]
        if story.image_url and story.image_url.startswith("https://"):
            body.append({"type": "Image", "url": story.image_url,
                         "altText": fit(story.title, FACT_MAX), "size": "Stretch"})
        summary = fit(story.summary, summary_limit)
        if summary:
            body.append({"type": "TextBlock", "text": escape_card_text(summary), "wrap": True})
        body.append({"type": "FactSet", "facts": facts})
        card: dict[str, Any] = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": body,
        }
        if story.url and story.url.startswith(("https://", "http://")):
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Read more",
                                "url": story.url}]
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

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
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
