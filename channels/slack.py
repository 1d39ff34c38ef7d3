"""Slack: each story as a Block Kit message, through slack-sdk's ``WebClient``.

Setup: create a Slack app, add the bot scopes ``chat:write`` and ``channels:history``
(``groups:history`` for private channels; ``channels:read`` if you name channels
by ``#name`` rather than id), install it, invite the bot to the channel, and put
its bot token in the environment::

    [[targets]]
    name = "staff-slack"
    type = "slack"
    channel = "C0123456789"          # id or #name
    token_env = "SLACK_BOT_TOKEN"    # the default
    base_url = "https://slack.com/api/"   # optional: GovSlack and tests use another
    on_update = "edit"               # or "thread": how a story's later changes appear

The message (channels._post): a header (the title), the key date first in bold
("📅 Applications close Fri 18 Dec", then the other dates), a section with the text,
a context line with the academy's and the sources' names and one with kind, domains and
programmes, and a button labelled by kind ("Apply", "Book your place", …), with a
plain-text fallback. Feed text is escaped (``&``, ``<``, ``>``) and ``@channel``-style
words are defused, so no feed can mention anyone or add a link it did not come with.
Comms' own announcements are drawn from their Markdown as mrkdwn (channels._markdown:
``*bold*``, ``_italic_``, ``<url|text>``, ``• `` lists; http(s) and mailto links only).

Never twice: the delivery id travels in the message ``metadata``; a delivery
reclaimed after a crash, or tried again after a timeout or a dropped answer, first
looks for that id in the channel's recent history and adopts the message it finds.
The metadata also carries the story revision the message shows, so an adopted message
is recorded at the revision it really shows and edited to the current one after. A story
that changes later is edited in place (``chat.update``) or followed by a reply in its
thread; it is never posted again. A story merged into another has its message deleted
(``chat.delete``; the bot can delete its own messages with ``chat:write``).
A reminder before a key date is a reply in the story's thread, sent to the channel too
when ``[reminders] also_to_channel`` says so (channels._slack_reminder).
429 is retried after Retry-After; invalid_auth, not_authed, token_revoked, token_expired
and account_inactive refuse the token, which pauses the target (``TargetAuthError``,
:mod:`bot.pause`); channel_not_found, not_in_channel and the like are permanent; 5xx,
timeouts and dropped connections are transient.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.config import EnvName
from bot.errors import (
    PermanentSendError,
    RateLimited,
    TargetAuthError,
    TransientSendError,
)
from bot.model import Delivery, Reminder, Story
from channels import BaseChannel, SendResult, _slack_reminder
from channels._markdown import Style, images, markdown_of, render_parts
from channels._post import byline, key_date_line, other_dates, tag_line
from channels._text import fit, fit_escaped

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

HEADER_MAX = 150
SECTION_MAX = 3000
CONTEXT_MAX = 2000
FALLBACK_MAX = 3000
BUTTON_URL_MAX = 3000
IMAGE_URL_MAX = 3000
IMAGE_ALT_MAX = 2000
BUTTON_TEXT_MAX = 75
#: A long announcement goes in up to this many sections (split between paragraphs).
TEXT_SECTIONS = 5
METADATA_EVENT = "herald_delivery"
HISTORY_LOOKBACK = 200
HISTORY_PAGES = 10

#: Errors that another try cannot fix. Anything else Slack says is retried with backoff
#: until the delivery's attempts run out.
PERMANENT_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "no_permission", "missing_scope", "not_allowed_token_type", "ekm_access_denied",
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
    "invalid_metadata_format", "invalid_metadata_schema", "too_many_attachments",
    "message_not_found", "cant_update_message", "edit_window_closed", "invalid_arguments",
    "team_access_not_granted", "org_login_required",
})

#: Of those, the ones that refuse the token itself: no send to the target can go through
#: until someone fixes it, so the target pauses (bot.pause) rather than each delivery dying.
AUTH_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
})

_MENTION_WORDS = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)


def escape_mrkdwn(text: str) -> str:
    """Text safe inside Slack mrkdwn: no control sequences, no mentions, no new links."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A word joiner after "@" stops "@here" from ever reading as a mention.
    return _MENTION_WORDS.sub("@\u2060", text)


def escape_plain(text: str) -> str:
    """Text for plain_text fields: mention words defused, and a word joiner after "<" so
    that no control sequence (``<!channel>``, ``<@U…>``, ``<http…>``) is ever spelt out."""
    return _MENTION_WORDS.sub("@\u2060", text.replace("<", "<\u2060"))


