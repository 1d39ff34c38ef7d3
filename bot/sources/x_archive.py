"""Read an X account's downloaded archive into Items (``herald import x-archive PATH``).

PATH is the unzipped archive folder (with ``data/tweets.js`` or, in older exports,
``data/tweet.js``, and ``data/account.js``), or the ``tweets.js`` file itself with
``account.js`` beside it. Each file is JavaScript of the form
``window.YTD.tweets.part0 = [ … ]``; large archives split tweets over
``tweets-part1.js`` and so on, which are read too. Posts become Items exactly as
live API posts do (t.co links expanded from ``entities.urls``, media links
dropped), so they merge and tag like any other. Replies to other accounts and
retweets are left out unless asked for; replies to oneself (threads) are kept, and so
are reposts and quotes of the account's own posts: they join the post's story, as
from the live API (an archive's repost gives no id: the post is the one whose text
the ``RT @account: …`` text repeats).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.errors import ParseError
from bot.model import Item
from bot.sources.x import original_of, own_status, retweeted_handle, tweet_to_item

_PREFIX = re.compile(r"^\s*window\.YTD\.[\w.]+\s*=\s*", re.DOTALL)


@dataclass(frozen=True)
class Account:
    username: str
    name: str | None
    account_id: str | None


def read_ytd(path: Path) -> list[Any]:
    """The JSON array inside one ``window.YTD.<name>.partN = [...]`` file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParseError("file not found", url=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read the file: {exc}", url=str(path)) from None
    body = _PREFIX.sub("", text, count=1).strip().rstrip(";")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not an X archive data file (line {exc.lineno}: {exc.msg})",
                         url=str(path)) from None
    if not isinstance(data, list):
        raise ParseError("not an X archive data file (expected a list)", url=str(path))
    return data


def _data_dir(path: Path) -> tuple[Path, list[Path]]:
    if path.is_dir():
        folder = path / "data" if (path / "data").is_dir() else path
        files = sorted(folder.glob("tweets.js")) + sorted(folder.glob("tweets-part*.js")) \
            or sorted(folder.glob("tweet.js")) + sorted(folder.glob("tweet-part*.js"))
        if not files:
            raise ParseError("no data/tweets.js in this folder: is it an unzipped X archive?",
                             url=str(path))
        return folder, files
    if path.suffix == ".js":
        return path.parent, [path]
    raise ParseError("give the archive folder or its data/tweets.js", url=str(path))


def read_account(folder: Path) -> Account:
    data = read_ytd(folder / "account.js")
    account = (data[0] or {}).get("account", {}) if data else {}
    username = account.get("username")
    if not username:
        raise ParseError("account.js has no username", url=str(folder / "account.js"))
    return Account(username, account.get("accountDisplayName"), account.get("accountId"))


def _to_v2(tweet: dict[str, Any]) -> dict[str, Any]:
    """An archive tweet reshaped to the API v2 fields tweet_to_item reads."""
    created = tweet.get("created_at")
    if isinstance(created, str):
        try:
            created = datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y").isoformat()
        except ValueError:
            pass
    entities = tweet.get("entities") or {}
    urls = [dict(u) for u in entities.get("urls") or []]
    for media in (tweet.get("extended_entities") or entities).get("media") or []:
        if media.get("url"):
            urls.append({"url": media["url"], "display_url": media.get("display_url", ""),
                         "media_key": media.get("id_str") or "media"})
    refs = []
    if tweet.get("in_reply_to_status_id_str"):
        refs.append({"type": "replied_to", "id": tweet["in_reply_to_status_id_str"]})
    return {"id": str(tweet.get("id_str") or tweet.get("id")), "text": tweet.get("full_text")
            or tweet.get("text") or "", "created_at": created, "entities": {"urls": urls},
            "referenced_tweets": refs}


def read_archive(path: Path, *, source: str | None = None, include_replies: bool = False,
                 include_retweets: bool = False, collected_at: datetime) -> tuple[Account,
                                                                                 list[Item]]:
    """The account and its posts as Items (source name defaults to ``x-archive-<user>``)."""
    folder, files = _data_dir(path)
    account = read_account(folder)
    name = source or f"x-archive-{account.username.lower()}"[:64]
    tweets = []
    for file in files:
        for entry in read_ytd(file):
            tweet = (entry or {}).get("tweet", entry) if isinstance(entry, dict) else None
            if isinstance(tweet, dict) and (tweet.get("id_str") or tweet.get("id")):
                tweets.append(_to_v2(tweet) | {"_reply_to": tweet.get(
                    "in_reply_to_screen_name")})
    tweets.sort(key=lambda t: int(t["id"]))  # ids grow with time
    posts = [(t["id"], t["text"]) for t in tweets]
    items: list[Item] = []
    for tweet in tweets:
        replying_to = tweet.pop("_reply_to")
        if replying_to and replying_to.lower() != account.username.lower() \
                and not include_replies:
            continue
        repost_of = _own_repost(tweet, account.username, posts)
        if not repost_of and not include_retweets and retweeted_handle(tweet["text"]):
            continue
        items.append(tweet_to_item(tweet, source=name, username=account.username,
                                   author_name=account.name, collected_at=collected_at,
                                   repost_of=repost_of))
    items.sort(key=lambda i: i.published_at)
    return account, items


def _quotes(tweet: dict[str, Any]) -> list[str]:
    """The posts a post links to (a quote links to the post it quotes)."""
    return [u.get("expanded_url") or "" for u in tweet["entities"]["urls"]
            if "/status/" in (u.get("expanded_url") or "")]


def _own_repost(tweet: dict[str, Any], username: str,
                posts: list[tuple[str, str]]) -> str | None:
    """The id of the account's own post that an archive post reposts or quotes, or None."""
    handle = retweeted_handle(tweet["text"])
    if handle is not None:
        earlier = [p for p in posts if int(p[0]) < int(tweet["id"])]
        return original_of(tweet["text"], earlier) if handle.lower() == username.lower() \
            else None
    for url in _quotes(tweet):
        quoted = own_status(url, username)
        if quoted and quoted != tweet["id"]:
            return quoted
    return None
