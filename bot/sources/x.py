"""X (Twitter) as a source, through tweepy's API v2 ``Client`` with a bearer token.

Config::

    [[sources]]
    name = "academy-x"
    type = "x"
    username = "nhsnwla"
    token_env = "X_BEARER_TOKEN"    # the default
    include_replies = false         # the default
    include_retweets = false        # others' posts reposted or quoted; the default
    max_results = 100               # posts per page (5-100)
    max_pages = 3                   # pages per poll
    every = "30m"

The username is resolved to an id once (``get_user``) and remembered. Each poll
asks ``get_users_tweets`` only for posts newer than the last one seen
(``since_id``): X charges per post read, so nothing is read twice. The very first
poll reads one page. A poll that runs out of pages with more left keeps its
``since_id`` and goes on next time below the oldest post it read (``until_id``),
so a burst of posts is never skipped. Posts become Items: t.co links replaced by where they point
(``entities.urls``), media links dropped from the text, long posts taken whole
from ``note_tweet``, the expanded links kept for merging, with the post's URL,
author and time.

**Reposts and quotes of the account's own posts are kept**, whatever
``include_retweets`` says: a repost (``RT @account: …``) or a quote of an earlier
post of ours is the same announcement again, so it carries a ``repost`` link to
that post's URL and joins its story (never announced on its own). So retweets are
read (not excluded at X) and those of other accounts dropped here unless asked for:
they cost a read each.

A 429 backs this source off until ``x-rate-limit-reset`` while the other sources
go on. 401 and 403 are permanent: the message says so, and names the plan
problem when X says the app cannot read timelines.

tweepy sets no timeout on its requests: each of them here is bounded per network
operation by ``[http] timeout``, and a poll starts no further page once ``[http]
deadline`` has passed since it began. (A whole-request deadline inside one page, as feeds
have, would need the socket-level limits of bot.sources.deadline under requests.)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy

from bot.errors import FetchError
from bot.model import Item, Link, RawRef
from bot.pipeline.normalize import make_item

TWEET_FIELDS = ["created_at", "entities", "referenced_tweets", "note_tweet", "author_id",
                "conversation_id", "in_reply_to_user_id"]


@dataclass(frozen=True)
class XOptions:
    username: str
    token_env: str = "X_BEARER_TOKEN"
    include_replies: bool = False
    include_retweets: bool = False
    max_results: int = 100
    max_pages: int = 3


@dataclass
class XPoll:
    """What one poll found, and the state to keep for the next."""

    items: list[Item]
    state: dict[str, Any] = field(default_factory=dict)
    read: int = 0


def expand_text(text: str, urls: list[dict[str, Any]]) -> tuple[str, list[Link]]:
    """Replace each t.co link by where it points; drop media links; return the links."""
    links: list[Link] = []
    for entry in sorted(urls, key=lambda u: -len(u.get("url", ""))):
        short = entry.get("url")
        if not short:
            continue
        expanded = entry.get("unwound_url") or entry.get("expanded_url")
        display = entry.get("display_url", "")
        is_media = bool(entry.get("media_key")) or display.startswith(("pic.x.com",
                                                                       "pic.twitter.com"))
        if is_media:
            text = text.replace(short, "")
            continue
        if expanded:
            text = text.replace(short, expanded)
        links.append(Link(short, expanded))
    return " ".join(text.split()), links


_RT = re.compile(r"RT @(\w{1,15}):\s*")
_STATUS = re.compile(r"https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/(\w{1,15})/status(?:es)?/"
                     r"(\d+)", re.IGNORECASE)


def status_url(username: str, tweet_id: str) -> str:
    """A post's own URL."""
    return f"https://x.com/{username}/status/{tweet_id}"


def own_status(url: str, username: str) -> str | None:
    """The post id when ``url`` is a post of ``username``'s, else None."""
    m = _STATUS.match(url or "")
    return m.group(2) if m and m.group(1).lower() == username.lower() else None


def retweeted_handle(text: str) -> str | None:
    """The account a repost ("RT @account: …") reposts, or None when it is no repost."""
    m = _RT.match(text)
    return m.group(1) if m else None


def _plain(text: str) -> str:
    return " ".join(re.sub(r"https?://\S+", " ", text).casefold().split())


