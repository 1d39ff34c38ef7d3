"""The ``[brand]`` config section: validated, with sensible defaults, and used by the public
pages (the academy's name, the privacy notice), the digest email (name, logo, colour) and the
posts (the academy's name, the button labels)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.config import BrandConfig, brand_name, parse_config
from bot.digest import Period, build_digest, render_digest
from bot.digest_story import DigestBrand
from bot.errors import ConfigError
from bot.model import KeyDate, Story
from tests.builders import item
from tests.web_helpers import make_web

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LOGO = "https://academy.example.org/logo.png"
PRIVACY = "https://academy.example.org/privacy"


def test_brand_defaults_fall_back_to_the_digest_list_name_then_herald() -> None:
    assert brand_name(parse_config({}).config) == "Academy news"
    assert brand_name(parse_config({"digest": {"list_name": "NW news"}}).config) == "NW news"
    assert brand_name(parse_config({"digest": {"list_name": " "}}).config) == "Herald"
    config = parse_config({"brand": {"name": "North West Leadership Academy"}}).config
    assert brand_name(config) == "North West Leadership Academy"
    assert config.brand.button("cohort-opening") == "Apply"
    assert config.brand.button("event") == "Book your place"
    assert config.brand.button("coaching-offer") == "Request a coach"
    assert config.brand.button("news") == "Read more"


@pytest.mark.parametrize(("brand", "words"), [
    ({"logo_url": "javascript:alert(1)"}, "brand.logo_url"),
    ({"privacy_url": "ftp://x.example/p"}, "brand.privacy_url"),
    ({"privacy_url": 'https://x.example/"onload="x'}, "not an http(s) URL"),
    ({"colour": "red"}, "#rrggbb"),
    ({"accent_colour": "#12345"}, "#rrggbb"),
    ({"name": "two\nlines"}, "one line"),
    ({"buttons": {"event": ""}}, "1 to 30 characters"),
    ({"shade": "#000000"}, "brand.shade"),
])
def test_bad_brand_values_are_refused_naming_the_key(brand: dict[str, object],
                                                      words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"brand": brand})
    assert words in str(err.value)


def test_colours_are_kept_lower_case_and_buttons_can_be_changed() -> None:
    brand = BrandConfig(colour="#AABBCC", buttons={"event": "Save a seat"})
    assert brand.colour == "#aabbcc"
    assert brand.button("event") == "Save a seat" and brand.button("cohort-opening") \
        == "Read more"


def test_the_digest_email_carries_the_name_logo_and_colour() -> None:
    story = Story(id=1, title="Cohort 6 opens", summary="Apply now.",
                  url="https://academy.example.org/c6", kind="cohort-opening", tags=(),
                  dates=(KeyDate("applications-close", date(2026, 12, 18)),),
                  items=(item(1, source="academy-news"),), first_seen=WHEN, updated_at=WHEN)
    period = Period(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC),
                    "2026-11-30", "30 November – 6 December 2026")
    content = build_digest(None, [story], period, date(2026, 12, 1), {}, [])
    assert content is not None
    brand = DigestBrand(name="North West Leadership Academy", logo_url=LOGO,
                        colour="#aa0000", accent="#220000")
    rendered = render_digest(content, list_name="Academy news", domains_label="every domain",
                             unsubscribe_url="#", preferences_url="#", brand=brand)
    assert f'<img src="{LOGO}" alt="North West Leadership Academy"' in rendered.html
    assert "#aa0000" in rendered.html and "#005eb8" not in rendered.html
    # The story: the key date first, then the text, a button that fits the kind, the source.
    html = rendered.html
    assert html.index("📅 Applications close Fri 18 Dec") < html.index("Apply now.")
    assert ">Apply</a>" in html and "from Academy news" in html
    assert "📅 Applications close Fri 18 Dec" in rendered.text
    assert "Apply: https://academy.example.org/c6" in rendered.text


def test_public_pages_are_headed_by_the_academy_and_link_the_privacy_notice(
        tmp_path: Path, clock: FixedClock) -> None:
    web = make_web(tmp_path, clock, brand={"name": "North West <Leadership> Academy",
                                           "logo_url": LOGO, "privacy_url": PRIVACY})
    try:
        page = web.client().get("/subscribe").text
        assert '<div class="brand"><a href="/subscribe"><img class="brand-logo" ' \
            f'src="{LOGO}" alt="">North West &lt;Leadership&gt; Academy</a></div>' in page
        assert ">Herald<" not in page
        assert f'<a href="{PRIVACY}" rel="noopener noreferrer">privacy notice</a>' in page
    finally:
        web.close()
    plain = make_web(tmp_path / "plain", clock)
    try:
        page = plain.client().get("/subscribe").text
        assert '<a href="/subscribe">Academy news</a>' in page
        assert "privacy notice" not in page
    finally:
        plain.close()


def test_posts_name_a_feed_by_its_display_name_read_live(tmp_path: Path,
                                                         clock: FixedClock) -> None:
    """A feed added with a display name is named by it in the byline; a feed renamed in
    the web app is named anew once the cached names are read again; a feed without one
    has its slug made readable. The display name is untrusted text: the byline escapes
    it where the place needs escaping (checked by the channels' hostile-input tests)."""
    from datetime import timedelta

    from bot.app import SourceNames
    from channels._post import byline

    web = make_web(tmp_path, clock)
    try:
        store = web.herald.store
        store.add_source("academy-news", "http://127.0.0.1:9/feed.xml", timedelta(hours=1),
                         clock.now(), display_name="NW Academy newsroom")
        store.add_source("partner-posts", "http://127.0.0.1:9/p.xml", timedelta(hours=1),
                         clock.now())
        names = web.herald.post_context()["source_names"]
        story = Story(id=2, title="t", summary="s", url="https://academy.example.org/a",
                      kind="news", tags=(), dates=(), first_seen=WHEN, updated_at=WHEN,
                      items=(item(1, source="academy-news"), item(2, source="partner-posts")))
        line = byline(story, names, "North West Academy")
        assert line == "North West Academy · NW Academy newsroom, Partner posts"
        store.update_source("academy-news", clock.now(), display_name="Academy bulletin")
        live = SourceNames(store.source_display_names, ttl=0)
        assert byline(story, live, "NWA") == "NWA · Academy bulletin, Partner posts"
    finally:
        web.close()
