"""A fake Slack Web API on loopback (port 0) for tests, spoken to by the real slack-sdk.

Pass ``fake.base_url`` (``http://127.0.0.1:PORT/api/``) as ``WebClient(base_url=...)``:
the client joins the method name onto it (``.../api/chat.postMessage``) and always
POSTs, JSON for ``chat.*`` and a form body for the rest; the fake also takes query
strings and GET, and a token from ``Authorization: Bearer`` or a ``token`` parameter.

Methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.delete``,
``chat.getPermalink``,
``conversations.history``, ``conversations.replies``, ``conversations.list``.
Errors are HTTP 200 with ``{"ok": false, "error": ...}`` as Slack answers them
(``invalid_auth``, ``channel_not_found``, ``not_in_channel``, ``message_not_found``,
``no_text``, ``invalid_blocks``, ``invalid_metadata_format``); an unknown method is
404 ``unknown_method``.

Scenarios, on ``fake.state`` (also reachable as ``fake.fail_next`` and
``fake.delay_seconds``):

* ``fail_next``: answers handed out, in order, to the next calls of
  ``chat.postMessage`` / ``chat.update``: a ``(status, json_body, headers)`` tuple,
  or ``DROP`` (read the request, then reset the connection without an answer), or
  ``DROP_AFTER_PROCESSING`` (carry the call out, store the message, then reset: the
  client cannot tell whether it was posted);
* ``delay_seconds``: every request waits that long before it is answered.

``calls`` records (method, params, headers) of every request, failed ones included;
``posted()``, ``replies(ts)`` and ``updates`` show what was stored, ``deleted`` what a
``chat.delete`` took away (the message as it was).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes._loopback import (
    DROP,
    DROP_AFTER_PROCESSING,
    Failure,
    FaultScript,
    LoopbackHandler,
    LoopbackServer,
)

NOT_IN_CHANNEL_TOKEN = "xoxb-not-in-channel"
FAILABLE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.delete"})
BOT_USER_ID = "U0HERALD"
BOT_ID = "B0HERALD"


def ratelimited(retry_after: int = 3) -> Failure:
    """The answer Slack gives a caller over its rate limit."""
    return (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def server_error(status: int = 500) -> Failure:
    return (status, {"ok": False, "error": "fatal_error"}, {})


@dataclass
class FakeSlackState:
    valid_tokens: set[str] = field(default_factory=lambda: {"xoxb-good"})
    channels: dict[str, str] = field(default_factory=lambda: {"academy-news": "C0NEWS"})
    #: Workspace members by email (users.lookupByEmail); a post to a member's id is a DM.
    users: dict[str, str] = field(default_factory=dict)
    # every stored message, in posting order; each a Slack message dict plus "channel"
    messages: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    fail_next: list[Failure] = field(default_factory=list)
    delay_seconds: float = 0.0
    ts_base: int = field(default_factory=lambda: int(time.time()))
    ts_seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_ts(self) -> str:
        self.ts_seq += 1
        micros = self.ts_base * 1_000_000 + self.ts_seq * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def resolve_channel(self, channel: object, names: bool = True) -> str | None:
        """A channel id from an id, or (if ``names``) a name with or without "#"."""
        if not isinstance(channel, str) or not channel:
            return None
        if channel in self.channels.values() or channel in self.users.values():
            return channel
        if names:
            return self.channels.get(channel.removeprefix("#"))
        return None

    def find(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        # Newest first: the message asked about is nearly always a recent one (a permalink
        # right after its post), and a ts is unique in its channel.
        for msg in reversed(self.messages):
            if msg["channel"] == channel_id and msg["ts"] == ts:
                return msg
        return None


def _truthy(value: object) -> bool:
    return value is True or value == 1 or (isinstance(value, str)
                                           and value.lower() in ("1", "true"))


def _maybe_json(value: object) -> object:
    """Form bodies carry blocks and metadata as JSON strings."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _public(msg: dict[str, Any], with_metadata: bool = True) -> dict[str, Any]:
    out = {k: v for k, v in msg.items() if k != "channel"}
    if not with_metadata:
        out.pop("metadata", None)
    return out