def original_of(repost: str, posts: Sequence[tuple[str, str]]) -> str | None:
    """The id of the post, among ``posts`` (id, text; oldest first), that the repost text
    ``RT @account: …`` repeats: the latest whose text starts with the repost's (X cuts
    a long repost and ends it with "…"). For reposts whose id X did not give (an
    archive's); None when none matches or too little text is left to tell."""
    m = _RT.match(repost)
    if not m:
        return None
    body = repost[m.end():]
    cut = body.rstrip().endswith("…")
    body = _plain(body.rstrip().rstrip("…"))
    if cut:
        body = body.rsplit(" ", 1)[0]  # the last word may be cut too
    if len(body) < 20:
        return None
    for post_id, text in reversed(posts):
        if not _RT.match(text) and _plain(text).startswith(body):
            return post_id
    return None


def reposted_id(tweet: Mapping[str, Any], username: str) -> str | None:
    """The id of the account's own post that this post (API v2 JSON) reposts or quotes,
    or None: a repost says ``RT @account:``; a quote links to the quoted post."""
    refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}
    if "retweeted" in refs:
        handle = retweeted_handle(tweet.get("text") or "")
        return refs["retweeted"] if handle and handle.lower() == username.lower() else None
    if "quoted" in refs:
        for entry in (tweet.get("entities") or {}).get("urls") or []:
            target = entry.get("unwound_url") or entry.get("expanded_url") or ""
            if own_status(target, username) == refs["quoted"]:
                return refs["quoted"]
    return None


def tweet_to_item(tweet: Mapping[str, Any], *, source: str, username: str,
                  author_name: str | None, collected_at: datetime,
                  repost_of: str | None = None) -> Item:
    """One post (API v2 JSON, or an archive entry reshaped to it) as an Item;
    ``repost_of``: the id of the account's own post it reposts or quotes."""
    note = tweet.get("note_tweet") or {}
    text = note.get("text") or tweet.get("text") or ""
    entities = (note.get("entities") if note.get("text") else None) or \
        tweet.get("entities") or {}
    body, links = expand_text(text, list(entities.get("urls") or []))
    created = tweet.get("created_at")
    published = None
    if isinstance(created, str):
        try:
            published = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            published = None
    elif isinstance(created, datetime):
        published = created
    tweet_id = str(tweet["id"])
    if repost_of:
        links.append(Link(status_url(username, repost_of), rel="repost"))
    author = f"{author_name} (@{username})" if author_name else f"@{username}"
    return make_item(
        source=source, source_item_id=tweet_id,
        url=status_url(username, tweet_id), title=None, html=None, text=body,
        author=author, published_at=published, collected_at=collected_at, links=links,
        source_kind="x", raw=RawRef("application/x.twitter+json",
                                    json.dumps(dict(tweet), default=str)[:20000]))