def _defuse(text: str) -> str:
    return _MENTION_WORDS.sub("@\u2060", text)


def _escape_controls(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    """``<url|label>``: the URL with the characters that would end it encoded."""
    target = (url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
              .replace("|", "%7C"))
    return f"<{target}|{label}>"


#: Comms' Markdown as Slack mrkdwn (channels._markdown): *bold*, _italic_, <url|text>.
SLACK_STYLE = Style(escape=_escape_controls, prepare=_defuse, strong=("*", "*"),
                    em=("_", "_"), code=("`", "`"), link=_slack_link, bullet="• ",
                    quote="> ", fence=("```\n", "\n```"))


class SlackOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str = Field(min_length=1)
    token_env: EnvName = "SLACK_BOT_TOKEN"
    base_url: str = "https://slack.com/api/"
    on_update: Literal["edit", "thread"] = "edit"
    timeout: float = Field(default=15.0, gt=0, le=120)


class SlackChannel(BaseChannel):
    name: ClassVar[str] = "slack"
    max_title: ClassVar[int] = HEADER_MAX
    max_text: ClassVar[int] = SECTION_MAX
    rate_per_sec: ClassVar[float] = 1.0  # Slack allows about one message a second a channel
    format: ClassVar[str] = "slack-blocks"
    supports_update: ClassVar[bool] = True
    supports_delete: ClassVar[bool] = True
    supports_reminders: ClassVar[bool] = True
    Options: ClassVar[type[BaseModel]] = SlackOptions
    options: SlackOptions

    def __init__(self, target: str, options: BaseModel, context: Any) -> None:
        super().__init__(target, options, context)
        self._client: WebClient | None = None
        self._channel_id: str | None = None

    # -- identity -------------------------------------------------------------------------

    def identity(self) -> str:
        return f"slack:{self.options.base_url.rstrip('/')}/{self.options.channel}"

    def redacted(self) -> str:
        return f"slack:{self.options.channel} (token from ${self.options.token_env})"

    @property
    def client(self) -> WebClient:
        if self._client is None:
            token = self.context.environ.get(self.options.token_env, "")
            if not token:
                raise TargetAuthError(f"the environment variable {self.options.token_env} "
                                      f"is not set; the slack target {self.target} needs "
                                      "its bot token", target=self.target)
            # Imported here: slack-sdk is needed only once there is something to send,
            # so a worker's collection does not carry it.
            from slack_sdk import WebClient

            # No retry handlers: a retry inside the client after a dropped answer could
            # post twice. The outbox retries instead, and checks the history first.
            # The timeout goes to the socket as is: int() made 0.5 a 0 (non-blocking, so
            # every call failed at once).
            self._client = WebClient(token=token, base_url=self.options.base_url,
                                     timeout=self.options.timeout,  # type: ignore[arg-type]
                                     retry_handlers=[])
        return self._client

    # -- render (pure) --------------------------------------------------------------------

    def render(self, story: Story) -> dict[str, Any]:
        today = self.context.today()
        title = fit_escaped(story.title, HEADER_MAX, escape_plain) or "(untitled)"
        markdown = markdown_of(story)
        if markdown is not None:  # comms' own words: their Markdown, drawn as mrkdwn
            texts = render_parts(markdown, SLACK_STYLE, SECTION_MAX, TEXT_SECTIONS)
            pictures = images(markdown, 2)
        else:
            texts = [fit_escaped(story.summary, SECTION_MAX, escape_mrkdwn)]
            pictures = []
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
        ]
        when = key_date_line(story, today)
        if when:  # the key date first: the most useful fact
            more = other_dates(story, today)
            line = "*" + fit_escaped(when, 300, escape_mrkdwn) + "*" + "".join(
                "  ·  " + fit_escaped(d, 300, escape_mrkdwn) for d in more)
            blocks.append({"type": "section", "block_id": "key_date",
                           "text": {"type": "mrkdwn", "text": line}})
        for n, text in enumerate(t for t in texts if t):
            blocks.append({"type": "section", "block_id": "text" if n == 0 else f"text-{n + 1}",
                           "text": {"type": "mrkdwn", "text": text}})
        if story.image_url and story.image_url.startswith("https://") \
                and len(story.image_url) <= IMAGE_URL_MAX:
            pictures.insert(0, (story.image_url, story.title))
        for url, alt in pictures[:2]:
            if len(url) <= IMAGE_URL_MAX:
                blocks.append({"type": "image", "image_url": url,
                               "alt_text": fit(alt, IMAGE_ALT_MAX) or "image"})
        # Who it is from, then kind, domains and programmes: each its own budget, so the
        # line stays within Slack's 2000 characters.
        byline_text = byline(story, self.context.source_names, self.context.brand)
        context = [fit_escaped(byline_text, 600, escape_mrkdwn),
                   fit_escaped(tag_line(story, self.context.labels), 900, escape_mrkdwn)]
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": text} for text in context if text]})
        if story.url and story.url.startswith(("https://", "http://")) \
                and len(story.url) <= BUTTON_URL_MAX:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": escape_plain(
                    fit(self.context.button(story.kind), BUTTON_TEXT_MAX))},
                "url": story.url, "action_id": "herald_read_more"}]})
        # The fallback text is read as mrkdwn too (notifications, old clients): escape it.
        shown = story.title if story.title.strip() else "(untitled)"
        fallback = fit_escaped(f"{shown}: {story.summary}" if story.summary.strip() else shown,
                               FALLBACK_MAX, escape_mrkdwn)
        return {"text": fallback, "blocks": blocks, "story_id": story.id,
                "revision": story.revision}

    # -- send -----------------------------------------------------------------------------

    def _call(self, method: str, **kwargs: Any) -> Any:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise self._classify(exc) from exc
        except SlackClientError as exc:
            raise TransientSendError(f"Slack client error: {exc}", target=self.target) from exc
        except (OSError, TimeoutError) as exc:  # urllib: URLError, timeouts, resets
            raise TransientSendError(f"{type(exc).__name__}: {exc}", target=self.target) \
                from exc

    def _classify(self, exc: SlackApiError) -> Exception:
        response = exc.response
        status = getattr(response, "status_code", None)
        error = ""
        try:
            error = str(response.get("error") or "")
        except Exception:
            error = ""
        if status == 429 or error == "ratelimited":
            headers = getattr(response, "headers", {}) or {}
            value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            if isinstance(value, list):
                value = value[0] if value else None
            try:
                retry_after = float(value) if value is not None else None
            except ValueError:
                retry_after = None
            return RateLimited("Slack rate limit (429)", target=self.target,
                               retry_after=retry_after)
        if error in AUTH_ERRORS:
            return TargetAuthError(f"Slack said {error}", target=self.target)
        if error in PERMANENT_ERRORS:
            return PermanentSendError(f"Slack said {error}", target=self.target)
        if status is not None and status >= 500:
            return TransientSendError(f"Slack HTTP {status} {error}".strip(),
                                      target=self.target)
        return TransientSendError(f"Slack said {error or status}", target=self.target)

    def channel_id(self) -> str:
        """The configured channel as an id (history needs ids; names are looked up once)."""
        if self._channel_id:
            return self._channel_id
        wanted = self.options.channel.lstrip("#")
        # Channel names are lower case, so an upper-case C/G/D word is an id, however short.
        if re.fullmatch(r"[CGD][A-Z0-9]+", wanted):
            self._channel_id = wanted
            return wanted
        cursor = None
        for _ in range(50):
            page = self._call("conversations_list", limit=1000, cursor=cursor,
                              exclude_archived=True, types="public_channel,private_channel")
            for ch in page.get("channels", []):
                if ch.get("name") == wanted:
                    self._channel_id = ch["id"]
                    return ch["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        raise PermanentSendError(f"Slack said channel_not_found for #{wanted}",
                                 target=self.target)

    @staticmethod
    def _is_ours(message: dict[str, Any], delivery: Delivery,
                 revision: int | None = None) -> bool:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        return (meta.get("event_type") == METADATA_EVENT
                and str(payload.get("delivery_id")) == str(delivery.id)
                and (revision is None or str(payload.get("revision")) == str(revision)))

    def find_posted(self, delivery: Delivery) -> tuple[str, int | None] | None:
        """The ts of a message this delivery already posted (after a crash), if any, and the
        story revision it shows: reads the channel's history since the delivery was made,
        page by page."""
        oldest = f"{delivery.created_at.timestamp() - 60:.6f}"
        cursor = None
        for _ in range(HISTORY_PAGES):
            page = self._call("conversations_history", channel=self.channel_id(),
                              include_all_metadata=True, limit=HISTORY_LOOKBACK,
                              oldest=oldest, cursor=cursor)
            for message in page.get("messages", []):
                if self._is_ours(message, delivery):
                    shown = ((message.get("metadata") or {}).get("event_payload") or {})\
                        .get("revision")
                    try:
                        revision = int(shown) if shown is not None else None
                    except (TypeError, ValueError):
                        revision = None
                    return str(message.get("ts")), revision
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
        return None

    @staticmethod
    def _retried(delivery: Delivery, reclaimed: bool) -> bool:
        """Whether an earlier attempt (a crash, a timeout, a dropped answer) may have got
        through: then look before posting."""
        return reclaimed or delivery.attempts > 1 or bool(delivery.last_error)

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        if self._retried(delivery, reclaimed):
            found = self.find_posted(delivery)
            if found:
                ts, shown = found
                # A message from before revisions were recorded counts as the first.
                return SendResult(external_id=f"{self.channel_id()}:{ts}",
                                  detail="adopted the message a previous attempt posted",
                                  revision=shown if shown is not None else 1)
        response = self._call(
            "chat_postMessage", channel=self.options.channel, text=payload["text"],
            blocks=payload["blocks"], unfurl_links=False, unfurl_media=False,
            metadata=self._metadata(delivery, payload))
        channel = response.get("channel") or self.options.channel
        self._channel_id = self._channel_id or (channel if channel.startswith(("C", "G", "D"))
                                                else None)
        return SendResult(external_id=f"{channel}:{response['ts']}")

    def update(self, payload: dict[str, Any], *, delivery: Delivery) -> SendResult:
        """Show a story's change: edit the message in place, or reply in its thread."""
        channel, _, ts = (delivery.external_id or "").partition(":")
        if not ts:
            raise PermanentSendError("no message to update (no ts stored)", target=self.target)
        if self.options.on_update == "edit":
            self._call("chat_update", channel=channel, ts=ts, text=payload["text"],
                       blocks=payload["blocks"], metadata=self._metadata(delivery, payload))
            return SendResult(external_id=delivery.external_id, detail="edited")
        revision = payload.get("revision")
        if self._retried(delivery, False):
            replies = self._call("conversations_replies", channel=channel, ts=ts,
                                 include_all_metadata=True, limit=HISTORY_LOOKBACK)
            if any(self._is_ours(m, delivery, revision) for m in replies.get("messages", [])):
                return SendResult(external_id=delivery.external_id,
                                  detail="the reply was already in the thread")
        header = payload["blocks"][0]["text"]["text"]
        note = escape_mrkdwn(f"Updated: {header}")
        self._call("chat_postMessage", channel=channel, thread_ts=ts, text=note,
                   blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": note}},
                           *payload["blocks"][1:]], unfurl_links=False,
                   metadata={"event_type": METADATA_EVENT,
                             "event_payload": {"delivery_id": delivery.id,
                                               "story_id": delivery.story_id,
                                               "revision": revision}})
        return SendResult(external_id=delivery.external_id, detail="replied in thread")

    def delete(self, *, delivery: Delivery) -> SendResult:
        """Take back the message a delivery posted (its story was merged into another).
        A message already gone counts as taken back."""
        channel, _, ts = (delivery.external_id or "").partition(":")
        if not ts:
            return SendResult(external_id=delivery.external_id, detail="nothing was posted")
        try:
            self._call("chat_delete", channel=channel, ts=ts)
        except PermanentSendError as exc:
            if "message_not_found" not in str(exc):
                raise
            return SendResult(external_id=delivery.external_id, detail="already gone")
        return SendResult(external_id=delivery.external_id, detail="deleted")

    def render_reminder(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        """A reminder as a thread reply (channels._slack_reminder)."""
        return _slack_reminder.render_reminder(self, story, reminder)

    def send_reminder(self, payload: dict[str, Any], *, reminder: Reminder,
                      original: Delivery, reclaimed: bool = False) -> SendResult:
        """Reply in the story's thread, once (channels._slack_reminder)."""
        return _slack_reminder.send_reminder(self, payload, reminder=reminder,
                                             original=original, reclaimed=reclaimed)

    def permalink(self, external_id: str) -> str | None:
        """The address of a posted message (``chat.getPermalink``), from the delivery's
        ``channel:ts``; None when nothing was posted."""
        channel, _, ts = external_id.partition(":")
        if not ts:
            return None
        link = self._call("chat_getPermalink", channel=channel, message_ts=ts).get("permalink")
        return link if isinstance(link, str) and link.startswith("https://") else None

    @staticmethod
    def _metadata(delivery: Delivery, payload: dict[str, Any]) -> dict[str, Any]:
        """What a message carries to be found again: its delivery, story and revision."""
        return {"event_type": METADATA_EVENT,
                "event_payload": {"delivery_id": delivery.id, "story_id": delivery.story_id,
                                  "revision": payload.get("revision")}}
