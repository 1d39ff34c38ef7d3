"""The Slack and Teams fakes, driven through the real clients (slack-sdk, httpx)."""

from __future__ import annotations

import time

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import default_retry_handlers

from tests.fakes.slack_server import (
    DROP,
    DROP_AFTER_PROCESSING,
    NOT_IN_CHANNEL_TOKEN,
    FakeSlack,
    ratelimited,
)
from tests.fakes.teams_webhook import FakeTeamsWebhook

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Leading change*"}}]
METADATA = {"event_type": "herald_story", "event_payload": {"story_id": "s-1"}}
CARD = {"type": "message", "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {"type": "AdaptiveCard", "version": "1.4",
                "body": [{"type": "TextBlock", "text": "Leading change"}]}}]}




def client(slack: FakeSlack, token: str = "xoxb-good") -> WebClient:
    return WebClient(token=token, base_url=slack.base_url, timeout=5)


# --- Slack -------------------------------------------------------------------------

def test_client_reaches_methods_under_api_with_bearer_token(slack: FakeSlack) -> None:
    assert slack.base_url.endswith("/api/")
    resp = client(slack).auth_test()
    assert resp["ok"] and resp["user_id"] and resp["team"]
    method, params, headers = slack.calls[0]
    assert method == "auth.test" and params == {}
    assert headers["Authorization"] == "Bearer xoxb-good"


def test_post_message_with_blocks_and_metadata(slack: FakeSlack) -> None:
    web = client(slack)
    first = web.chat_postMessage(channel="#academy-news", text="Leading change",
                                 blocks=BLOCKS, metadata=METADATA)
    second = web.chat_postMessage(channel="academy-news", text="Second")
    third = web.chat_postMessage(channel="C0NEWS", text="Third")
    assert first["ok"] and first["channel"] == "C0NEWS"
    assert first["message"]["blocks"] == BLOCKS and first["message"]["metadata"] == METADATA
    ts = [first["ts"], second["ts"], third["ts"]]
    assert ts == sorted(ts, key=float) and len(set(ts)) == 3
    assert all(len(t.split(".")[1]) == 6 for t in ts)
    stored = slack.posted("C0NEWS")
    assert [m["text"] for m in stored] == ["Leading change", "Second", "Third"]
    assert stored[0]["metadata"] == METADATA and stored[0]["blocks"] == BLOCKS
    # chat.postMessage goes as a JSON body
    _, params, headers = slack.calls[0]
    assert headers["Content-Type"].startswith("application/json")
    assert params["metadata"] == METADATA


def test_thread_reply_is_stored_apart(slack: FakeSlack) -> None:
    web = client(slack)
    parent = web.chat_postMessage(channel="C0NEWS", text="Story")
    web.chat_postMessage(channel="C0NEWS", text="Update", thread_ts=parent["ts"])
    assert [m["text"] for m in slack.posted()] == ["Story"]
    assert [m["text"] for m in slack.replies(parent["ts"])] == ["Update"]
    history = web.conversations_history(channel="C0NEWS")
    assert [m["text"] for m in history["messages"]] == ["Story"]
    assert history["messages"][0]["reply_count"] == 1
    thread = web.conversations_replies(channel="C0NEWS", ts=parent["ts"])
    assert [m["text"] for m in thread["messages"]] == ["Story", "Update"]