def _x_error(exc: tweepy.HTTPException, username: str) -> FetchError:
    status = exc.response.status_code if exc.response is not None else None
    detail = "; ".join(str(m) for m in (exc.api_messages or [])) or str(exc)
    body: dict[str, Any] = {}
    try:
        body = exc.response.json() if exc.response is not None else {}
    except ValueError:
        body = {}
    reason = str(body.get("reason") or "")
    if isinstance(exc, tweepy.TooManyRequests):
        reset = getattr(exc, "reset_time", None)
        wait = max(1.0, reset - datetime.now(UTC).timestamp()) if reset else None
        return FetchError("X rate limit (429); backing off until the limit resets",
                          url=f"x:@{username}", retry_after=wait)
    if isinstance(exc, tweepy.Unauthorized):
        return FetchError(f"X refused the bearer token (401): {detail}", url=f"x:@{username}",
                          permanent=True)
    if isinstance(exc, tweepy.Forbidden):
        plan = reason == "client-not-enrolled" or "access level" in detail.lower() or \
            "plan" in detail.lower()
        hint = (" — your X API plan cannot read timelines; upgrade the plan, or import an "
                "archive with `herald import x-archive`") if plan else ""
        return FetchError(f"X forbade this request (403): {detail}{hint}",
                          url=f"x:@{username}", permanent=True)
    if isinstance(exc, tweepy.NotFound):
        return FetchError(f"X has no user @{username} (404)", url=f"x:@{username}",
                          permanent=True)
    return FetchError(f"X answered HTTP {status}: {detail}", url=f"x:@{username}")


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """Gives every request of the session a timeout (tweepy sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float | None, float | None] | None = None,
             verify: bool | str = True, cert: str | tuple[str, str] | None = None,
             proxies: dict[str, str] | None = None) -> requests.Response:
        if timeout is None:
            timeout = (min(self.timeout, 10.0), self.timeout)
        return super().send(request, stream=stream, timeout=timeout, verify=verify,
                            cert=cert, proxies=proxies)


class XSource:
    """Polls one X account."""

    def __init__(self, name: str, options: XOptions, environ: Mapping[str, str],
                 client: tweepy.Client | None = None, timeout: float = 20.0,
                 deadline: float = 30.0) -> None:
        self.name = name
        self.options = options
        self.environ = environ
        self.timeout = timeout
        self.deadline = deadline
        self._client = client

    @property
    def client(self) -> tweepy.Client:
        if self._client is None:
            token = self.environ.get(self.options.token_env)
            if not token:
                raise FetchError(f"the environment variable {self.options.token_env} is not "
                                 f"set; the x source {self.name} needs an X API bearer token",
                                 url=f"x:@{self.options.username}", permanent=True)
            self._client = tweepy.Client(bearer_token=token, wait_on_rate_limit=False,
                                         return_type=dict)
            adapter = _TimeoutAdapter(self.timeout)
            self._client.session.mount("https://", adapter)
            self._client.session.mount("http://", adapter)
        return self._client

    def poll(self, state: Mapping[str, Any], now: datetime) -> XPoll:
        """Posts newer than the last poll's; raises FetchError on any failure."""
        o = self.options
        try:
            user_id = state.get("user_id")
            author_name = state.get("name")
            if not user_id:
                found = self.client.get_user(username=o.username)
                data = (found or {}).get("data") or {}
                if not data.get("id"):
                    raise FetchError(f"X has no user @{o.username}", url=f"x:@{o.username}",
                                     permanent=True)
                user_id, author_name = str(data["id"]), data.get("name")
            since_id = state.get("since_id")
            # A poll that ran out of pages leaves a gap to finish first: posts newer than
            # since_id but older than until_id, the oldest one already read.
            until_id = state.get("until_id")
            # Retweets are read: the account's reposts of its own posts are kept.
            exclude = [] if o.include_replies else ["replies"]
            pages = o.max_pages if since_id else 1
            tweets: list[dict[str, Any]] = []
            token = None
            started = time.monotonic()
            for page_number in range(pages):
                if page_number and time.monotonic() - started > self.deadline:
                    break  # the rest next time, below the oldest post read (until_id)
                params: dict[str, Any] = {"max_results": o.max_results,
                                          "tweet_fields": TWEET_FIELDS}
                if exclude:
                    params["exclude"] = exclude
                if since_id:
                    params["since_id"] = since_id
                if until_id:
                    params["until_id"] = until_id
                if token:
                    params["pagination_token"] = token
                page = self.client.get_users_tweets(user_id, **params)
                tweets += list((page or {}).get("data") or [])
                token = ((page or {}).get("meta") or {}).get("next_token")
                if not token:
                    break
        except tweepy.HTTPException as exc:
            raise _x_error(exc, o.username) from None
        except requests.RequestException as exc:
            raise FetchError(f"cannot reach X: {type(exc).__name__}: {exc}",
                             url=f"x:@{o.username}") from None
        ids = [int(t["id"]) for t in tweets]
        # The newest post seen, over this poll and an unfinished earlier one.
        newest = max([*ids, *([int(state["pending_newest"])] if state.get("pending_newest")
                              else [])], default=None)
        new_state: dict[str, Any] = {"user_id": user_id, "name": author_name}
        if token and since_id:
            # More pages are left: keep since_id, and next time read below the oldest seen.
            new_state.update(since_id=since_id, until_id=str(min(ids)),
                             pending_newest=str(newest) if newest else None)
        else:
            known = [v for v in (newest, int(since_id) if since_id else None) if v]
            new_state["since_id"] = str(max(known)) if known else None
        read = len(tweets)
        own = {t["id"]: reposted_id(t, o.username) for t in tweets}
        if not o.include_retweets:
            tweets = [t for t in tweets if own[t["id"]] or not any(
                r.get("type") in ("retweeted", "quoted") for r in t.get("referenced_tweets") or [])]
        items = [tweet_to_item(t, source=self.name, username=o.username,
                               author_name=author_name, collected_at=now,
                               repost_of=own[t["id"]]) for t in tweets]
        # Oldest first, as they were posted: a post is placed before its reposts.
        items.sort(key=lambda i: (i.published_at, len(i.source_item_id), i.source_item_id))
        return XPoll(items, new_state, read=read)
