"""Slack reminders (issue #17): a reply in the thread of the story's post, once.

The reply is one section: "⏰ " and the reminder's line (channels._reminder) in mrkdwn,
escaped like every feed text (``&``, ``<``, ``>``; ``@channel`` words defused) and with
emphasis marks (``*``, ``_``, ``~``, `````) held apart from the words by a word joiner,
so a title cannot turn the line bold or struck through; a button to the story's address
beside it when that is a web one. ``reply_broadcast`` follows ``[reminders]
also_to_channel`` (ChannelContext.reminder_broadcast).

Never twice: the reminder id travels in the reply's metadata (event ``herald_reminder``,
distinct from a delivery's). A reminder that may have got through before (reclaimed after
a crash, or tried again after a timeout or a dropped answer) first reads the thread
(``conversations.replies``) and adopts the reply it finds.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.errors import PermanentSendError
from bot.model import Delivery, Reminder, Story
from channels import SendResult
from channels._reminder import reminder_text
from channels._text import fit

if TYPE_CHECKING:
    from channels.slack import SlackChannel

REMINDER_EVENT = "herald_reminder"
LINE_MAX = 2900
BUTTON_TEXT_MAX = 75
BUTTON_URL_MAX = 3000
REPLIES_PAGE = 200
REPLIES_PAGES = 10
ALARM = "\u23f0"
_EMPHASIS = re.compile(r"([*_~`]+)")


def quiet_emphasis(text: str) -> str:
    """Emphasis marks with a word joiner either side: Slack has no escape for them, and a
    mark that does not touch a word does not start or end bold, italics or strike."""
    return _EMPHASIS.sub("\u2060\\1\u2060", text)


def render_reminder(channel: SlackChannel, story: Story, reminder: Reminder
                    ) -> dict[str, Any]:
    """The reply's payload: fallback text, one section (with a button), and what the
    metadata carries."""
    from channels.slack import escape_mrkdwn, escape_plain

    words = reminder_text(story, reminder, channel.context.today(), channel.context.labels)
    line = quiet_emphasis(escape_mrkdwn(fit(words.line, LINE_MAX)))
    section: dict[str, Any] = {"type": "section", "block_id": "reminder",
                               "text": {"type": "mrkdwn", "text": f"{ALARM} {line}"}}
    if words.url and len(words.url) <= BUTTON_URL_MAX:
        section["accessory"] = {
            "type": "button", "action_id": "herald_reminder_open", "url": words.url,
            "text": {"type": "plain_text", "emoji": True, "text": escape_plain(
                fit(channel.context.button(story.kind), BUTTON_TEXT_MAX))}}
    return {"text": line, "blocks": [section], "story_id": story.id,
            "reminder_id": reminder.id, "what": reminder.what,
            "day": reminder.day.isoformat()}


def _metadata(reminder: Reminder) -> dict[str, Any]:
    return {"event_type": REMINDER_EVENT,
            "event_payload": {"reminder_id": reminder.id, "story_id": reminder.story_id,
                              "what": reminder.what, "day": reminder.day.isoformat()}}


def _is_ours(message: dict[str, Any], reminder: Reminder) -> bool:
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return (meta.get("event_type") == REMINDER_EVENT
            and str(payload.get("reminder_id")) == str(reminder.id))


def find_reply(channel: SlackChannel, channel_id: str, thread_ts: str,
               reminder: Reminder) -> str | None:
    """The ts of the reply this reminder already made in the thread, if any."""
    cursor = None
    for _ in range(REPLIES_PAGES):
        page = channel._call("conversations_replies", channel=channel_id, ts=thread_ts,
                             include_all_metadata=True, limit=REPLIES_PAGE, cursor=cursor)
        for message in page.get("messages", []):
            if message.get("ts") != thread_ts and _is_ours(message, reminder):
                return str(message.get("ts"))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            break
    return None


def send_reminder(channel: SlackChannel, payload: dict[str, Any], *, reminder: Reminder,
                  original: Delivery, reclaimed: bool) -> SendResult:
    """Reply in the original post's thread; adopt an earlier attempt's reply when there
    may be one. The result's ``external_id`` is the reply's ``channel:ts``."""
    channel_id, _, thread_ts = (original.external_id or "").partition(":")
    if not channel_id or not thread_ts:
        raise PermanentSendError("the story's post has no ts stored: no thread to reply in",
                                 target=channel.target)
    if reclaimed or reminder.attempts > 1 or bool(reminder.last_error):
        found = find_reply(channel, channel_id, thread_ts, reminder)
        if found:
            return SendResult(external_id=f"{channel_id}:{found}",
                              detail="adopted the reply a previous attempt posted")
    response = channel._call(
        "chat_postMessage", channel=channel_id, thread_ts=thread_ts,
        reply_broadcast=bool(channel.context.reminder_broadcast), text=payload["text"],
        blocks=payload["blocks"], unfurl_links=False, unfurl_media=False,
        metadata=_metadata(reminder))
    return SendResult(external_id=f"{response.get('channel') or channel_id}:"
                                  f"{response['ts']}", detail="replied in thread")