def test_unknown_channel(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as info:
        client(slack).chat_postMessage(channel="#nowhere", text="x")
    assert info.value.response.status_code == 200
    assert info.value.response["error"] == "channel_not_found"


def test_chat_update_replaces_and_records(slack: FakeSlack) -> None:
    web = client(slack)
    posted = web.chat_postMessage(channel="C0NEWS", text="Old", blocks=BLOCKS)
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New*"}}]
    resp = web.chat_update(channel="C0NEWS", ts=posted["ts"], text="New", blocks=new_blocks)
    assert resp["ok"] and resp["ts"] == posted["ts"] and resp["text"] == "New"
    stored = slack.posted()[0]
    assert stored["text"] == "New" and stored["blocks"] == new_blocks
    assert slack.updates == [{"channel": "C0NEWS", "ts": posted["ts"], "text": "New",
                              "blocks": new_blocks, "metadata": None}]
    with pytest.raises(SlackApiError) as info:
        web.chat_update(channel="C0NEWS", ts="1.000100", text="x")
    assert info.value.response["error"] == "message_not_found"


def test_history_metadata_only_when_asked_newest_first_limit_oldest(slack: FakeSlack
                                                                    ) -> None:
    web = client(slack)
    ts = [web.chat_postMessage(channel="C0NEWS", text=f"m{i}",
                               metadata={"event_type": "herald_story",
                                         "event_payload": {"n": i}})["ts"]
          for i in range(3)]
    plain = web.conversations_history(channel="C0NEWS")
    assert [m["text"] for m in plain["messages"]] == ["m2", "m1", "m0"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["has_more"] is False
    full = web.conversations_history(channel="C0NEWS", include_all_metadata=True)
    assert [m["metadata"]["event_payload"]["n"] for m in full["messages"]] == [2, 1, 0]
    # the SDK sends a form body, include_all_metadata=True as "1"
    _, params, headers = slack.calls[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert params["include_all_metadata"] == "1"
    assert len(web.conversations_history(channel="C0NEWS", limit=2)["messages"]) == 2
    newer = web.conversations_history(channel="C0NEWS", oldest=ts[0])
    assert [m["text"] for m in newer["messages"]] == ["m2", "m1"]


def test_fake_accepts_query_strings_and_get(slack: FakeSlack) -> None:
    client(slack).chat_postMessage(channel="C0NEWS", text="hi",
                                   metadata=METADATA)
    resp = httpx.get(slack.base_url + "conversations.history",
                     params={"channel": "C0NEWS", "include_all_metadata": "true"},
                     headers={"Authorization": "Bearer xoxb-good"}, timeout=5)
    assert resp.json()["messages"][0]["metadata"] == METADATA
    resp = httpx.post(slack.base_url + "auth.test", data={"token": "xoxb-good"}, timeout=5)
    assert resp.json()["ok"] is True


def test_conversations_list(slack: FakeSlack) -> None:
    slack.channels["ops"] = "C0OPS"
    resp = client(slack).conversations_list()
    assert [(c["id"], c["name"]) for c in resp["channels"]] == [
        ("C0NEWS", "academy-news"), ("C0OPS", "ops")]
    assert resp["response_metadata"]["next_cursor"] == ""


def test_invalid_auth_and_not_in_channel(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as info:
        client(slack, "xoxb-bad").auth_test()
    assert info.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as info:
        WebClient(base_url=slack.base_url, timeout=5).auth_test()
    assert info.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as info:
        client(slack, NOT_IN_CHANNEL_TOKEN).chat_postMessage(channel="C0NEWS", text="x")
    assert info.value.response["error"] == "not_in_channel"
    assert slack.posted() == []


def test_unknown_method_is_404(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as info:
        client(slack).api_call("chat.nothing")
    assert info.value.response.status_code == 404
    assert info.value.response["error"] == "unknown_method"


def test_ratelimited_raises_at_once_with_retry_after(slack: FakeSlack) -> None:
    # slack-sdk retries only connection errors by default, not 429
    assert [type(h).__name__ for h in default_retry_handlers()] == [
        "ConnectionErrorRetryHandler"]
    slack.fail_next.append(ratelimited(3))
    web = client(slack)
    with pytest.raises(SlackApiError) as info:
        web.chat_postMessage(channel="C0NEWS", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] == "3"
    assert len(slack.calls_to("chat.postMessage")) == 1 and slack.posted() == []
    # the queue is used up: the next call goes through
    assert web.chat_postMessage(channel="C0NEWS", text="x")["ok"]


def test_server_error(slack: FakeSlack) -> None:
    slack.fail_next.append((500, {"ok": False, "error": "fatal_error"}, {}))
    with pytest.raises(SlackApiError) as info:
        client(slack).chat_postMessage(channel="C0NEWS", text="x")
    assert info.value.response.status_code == 500
    assert info.value.response["error"] == "fatal_error"


def test_dropped_connection_is_retried_once_by_default(slack: FakeSlack) -> None:
    slack.fail_next.append(DROP)
    resp = client(slack).chat_postMessage(channel="C0NEWS", text="x")
    assert resp["ok"]
    assert len(slack.calls_to("chat.postMessage")) == 2 and len(slack.posted()) == 1


def test_two_drops_exhaust_the_retry(slack: FakeSlack) -> None:
    slack.fail_next.extend([DROP, DROP])
    with pytest.raises(OSError):  # ConnectionResetError / URLError
        client(slack).chat_postMessage(channel="C0NEWS", text="x")
    assert len(slack.calls_to("chat.postMessage")) == 2 and slack.posted() == []


def test_drop_after_processing_duplicates_under_default_retry(slack: FakeSlack) -> None:
    slack.fail_next.append(DROP_AFTER_PROCESSING)
    client(slack).chat_postMessage(channel="C0NEWS", text="x")
    assert len(slack.posted()) == 2  # what a retried post can do to a real channel
    slack.fail_next.append(DROP_AFTER_PROCESSING)
    with pytest.raises(OSError):
        WebClient(token="xoxb-good", base_url=slack.base_url, timeout=5,
                  retry_handlers=[]).chat_postMessage(channel="C0NEWS", text="y")
    assert [m["text"] for m in slack.posted()] == ["x", "x", "y"]


def test_slow_answer_times_out(slack: FakeSlack) -> None:
    slack.delay_seconds = 1.5
    web = WebClient(token="xoxb-good", base_url=slack.base_url, timeout=0.3,
                    retry_handlers=[])
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        web.auth_test()
    assert time.monotonic() - start < 1.4


# --- Teams -------------------------------------------------------------------------

def test_teams_accepts_with_202_and_empty_body(teams: FakeTeamsWebhook) -> None:
    assert "/workflows/abc/triggers/manual/paths/invoke?" in teams.url
    assert "sig=secret" in teams.url
    resp = httpx.post(teams.url, json=CARD, timeout=5)
    assert resp.status_code == 202 and resp.content == b""
    assert teams.received == [CARD]
    assert teams.cards == [CARD["attachments"][0]["content"]]


def test_teams_throttled_with_retry_after(teams: FakeTeamsWebhook) -> None:
    teams.fail_next.append((429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "7"}))
    resp = httpx.post(teams.url, json=CARD, timeout=5)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert teams.received == []
    assert httpx.post(teams.url, json=CARD, timeout=5).status_code == 202


@pytest.mark.parametrize("status", [400, 500])
def test_teams_queued_errors(teams: FakeTeamsWebhook, status: int) -> None:
    teams.fail_next.append((status, {"error": {"code": "x"}}, {}))
    assert httpx.post(teams.url, json=CARD, timeout=5).status_code == status
    assert teams.received == []


def test_teams_drop(teams: FakeTeamsWebhook) -> None:
    teams.fail_next.append(DROP)
    with pytest.raises(httpx.TransportError):
        httpx.post(teams.url, json=CARD, timeout=5)
    assert teams.received == [] and len(teams.requests) == 1


def test_teams_wrong_path_sig_method_and_body(teams: FakeTeamsWebhook) -> None:
    assert httpx.post(teams.base_url + "/workflows/other", json=CARD,
                      timeout=5).status_code == 404
    assert httpx.post(teams.url.replace("sig=secret", "sig=wrong"), json=CARD,
                      timeout=5).status_code == 401
    assert httpx.get(teams.url, timeout=5).status_code == 405
    assert httpx.post(teams.url, content=b"not json", timeout=5).status_code == 400
    assert teams.received == []


def test_teams_slow_answer_times_out(teams: FakeTeamsWebhook) -> None:
    teams.delay_seconds = 1.5
    with pytest.raises(httpx.TimeoutException):
        httpx.post(teams.url, json=CARD, timeout=0.3)