class _Handler(LoopbackHandler):
    def _read_params(self, query: str) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw and ctype == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
            else:
                params["_invalid_json"] = raw.decode("utf-8", "replace")
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        params = self._read_params(parts.query)
        method = parts.path.removeprefix("/api/") if parts.path.startswith("/api/") else ""
        headers = dict(self.headers.items())
        failure: Failure | None = None
        with state.lock:
            state.calls.append((method or parts.path, params, headers))
            if method in FAILABLE_METHODS and state.fail_next:
                failure = state.fail_next.pop(0)
        if state.delay_seconds:
            time.sleep(state.delay_seconds)
        if failure == DROP:
            self.reset_connection()
            return
        if isinstance(failure, tuple):
            status, body, extra = failure
            self.send_json(status, body, extra)
            return
        handler = _METHODS.get(method)
        if handler is None:
            self.send_json(404, {"ok": False, "error": "unknown_method"})
            return
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
        token = token or str(params.get("token") or "")
        if token not in state.valid_tokens and token != NOT_IN_CHANNEL_TOKEN:
            self.send_json(200, {"ok": False, "error": "invalid_auth"})
            return
        with state.lock:
            answer = handler(state, params, token)
        if failure == DROP_AFTER_PROCESSING:
            self.reset_connection()
            return
        self.send_json(200, answer)


def _auth_test(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    return {"ok": True, "url": "https://academy.slack.com/", "team": "Academy",
            "user": "herald", "team_id": "T0ACADEMY", "user_id": BOT_USER_ID,
            "bot_id": BOT_ID, "is_enterprise_install": False}


def _content_error(blocks: object, metadata: object) -> str | None:
    if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50 or not all(
            isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)):
        return "invalid_blocks"
    if metadata is not None and not (
            isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)):
        return "invalid_metadata_format"
    return None


def _content(params: dict[str, Any]) -> tuple[Any, Any, Any, str | None]:
    """A message's text, blocks and metadata, or the error Slack gives for them."""
    text = params.get("text")
    blocks = _maybe_json(params.get("blocks"))
    metadata = _maybe_json(params.get("metadata"))
    if not text and not blocks and not params.get("attachments"):
        return text, blocks, metadata, "no_text"
    return text, blocks, metadata, _content_error(blocks, metadata)


def _post_message(state: FakeSlackState, params: dict[str, Any], token: str
                  ) -> dict[str, Any]:
    channel_id = state.resolve_channel(params.get("channel"))
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    if token == NOT_IN_CHANNEL_TOKEN:
        return {"ok": False, "error": "not_in_channel"}
    text, blocks, metadata, error = _content(params)
    if error:
        return {"ok": False, "error": error}
    ts = state.next_ts()
    msg: dict[str, Any] = {"channel": channel_id, "type": "message", "user": BOT_USER_ID,
                           "bot_id": BOT_ID, "text": text or "", "ts": ts}
    if blocks is not None:
        msg["blocks"] = blocks
    if metadata is not None:
        msg["metadata"] = metadata
    thread_ts = params.get("thread_ts")
    if thread_ts:
        msg["thread_ts"] = str(thread_ts)
        if _truthy(params.get("reply_broadcast")):
            msg["subtype"] = "thread_broadcast"
        parent = state.find(channel_id, str(thread_ts))
        if parent is not None:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = ts
    state.messages.append(msg)
    return {"ok": True, "channel": channel_id, "ts": ts, "message": _public(msg)}


