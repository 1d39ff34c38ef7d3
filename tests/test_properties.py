"""Property tests (hypothesis): for any input, canonical URLs are stable, text cleaning
is idempotent, Slack and Teams renderings stay within their limits and carry no markup
the text did not come with, and the digest puts each story under exactly one heading."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.digest import Period, build_digest
from bot.model import KeyDate, Story, Tag, TagGroup
from bot.text import clean_text, truncate
from bot.urls import canonical_url
from channels import ChannelContext
from channels.slack import SlackChannel, SlackOptions
from channels.teams import MAX_PAYLOAD_BYTES, TeamsChannel, TeamsOptions

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
WHEN = datetime(2026, 8, 18, 9, 0, tzinfo=UTC)
DOMAINS = ["individual-effectiveness", "relationships-connectivity", "innovation-improvement",
           "learning-capacity"]
hostile = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                  max_size=400) | st.sampled_from([
                      "<!channel>", "<!here|here>", "<@U123>", "<#C1|x>", "<https://e.x|y>",
                      "@here", "@everyone", "[a](https://e.x)", "**b**", "{{DATE(2017-02-14T"
                      "06:08:39Z, SHORT)}}", "- item\r1. two", "&amp;<>", "\r\nBcc: x@y"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "HttpS"]))
    host = draw(st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,10}(\.[a-zA-Z]{2,5}){1,2}",
                              fullmatch=True))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = draw(st.from_regex(r"(/[a-zA-Z0-9._~%-]{0,8}){0,4}", fullmatch=True))
    keys = draw(st.lists(st.sampled_from(["p", "id", "utm_source", "utm_medium", "fbclid",
                                          "gclid", "q", "mc_cid"]), max_size=4))
    query = "&".join(f"{k}={draw(st.from_regex(r'[a-z0-9]{0,4}', fullmatch=True))}"
                     for k in keys)
    frag = draw(st.sampled_from(["", "#top", "#a-b"]))
    return f"{scheme}://{host}{port}{path}{'?' + query if query else ''}{frag}"


@FAST
@given(urls())
def test_canonical_url_is_stable_and_clean(url: str) -> None:
    canon = canonical_url(url)
    assert canon is not None
    assert canonical_url(canon) == canon
    assert "#" not in canon and not re.search(r"[?&](utm_\w+|fbclid|gclid|mc_cid)=", canon)
    assert canon.startswith(("http://", "https://")) and canon == canon.strip()
    default = ":443" if canon.startswith("https:") else ":80"
    assert not re.search(re.escape(default) + r"(/|$)", canon.split("?")[0])


@FAST
@given(st.text(max_size=300))
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", once)


@FAST
@given(st.text(max_size=500), st.integers(min_value=0, max_value=600))
def test_truncate_never_exceeds_its_limit(text: str, limit: int) -> None:
    out = truncate(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text


def story(title: str, summary: str, sources: list[str], domains: list[str],
          dates: list[date], url: str | None) -> Story:
    tags = (Tag(TagGroup.KIND, "event", "r"),
            *(Tag(TagGroup.DOMAIN, d, "r") for d in dict.fromkeys(domains)))
    from tests.builders import item

    items = tuple(item(n, source=s or "src") for n, s in enumerate(sources or ["src"]))
    return Story(1, title, summary, url, "event", tags,
                 tuple(KeyDate("event", d) for d in dates), items, WHEN, WHEN)


stories = st.builds(story, hostile, hostile, st.lists(hostile, max_size=3),
                    st.lists(st.sampled_from(DOMAINS), max_size=4),
                    st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=4),
                    st.sampled_from([None, "https://academy.example.org/n/1",
                                     "javascript:alert(1)"]))


def all_text(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [t for k, v in obj.items() if k not in ("url", "type", "action_id")
                for t in all_text(v)]
    if isinstance(obj, list):
        return [t for v in obj for t in all_text(v)]
    return []


@FAST
@given(stories)
def test_slack_rendering_stays_in_limits_and_never_mentions(s: Story) -> None:
    ch = SlackChannel("t", SlackOptions(channel="C0NEWS"), ChannelContext(Path(".")))
    payload = ch.render(s)
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert all(len(e["text"]) <= 2000 for e in block["elements"])
        if block["type"] == "actions":
            assert block["elements"][0]["url"].startswith(("https://", "http://"))
    for text in all_text(payload):
        assert not re.search(r"<[!@#]|<https?:", text)
        assert not re.search(r"@(here|channel|everyone)\b", text)


@FAST
@given(stories)
def test_teams_card_stays_small_and_plain(s: Story) -> None:
    ch = TeamsChannel("t", TeamsOptions(), ChannelContext(Path(".")))
    payload = ch.render(s)
    assert len(json.dumps(payload, ensure_ascii=False).encode()) <= MAX_PAYLOAD_BYTES
    card = payload["attachments"][0]["content"]
    assert card["version"] == "1.4"
    for text in all_text(card["body"]):
        assert "{{" not in text and "}}" not in text
        assert not re.search(r"(?<!\\)\]\(", text)
        assert not re.search(r"(?m)^\s*(?<!\\)[-+*] ", text)
    for action in card.get("actions", []):
        assert action["url"].startswith(("https://", "http://"))


@FAST
@given(st.lists(st.lists(st.sampled_from(DOMAINS), max_size=3), min_size=1, max_size=12),
       st.one_of(st.none(), st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=4)))
def test_digest_puts_each_wanted_story_under_one_heading(domain_sets: list[list[str]],
                                                         chosen: list[str] | None) -> None:
    period = Period(WHEN - timedelta(days=1), WHEN + timedelta(days=6), "2026-08-17", "x")
    found = []
    for n, domains in enumerate(domain_sets, start=1):
        st_ = story(f"Story {n}", "s", ["src"], domains, [], None)
        found.append(Story(n, st_.title, st_.summary, None, "event", st_.tags, (), st_.items,
                           WHEN, WHEN))
    wanted = tuple(dict.fromkeys(chosen)) if chosen else None
    content = build_digest(wanted, found, period, WHEN.date(), {}, DOMAINS)
    expected = {s.id for s in found if wanted is None or set(s.domains) & set(wanted)}
    if not expected:
        assert content is None
        return
    assert content is not None
    placed = [s.id for g in content.groups for s in g.stories]
    assert sorted(placed) == sorted(expected)  # each once, none missing, none extra
    for group in content.groups:
        if group.slug:
            assert wanted is None or group.slug in wanted
