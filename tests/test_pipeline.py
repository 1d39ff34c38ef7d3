"""The pure core: key dates, the tag engine's grammar, story composition and routing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.config import RouteConfig
from bot.errors import ConfigError
from bot.model import Link, Tag, TagGroup
from bot.pipeline.dates import extract_dates
from bot.pipeline.route import route
from bot.pipeline.story import best_item, compose
from bot.pipeline.tagging import compile_term, parse_taxonomy
from tests.builders import item, routing

AUG = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)
DEC = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "published", "expected"), [
    ("Applications for the next nine cohorts of our #SeacoleProg will open on 27 August.",
     AUG, [("applications-open", date(2026, 8, 27))]),
    ("Applications close at midnight on 3 September.", AUG,
     [("applications-close", date(2026, 9, 3))]),
    ("Last chance to apply: places close on Friday 4th September 2026.", AUG,
     [("applications-close", date(2026, 9, 4))]),
    ("Join our improvement masterclass on Tuesday 14 October.", AUG,
     [("event", date(2026, 10, 14))]),
    ("The webinar takes place on September 9, 2026 at 2pm.", AUG,
     [("event", date(2026, 9, 9))]),
    ("Registration opens 2026-09-01 and closes 2026-09-30.", AUG,
     [("applications-open", date(2026, 9, 1)), ("applications-close", date(2026, 9, 30))]),
    ("Nominations deadline: 12/09/2026.", AUG, [("applications-close", date(2026, 9, 12))]),
    # A December post about January means next January.
    ("Applications open on 14 January for the spring cohort.", DEC,
     [("applications-open", date(2027, 1, 14))]),
    # A date with no clear meaning is not a key date.
    ("Our office moves on 1 September.", AUG, []),
    ("In Spring 2019 practitioners came together.", AUG, []),
    ("Applications open on 31 February.", AUG, []),
])
def test_key_dates(text: str, published: datetime, expected: list[tuple[str, date]]) -> None:
    found = [(d.what, d.date) for d in extract_dates(text, published)]
    assert found == expected


@pytest.mark.parametrize(("term", "text", "hit"), [
    ("coach*", "Our coaching offer", True),
    ("coach*", "a stagecoach trip", False),
    ("quality improvement", "Quality-improvement methods", True),
    ("quality improvement", "quality\nimprovement", False),
    ("fully-funded", "fully funded places", True),
    ("#SeacoleProg", "our #SeacoleProg cohorts", True),
    ("#SeacoleProg", "SeacoleProg without a hash", False),
    ("Nye Bevan", "the #NyeBevan programme", True),
    ("/\\bICS(s)?\\b/", "partners across ICSs", True),
])
def test_term_grammar(term: str, text: str, hit: bool) -> None:
    assert bool(compile_term(term).search(text)) is hit


@pytest.mark.parametrize(("data", "key"), [
    ({}, "tag"),
    ({"tag": [{"group": "colour", "slug": "x", "rules": [{"match": ["a"]}]}]}, "group"),
    ({"tag": [{"group": "domain", "slug": "Bad Slug", "rules": [{"match": ["a"]}]}]}, "slug"),
    ({"tag": [{"group": "domain", "slug": "x", "rules": [{"match": "a"}]}]}, "match"),
    ({"tag": [{"group": "domain", "slug": "x", "rules": [{"match": ["/(/"]}]}]}, "match"),
    ({"tag": [{"group": "domain", "slug": "x", "rules": [{"match": ["a"], "weight": "2"}]}]},
     "weight"),
    ({"tag": [{"group": "domain", "slug": "x", "colour": 1, "rules": []}]}, "colour"),
    ({"tag": [{"group": "domain", "slug": "x", "rules": []}]}, "rules"),
])
def test_taxonomy_errors_name_the_key(data: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as exc:
        parse_taxonomy(data, file="tax.toml")
    assert "tax.toml" in str(exc.value) and key in str(exc.value)


def test_scores_weights_and_one_kind() -> None:
    tax = parse_taxonomy({"tag": [
        {"group": "kind", "slug": "event", "rules": [{"match": ["webinar"], "weight": 2}]},
        {"group": "kind", "slug": "news", "fallback": True},
        {"group": "domain", "slug": "care", "min_score": 2,
         "rules": [{"match": ["care"]}, {"match": ["carer*"]}, {"match": ["careless"],
                                                                "weight": -5}]},
    ]})
    r = tax.tag("A webinar for carers", "about care")
    assert r.kind == "event"
    assert [t.slug for t in r.tags if t.group is TagGroup.DOMAIN] == ["care"]
    assert "'carers'" in next(t.reason for t in r.tags if t.slug == "care")
    assert tax.tag("Careless care of carers", "").kind == "news"
    assert [t.slug for t in tax.tag("Careless care of carers", "").tags] == ["news"]


def test_story_prefers_the_website_post_and_keeps_manual_tags() -> None:
    ctx = routing()
    post = item(1, source="x", source_kind="x", title="Short post", text="short post text",
                url="https://x.com/a/status/1")
    article = item(2, title="The full article about coaching",
                   text="Our executive coaching support offer is open to senior leaders.")
    assert best_item([post, article]) is article
    manual = [Tag(TagGroup.KIND, "event", "set by comms", manual=True)]
    content = compose([post, article], ctx.taxonomy, manual)
    assert content.title == "The full article about coaching"
    assert content.kind == "event"
    assert [t.slug for t in content.tags if t.group is TagGroup.KIND] == ["event"]
    assert content.url == "https://academy.example.org/news/2"


def test_route_filters() -> None:
    routes = [RouteConfig(domains=["learning-capacity"], to=["a"]),
              RouteConfig(kinds=["event"], sources=["news"], to=["b", "a"]),
              RouteConfig(to=["c"])]
    got = route(domains=["learning-capacity"], kind="event", programmes=[],
                sources=["news"], routes=routes, enabled_targets={"a", "b"})
    assert got == ["a", "b"]
    assert route(domains=[], kind="news", programmes=[], sources=["x"], routes=routes,
                 enabled_targets={"a", "b", "c"}) == ["c"]


def test_links_merge_expansions() -> None:
    it = item(1, text="See https://t.co/abc for more", links=(
        Link("https://t.co/abc", "https://academy.example.org/news/1"),))
    (link,) = [lk for lk in it.links if lk.url == "https://t.co/abc"]
    assert link.expanded_url == "https://academy.example.org/news/1"
