"""Recorded X API v2 answers, in the shape X documents, replayed at the HTTP layer with
``responses`` so the real tweepy client (and requests under it) does the work.

X's live API cannot run here; everything else about the exchange is real: the URLs,
query parameters, headers and status codes tweepy sends and reads.
"""

from __future__ import annotations

import re
import time
from typing import Any

import responses

API = "https://api.twitter.com/2"
USER_ID = "1200000000000000001"
USERNAME = "nwacademy"


def user_lookup() -> dict[str, Any]:
    return {"data": {"id": USER_ID, "name": "North West Leadership Academy",
                     "username": USERNAME}}


def tweet(tweet_id: str, text: str, created_at: str, urls: list[dict[str, Any]] | None = None,
          **extra: Any) -> dict[str, Any]:
    """One post as GET /2/users/:id/tweets returns it with our tweet.fields."""
    entities: dict[str, Any] = {}
    if urls:
        entities["urls"] = [{"start": text.find(u["url"]),
                             "end": text.find(u["url"]) + len(u["url"]), **u} for u in urls]
    body = {"id": tweet_id, "text": text, "created_at": created_at, "author_id": USER_ID,
            "conversation_id": tweet_id, "edit_history_tweet_ids": [tweet_id], **extra}
    if entities:
        body["entities"] = entities
    return body


def timeline(tweets: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"result_count": len(tweets)}
    if tweets:
        meta["newest_id"] = max(t["id"] for t in tweets)
        meta["oldest_id"] = min(t["id"] for t in tweets)
    if next_token:
        meta["next_token"] = next_token
    return {"data": tweets, "meta": meta} if tweets else {"meta": meta}


CLIENT_NOT_ENROLLED = {
    "client_id": "30000000",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
              "keys and tokens from a Twitter developer App that is attached to a Project.",
    "registration_url": "https://developer.x.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
            "status": 429}


def add_user(rsps: responses.RequestsMock, username: str = USERNAME) -> None:
    rsps.get(f"{API}/users/by/username/{username}", json=user_lookup())


def add_timeline(rsps: responses.RequestsMock, body: dict[str, Any], status: int = 200,
                 headers: dict[str, str] | None = None, **match: str) -> None:
    """Answer GET /2/users/:id/tweets (optionally only when the query has ``match``)."""
    matchers = [responses.matchers.query_param_matcher(match, strict_match=False)] \
        if match else []
    rsps.get(re.compile(rf"{re.escape(API)}/users/{USER_ID}/tweets.*"), json=body,
             status=status, headers=headers or {}, match=matchers)


def rate_limit_headers(reset_in: int = 900) -> dict[str, str]:
    return {"x-rate-limit-limit": "5", "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time()) + reset_in)}