def _update(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    channel_id = state.resolve_channel(params.get("channel"))
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    msg = state.find(channel_id, str(params.get("ts") or ""))
    if msg is None:
        return {"ok": False, "error": "message_not_found"}
    text, blocks, metadata, error = _content(params)
    if error:
        return {"ok": False, "error": error}
    if text is not None:
        msg["text"] = text
    if blocks is not None:
        msg["blocks"] = blocks
    if metadata is not None:
        msg["metadata"] = metadata
    msg["edited"] = {"user": BOT_USER_ID, "ts": state.next_ts()}
    state.updates.append({"channel": channel_id, "ts": msg["ts"], "text": text,
                          "blocks": blocks, "metadata": metadata})
    return {"ok": True, "channel": channel_id, "ts": msg["ts"], "text": msg["text"],
            "message": _public(msg)}


def _delete(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    channel_id = state.resolve_channel(params.get("channel"))
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    msg = state.find(channel_id, str(params.get("ts") or ""))
    if msg is None:
        return {"ok": False, "error": "message_not_found"}
    state.messages.remove(msg)
    state.deleted.append(msg)
    return {"ok": True, "channel": channel_id, "ts": msg["ts"]}


def _permalink(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    channel_id = state.resolve_channel(params.get("channel"), names=False)
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    ts = str(params.get("message_ts") or "")
    if state.find(channel_id, ts) is None:
        return {"ok": False, "error": "message_not_found"}
    return {"ok": True, "channel": channel_id,
            "permalink": f"https://fake-slack.example/archives/{channel_id}/"
                         f"p{ts.replace('.', '')}"}


def _in_window(ts: str, params: dict[str, Any]) -> bool:
    inclusive = _truthy(params.get("inclusive"))
    value = float(ts)
    oldest, latest = params.get("oldest"), params.get("latest")
    if oldest not in (None, "") and (value < float(oldest)
                                     or (value == float(oldest) and not inclusive)):
        return False
    return not (latest not in (None, "") and (
        value > float(latest) or (value == float(latest) and not inclusive)))


def _limit(params: dict[str, Any]) -> int:
    try:
        limit = int(params.get("limit") or 100)
    except (TypeError, ValueError):
        limit = 100
    return limit if limit > 0 else 100


def _history(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    if not params.get("channel"):
        return {"ok": False, "error": "invalid_arguments"}
    channel_id = state.resolve_channel(params.get("channel"), names=False)
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    with_metadata = _truthy(params.get("include_all_metadata"))
    top = [m for m in state.messages if m["channel"] == channel_id
           and (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
           and _in_window(m["ts"], params)]
    top.sort(key=lambda m: float(m["ts"]), reverse=True)
    return {"ok": True, "messages": [_public(m, with_metadata) for m in top[:_limit(params)]],
            "has_more": False, "pin_count": 0,
            "response_metadata": {"next_cursor": ""}}


def _replies(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    channel_id = state.resolve_channel(params.get("channel"), names=False)
    if channel_id is None:
        return {"ok": False, "error": "channel_not_found"}
    ts = str(params.get("ts") or "")
    parent = state.find(channel_id, ts)
    if parent is None:
        return {"ok": False, "error": "thread_not_found"}
    with_metadata = _truthy(params.get("include_all_metadata"))
    thread = [parent] + [m for m in state.messages if m["channel"] == channel_id
                         and m.get("thread_ts") == ts and m["ts"] != ts]
    thread = [m for m in thread if _in_window(m["ts"], params) or m is parent]
    return {"ok": True, "messages": [_public(m, with_metadata)
                                     for m in thread[:_limit(params)]],
            "has_more": False, "response_metadata": {"next_cursor": ""}}


def _list(state: FakeSlackState, params: dict[str, Any], token: str) -> dict[str, Any]:
    return {"ok": True,
            "channels": [{"id": cid, "name": name, "is_channel": True, "is_member": True,
                          "is_archived": False} for name, cid in state.channels.items()],
            "response_metadata": {"next_cursor": ""}}


def _lookup_by_email(state: FakeSlackState, params: dict[str, Any], token: str
                     ) -> dict[str, Any]:
    email = str(params.get("email") or "").lower()
    found = next((uid for e, uid in state.users.items() if e.lower() == email), None)
    if found is None:
        return {"ok": False, "error": "users_not_found"}
    return {"ok": True, "user": {"id": found, "profile": {"email": email}}}


_METHODS = {
    "auth.test": _auth_test,
    "users.lookupByEmail": _lookup_by_email,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.delete": _delete,
    "chat.getPermalink": _permalink,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.list": _list,
}


class FakeSlack(FaultScript, LoopbackServer):
    """A running loopback fake of the Slack Web API."""

    state: FakeSlackState

    def __init__(self, valid_tokens: set[str] | None = None,
                 channels: dict[str, str] | None = None) -> None:
        super().__init__(_Handler, FakeSlackState())
        if valid_tokens is not None:
            self.state.valid_tokens = set(valid_tokens)
        if channels is not None:
            self.state.channels = dict(channels)

    @property
    def base_url(self) -> str:
        """What to pass as ``WebClient(base_url=...)``; ends with "/"."""
        return f"{self.origin}/api/"

    @property
    def valid_tokens(self) -> set[str]:
        return self.state.valid_tokens

    @property
    def channels(self) -> dict[str, str]:
        return self.state.channels

    @property
    def calls(self) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        return self.state.calls

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The params of every call of ``method`` (e.g. "chat.postMessage")."""
        return [params for m, params, _ in self.state.calls if m == method]

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Every successful chat.update: channel, ts, and the text/blocks/metadata sent."""
        return self.state.updates

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """Every message a successful chat.delete took away, as it was."""
        return self.state.deleted

    def posted(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Stored top-level messages (not thread replies), oldest first, as they are now."""
        return [m for m in self.state.messages
                if m.get("thread_ts") in (None, m["ts"])
                and (channel_id is None or m["channel"] == channel_id)]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        """Stored replies in the thread of the message ``ts``, oldest first."""
        return [m for m in self.state.messages if m.get("thread_ts") == ts and m["ts"] != ts]


@contextmanager
def running_fake_slack(valid_tokens: set[str] | None = None,
                       channels: dict[str, str] | None = None) -> Iterator[FakeSlack]:
    server = FakeSlack(valid_tokens, channels).start()
    try:
        yield server
    finally:
        server.stop()
