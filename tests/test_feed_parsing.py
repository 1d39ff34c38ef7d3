"""Feed bytes to Items: RSS 2.0, Atom 1.0, RSS 1.0, JSON Feed 1.0/1.1, the bundled samples,
the JSON Feed schema examples and a real-world corpus of about 4,000 feed files."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ParseError
from bot.model import Item, Link
from bot.pipeline.normalize import url_keys
from bot.sources.feed import parse_feed
from tests.conftest import CONFIG_DIR, reference_dir

COLLECTED = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
LATER = COLLECTED + timedelta(hours=3)
FEED_URL = "https://academy.example.org/feed.xml"


def parse(body: bytes, *, collected_at: datetime = COLLECTED, url: str = FEED_URL,
          content_type: str | None = None) -> list[Item]:
    return parse_feed(body, source="academy", url=url, collected_at=collected_at,
                      content_type=content_type)


def assert_utc(value: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def item_keys(items: list[Item]) -> tuple[tuple[Any, ...], ...]:
    return tuple((i.source_item_id, i.title, i.canonical_url, i.published_at) for i in items)


# ---------------------------------------------------------------- RSS 2.0

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Leadership academy news</title>
    <link>https://academy.example.org/</link>
    <description>Programmes, coaching and events.</description>
    <item>
      <title>Seacole Programme: cohort 7 &amp; 8 open</title>
      <link>https://Academy.Example.org/news/seacole-7?utm_source=rss&amp;utm_medium=feed</link>
      <guid isPermaLink="false">academy-news-0001</guid>
      <pubDate>Tue, 18 Aug 2026 10:30:00 +0100</pubDate>
      <dc:creator>Comms team</dc:creator>
      <description><![CDATA[<p>Applications for the <em>fully funded</em> programme
        are open.   <a href="https://academy.example.org/apply">Apply here</a>.</p>
        <p>The closing date is 7 September.</p>]]></description>
    </item>
    <item>
      <title>Coaching offer for new executives</title>
      <link>https://academy.example.org/news/coaching</link>
      <description>Six sessions with an accredited coach, booked through us.</description>
    </item>
    <item>
      <description>A short community of practice update with no title, link or date.</description>
    </item>
  </channel>
</rss>
"""


def test_rss2_items() -> None:
    items = parse(RSS2)
    assert len(items) == 3
    first = items[0]
    assert first.source == "academy"
    assert first.source_item_id == "academy-news-0001"
    assert first.title == "Seacole Programme: cohort 7 & 8 open"
    assert first.published_at == datetime(2026, 8, 18, 9, 30, tzinfo=UTC)
    assert_utc(first.published_at)
    assert first.collected_at == COLLECTED
    assert first.canonical_url == "https://academy.example.org/news/seacole-7"
    assert first.author == "Comms team"
    assert first.text == ("Applications for the fully funded programme are open. Apply here."
                          "\n\nThe closing date is 7 September.")
    assert "<em>fully funded</em>" in first.html
    assert 'href="https://academy.example.org/apply"' in first.html
    assert Link("https://academy.example.org/apply") in first.links
    assert first.source_kind == "feed"
    assert first.raw is not None


def test_rss2_missing_date_becomes_collected_at() -> None:
    items = parse(RSS2)
    assert items[1].published_at == COLLECTED
    assert items[2].published_at == COLLECTED
    assert all(i.collected_at == COLLECTED for i in items)


def test_rss2_entry_without_guid_gets_a_stable_id() -> None:
    first = parse(RSS2)
    again = parse(RSS2, collected_at=LATER)  # the next poll, hours later
    # no guid: the link is the id
    assert first[1].source_item_id == "https://academy.example.org/news/coaching"
    # no guid, no link, no date: an id from the content, the same at every poll
    assert first[2].source_item_id.startswith("sha256:")
    assert [i.source_item_id for i in first] == [i.source_item_id for i in again]
    assert first[2].title.startswith("A short community of practice update")


def test_future_date_is_clamped_to_collection_time() -> None:
    body = RSS2.replace(b"Tue, 18 Aug 2026 10:30:00 +0100", b"Fri, 18 Aug 2028 10:30:00 +0000")
    assert parse(body)[0].published_at == COLLECTED


# ---------------------------------------------------------------- Atom 1.0

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Academy stories</title>
  <id>urn:uuid:6f1c3f0e-1111-4c55-9d2b-academy00001</id>
  <updated>2026-08-19T08:00:00Z</updated>
  <link rel="self" href="https://academy.example.org/stories.atom"/>
  <entry>
    <title type="html">Talent practitioners &lt;b&gt;share&lt;/b&gt; what works</title>
    <id>tag:academy.example.org,2026:story-42</id>
    <link rel="alternate" href="https://academy.example.org/stories/42#top"/>
    <link rel="related" href="https://partner.example.net/report"/>
    <published>2026-08-19T07:45:00-04:00</published>
    <updated>2026-08-19T12:00:00Z</updated>
    <author><name>Priya Example</name></author>
    <summary>A short summary.</summary>
    <content type="html">&lt;p&gt;Our community of practice met for the
      &lt;strong&gt;tenth&lt;/strong&gt; time.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Updated only</title>
    <id>tag:academy.example.org,2026:story-43</id>
    <link href="https://academy.example.org/stories/43"/>
    <updated>2026-08-18T16:00:00+02:00</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
      <p>Plain <em>xhtml</em> body.</p></div></content>
  </entry>
</feed>
"""


def test_atom_items() -> None:
    items = parse(ATOM, url="https://academy.example.org/stories.atom")
    assert len(items) == 2
    first, second = items
    assert first.source_item_id == "tag:academy.example.org,2026:story-42"
    assert first.title == "Talent practitioners share what works"
    assert first.published_at == datetime(2026, 8, 19, 11, 45, tzinfo=UTC)
    assert first.canonical_url == "https://academy.example.org/stories/42"
    assert first.author == "Priya Example"
    assert first.text == "Our community of practice met for the tenth time."
    assert "<strong>tenth</strong>" in first.html
    assert Link("https://partner.example.net/report") in first.links
    # an entry with only <updated> uses it
    assert second.published_at == datetime(2026, 8, 18, 14, 0, tzinfo=UTC)
    assert second.text == "Plain xhtml body."
    assert "<em>xhtml</em>" in second.html
    for item in items:
        assert_utc(item.published_at)


# ---------------------------------------------------------------- RSS 1.0

RSS1 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://academy.example.org/events.rdf">
    <title>Academy events</title>
    <link>https://academy.example.org/events</link>
    <description>What is on.</description>
    <items><rdf:Seq>
      <rdf:li rdf:resource="https://academy.example.org/events/masterclass"/>
      <rdf:li rdf:resource="https://academy.example.org/events/open-day"/>
    </rdf:Seq></items>
  </channel>
  <item rdf:about="https://academy.example.org/events/masterclass">
    <title>System leadership masterclass</title>
    <link>https://academy.example.org/events/masterclass?gclid=xyz</link>
    <description>Leading across boundaries, in Preston on 24 September.</description>
    <dc:date>2026-08-17T09:00:00+01:00</dc:date>
  </item>
  <item rdf:about="https://academy.example.org/events/open-day">
    <title>Open day</title>
    <link>https://academy.example.org/events/open-day</link>
    <description>Come and meet the team.</description>
  </item>
</rdf:RDF>
"""


def test_rss1_items() -> None:
    items = parse(RSS1)
    assert [i.title for i in items] == ["System leadership masterclass", "Open day"]
    first, second = items
    assert first.published_at == datetime(2026, 8, 17, 8, 0, tzinfo=UTC)
    assert first.canonical_url == "https://academy.example.org/events/masterclass"
    assert first.text == "Leading across boundaries, in Preston on 24 September."
    assert second.published_at == COLLECTED
    assert second.source_item_id  # from rdf:about or the link, never empty
    assert parse(RSS1, collected_at=LATER)[1].source_item_id == second.source_item_id
    for item in items:
        assert_utc(item.published_at)


# ---------------------------------------------------------------- hostile markup

HOSTILE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>https://academy.example.org/</link>
<description>d</description>
<item>
  <title>Harmless looking <script>alert('title')</script>news</title>
  <guid>hostile-1</guid>
  <description><![CDATA[<p onclick="steal(document.cookie)">Read
  <a href="javascript:alert('href')" onmouseover="steal()">this</a></p>
  <script>alert('body')</script><iframe src="https://evil.example/"></iframe>
  <img src="https://evil.example/x.png" onerror="alert('img')">]]></description>
</item></channel></rss>
"""


def test_hostile_markup_is_neutralised() -> None:
    (item,) = parse(HOSTILE_RSS)
    for value in (item.html, item.text, item.title):
        lowered = value.lower()
        assert "<script" not in lowered
        assert "alert(" not in lowered
        assert "onclick" not in lowered and "onmouseover" not in lowered
        assert "onerror" not in lowered
        assert "javascript:" not in lowered
        assert "<iframe" not in lowered
    assert "Read" in item.text and "this" in item.text
    assert item.html.startswith("<p>")


# ---------------------------------------------------------------- JSON Feed

JSONFEED_10 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "Academy posts",
    "home_page_url": "https://academy.example.org/",
    "author": {"name": "Academy comms"},
    "items": [
        {
            "id": 101,
            "url": "https://academy.example.org/posts/101",
            "external_url": "https://Partner.example.net/article?utm_campaign=x&id=9#comments",
            "title": "Partners write about our cohort",
            "content_html": "<p>Read the <em>partner</em> article.</p>",
            "date_published": "2026-08-18T14:00:00+02:00",
        },
        {
            "id": 102.5,
            "content_text": "A post without a title, date or url; https://t.co/AbCd123 says it.",
        },
    ],
}

JSONFEED_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Academy posts",
    "authors": [{"name": "Academy comms"}],
    "items": [
        {
            "id": "post-201",
            "url": "https://academy.example.org/posts/201",
            "title": "Executive coaching offer",
            "summary": "Summary only used when there is no content.",
            "content_text": "Six coaching sessions.\n\nBook by Friday.",
            "date_modified": "2026-08-19T06:30:00Z",
            "authors": [{"name": "Sam Coach"}],
        },
        {
            "id": "post-202",
            "summary": "Only a summary here.",
        },
    ],
}


def jbytes(doc: Any) -> bytes:
    return json.dumps(doc).encode("utf-8")


def test_json_feed_10() -> None:
    items = parse(jbytes(JSONFEED_10), url="https://academy.example.org/feed.json")
    assert len(items) == 2
    first, second = items
    assert first.source_item_id == "101"
    assert second.source_item_id == "102.5"
    assert first.title == "Partners write about our cohort"
    assert first.published_at == datetime(2026, 8, 18, 12, 0, tzinfo=UTC)
    assert_utc(first.published_at)
    assert first.text == "Read the partner article."
    assert "<em>partner</em>" in first.html
    assert first.author == "Academy comms"  # the feed's author
    external = JSONFEED_10["items"][0]["external_url"]
    assert Link(external, rel="about") in first.links
    assert url_keys(first) == {"https://academy.example.org/posts/101",
                               "https://partner.example.net/article?id=9"}
    assert second.published_at == COLLECTED
    assert second.canonical_url is None
    assert second.title.startswith("A post without a title")
    assert Link("https://t.co/AbCd123") in second.links


def test_json_feed_11() -> None:
    items = parse(jbytes(JSONFEED_11), content_type="application/feed+json")
    first, second = items
    assert first.source_item_id == "post-201"
    assert first.published_at == datetime(2026, 8, 19, 6, 30, tzinfo=UTC)
    assert first.text == "Six coaching sessions.\n\nBook by Friday."
    assert first.html == ""
    assert first.author == "Sam Coach"
    assert url_keys(first) == {"https://academy.example.org/posts/201"}
    assert second.text == "Only a summary here."
    assert second.author == "Academy comms"


@pytest.mark.parametrize("value", ["last Tuesday", "", "2026-13-45T99:00:00Z", 20260820])
def test_json_feed_unreadable_date_becomes_collected_at(value: Any) -> None:
    doc = copy.deepcopy(JSONFEED_11)
    doc["items"][0]["date_modified"] = value
    assert parse(jbytes(doc))[0].published_at == COLLECTED


def test_json_feed_with_bom_and_whitespace() -> None:
    body = b"\xef\xbb\xbf\n  " + jbytes(JSONFEED_11)
    assert len(parse(body)) == 2


def test_json_feed_invalid_json_names_line_and_column() -> None:
    body = b'{\n  "version": "https://jsonfeed.org/version/1.1",\n  "items": [,]\n}'
    with pytest.raises(ParseError, match=r"line 3, column 13"):
        parse(body)


@pytest.mark.parametrize("version", ["https://jsonfeed.org/version/2", "1.1", None, 1])
def test_json_feed_wrong_version(version: Any) -> None:
    doc = dict(JSONFEED_11, version=version)
    with pytest.raises(ParseError, match="version"):
        parse(jbytes(doc))


def test_json_feed_missing_version() -> None:
    doc = {k: v for k, v in JSONFEED_11.items() if k != "version"}
    with pytest.raises(ParseError, match="version"):
        parse(jbytes(doc))


@pytest.mark.parametrize("items", [None, {"id": "1"}, "items", 3])
def test_json_feed_items_not_a_list(items: Any) -> None:
    doc = dict(JSONFEED_11, items=items)
    with pytest.raises(ParseError, match="'items' list"):
        parse(jbytes(doc))


GOOD_ITEM = {"id": "good", "url": "https://academy.example.org/posts/good",
             "title": "A good post", "content_text": "Still here."}


@pytest.mark.parametrize(("entry", "note"), [
    ("a string", "JSON Feed item 0 is a string, not an object: skipped"),
    (7, "JSON Feed item 0 is a number, not an object: skipped"),
    (None, "JSON Feed item 0 is null, not an object: skipped"),
    ([{"id": "x"}], "JSON Feed item 0 is a list, not an object: skipped"),
    ({}, "JSON Feed item 0 ('sha256:"),
    ({"id": "x", "title": 1000, "content_html": 12},
     "JSON Feed item 0 ('x') has neither a title nor any text: skipped"),
    ({"id": "x", "url": "https://academy.example.org/x"},
     "JSON Feed item 0 ('x') has neither a title nor any text: skipped"),
])
def test_json_feed_unusable_item_is_skipped_and_named(entry: Any, note: str) -> None:
    # Bug fixed: an item that was not an object stopped the whole feed (ParseError), and
    # one with nothing usable became an "(untitled)" story. Now the item is skipped, said
    # with its index, and the feed's good items still come.
    notes: list[str] = []
    items = parse_feed(jbytes(dict(JSONFEED_11, items=[entry, GOOD_ITEM])), source="academy",
                       url=FEED_URL, collected_at=COLLECTED, notes=notes)
    assert [i.source_item_id for i in items] == ["good"]
    assert any(n.startswith(note) for n in notes), notes


@pytest.mark.parametrize(("entry", "item_id", "note"), [
    ({"title": "No id", "url": "https://academy.example.org/posts/9"},
     "https://academy.example.org/posts/9", "JSON Feed item 0 has no 'id': known by its url"),
    ({"id": "   ", "content_text": "Text without id, url or title."}, "sha256:",
     "JSON Feed item 0 has no 'id': known by its content"),
    ({"id": True, "title": "Boolean id"}, "sha256:", "JSON Feed item 0 has no 'id'"),
])
def test_json_feed_item_without_id_is_known_as_an_rss_entry_without_guid(
        entry: Any, item_id: str, note: str) -> None:
    # Bug fixed: one item without an id stopped the whole feed (ParseError).
    notes: list[str] = []
    items = parse_feed(jbytes(dict(JSONFEED_11, items=[entry, GOOD_ITEM])), source="academy",
                       url=FEED_URL, collected_at=COLLECTED, notes=notes)
    assert len(items) == 2 and items[0].source_item_id.startswith(item_id)
    assert items[1].source_item_id == "good"
    assert any(n.startswith(note) for n in notes), notes
    # The same bytes give the same id: no new story at every poll.
    again = parse(jbytes(dict(JSONFEED_11, items=[entry, GOOD_ITEM])))
    assert again[0].source_item_id == items[0].source_item_id


def test_json_feed_wrong_typed_fields_are_ignored_and_the_item_kept() -> None:
    # No title but text: a story titled from its text, as an RSS entry without a title.
    entry = {"id": "x", "title": ["no"], "content_html": 3, "content_text": "Cohort 9 opens.",
             "url": 1.5, "date_published": 20260820}
    notes: list[str] = []
    (item,) = parse_feed(jbytes(dict(JSONFEED_11, items=[entry])), source="academy",
                         url=FEED_URL, collected_at=COLLECTED, notes=notes)
    assert item.title == "Cohort 9 opens." and item.text == "Cohort 9 opens."
    assert item.url is None and item.published_at == COLLECTED
    assert notes == [
        "JSON Feed item 0: 'url' is a number, not a string: ignored",
        "JSON Feed item 0: 'title' is a list, not a string: ignored",
        "JSON Feed item 0: 'content_html' is a number, not a string: ignored",
        "JSON Feed item 0: 'date_published' is a number, not a string: ignored",
    ]


def test_rss_entry_with_neither_title_nor_text_is_skipped_like_a_json_item() -> None:
    body = RSS2.replace(b"<item>\n      <description>A short community",
                        b"<item><link>https://academy.example.org/bare</link></item>"
                        b"<item>\n      <description>A short community")
    notes: list[str] = []
    items = parse_feed(body, source="academy", url=FEED_URL, collected_at=COLLECTED,
                       notes=notes)
    assert "https://academy.example.org/bare" not in {i.url for i in items}
    assert len(items) == 3
    assert notes == ["entry 2 ('https://academy.example.org/bare') has neither a title nor "
                     "any text: skipped"]


def test_json_feed_not_an_object() -> None:
    with pytest.raises(ParseError, match="must be an object"):
        parse(b'["https://jsonfeed.org/version/1.1"]', content_type="application/feed+json")


def test_json_feed_not_utf8() -> None:
    body = jbytes(JSONFEED_11).replace(b"Only a summary", b"Only a \xff summary")
    with pytest.raises(ParseError, match="UTF-8"):
        parse(body)


@pytest.mark.parametrize("body", [b"", b"   \n\t", b"plain words, not a feed",
                                  b"<html><body><p>Hello</p></body></html>"])
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(body)


def test_html_page_is_named() -> None:
    page = b"<!DOCTYPE html>\n<html lang='en'><head><title>Academy</title></head>" \
           b"<body><h1>Welcome</h1><p>No feed here.</p></body></html>"
    with pytest.raises(ParseError, match="HTML page"):
        parse(page)


# ---------------------------------------------------------------- bundled samples

SAMPLES = CONFIG_DIR / "sample"
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json"}


def sample_files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in FEED_SUFFIXES)


def test_sample_folder_has_feeds() -> None:
    if not sample_files():
        pytest.skip(f"no sample feeds in {SAMPLES} yet (they are being written)")
    kinds = {p.suffix.lower() for p in sample_files()}
    assert ".json" in kinds and kinds & {".xml", ".rss", ".atom", ".rdf"}


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_parses(path: Path) -> None:
    items = parse(path.read_bytes(), url=str(path))
    assert len(items) >= 3
    assert len({i.source_item_id for i in items}) == len(items)
    for item in items:
        assert item.title and item.title != "(untitled)"
        assert item.text
        assert_utc(item.published_at)
        assert item.canonical_url is None or item.canonical_url.startswith("https://")


def jsonschema_validator(schema_file: Path) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("path", [p for p in sample_files() if p.suffix == ".json"],
                         ids=lambda p: p.name)
def test_sample_json_feed_matches_the_schema(path: Path) -> None:
    schema = reference_dir("feeds", "jsonfeed-schema") / "schema-v1.1.json"
    validator = jsonschema_validator(schema)
    doc = json.loads(path.read_text(encoding="utf-8"))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(doc)]
    assert not errors, errors


# ---------------------------------------------------------------- JSON Feed schema examples
#
# jsonfeed-schema/test/examples/{v1,v1.1}/*.json are all documents the schemas ACCEPT (there
# are no rejected examples upstream). So: valid => our reader parses them, one Item per entry.
# For documents the schema REJECTS we derive variants of those examples below and record,
# one by one, what our reader does: it rejects what it cannot use (no version, no items
# list, an entry without id) and is lenient about the rest (on purpose: real feeds are
# often slightly wrong and losing an announcement helps no one).

SCHEMA_FILES = {"v1": "schema-v1.json", "v1.1": "schema-v1.1.json"}


def schema_examples() -> list[tuple[str, Path]]:
    from tests.conftest import REFERENCE

    root = REFERENCE / "feeds" / "jsonfeed-schema" / "test" / "examples"
    return [(version, p) for version in SCHEMA_FILES
            for p in sorted((root / version).glob("*.json"))] if root.is_dir() else []


def test_schema_examples_exist() -> None:
    reference_dir("feeds", "jsonfeed-schema", "test", "examples")
    assert len(schema_examples()) >= 6


@pytest.mark.parametrize(("version", "path"), schema_examples(),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_schema_valid_example_parses(version: str, path: Path) -> None:
    root = reference_dir("feeds", "jsonfeed-schema")
    validator = jsonschema_validator(root / SCHEMA_FILES[version])
    doc = json.loads(path.read_bytes())
    assert validator.is_valid(doc), f"{path} is expected to be a valid example"
    items = parse(path.read_bytes(), url=path.as_uri())
    assert len(items) == len(doc["items"])
    assert [i.source_item_id for i in items] == [str(e["id"]) for e in doc["items"]]
    for item, entry in zip(items, doc["items"], strict=True):
        if "url" in entry:
            assert item.url == entry["url"]
        assert item.text or item.html


def _drop(key: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        del doc[key]
    return change


def _set(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc[key] = value
    return change


def _set_item(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["items"][0][key] = value
    return change


def _drop_item(*keys: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        for key in keys:
            doc["items"][0].pop(key, None)
    return change


# (name, change to a valid example, what our reader does: "ParseError" or "parses")
SCHEMA_INVALID = [
    ("no version", _drop("version"), "ParseError"),
    ("unknown version", _set("version", "https://jsonfeed.org/version/9"), "ParseError"),
    ("items not an array", _set("items", {"id": "1"}), "ParseError"),
    ("no items", _drop("items"), "ParseError"),
    ("item without id", _drop_item("id"), "parses"),  # known by its url (was ParseError)
    ("item that is a string", _set("items", ["just text"]), "skipped"),  # (was ParseError)
    ("numeric item id", _set_item("id", 42), "parses"),
    ("no feed title", _drop("title"), "parses"),
    ("unknown top-level key", _set("surprise", True), "parses"),
    ("item title not a string", _set_item("title", 1000), "parses"),
    ("item without content", _drop_item("content_html", "content_text"), "skipped"),
    ("item date not a string", _set_item("date_published", 20260820), "parses"),
    ("item url not a string", _set_item("url", 1.5), "parses"),
]


@pytest.mark.parametrize(("name", "change", "outcome"), SCHEMA_INVALID,
                         ids=[c[0] for c in SCHEMA_INVALID])
def test_schema_invalid_variant(name: str, change: Any, outcome: str) -> None:
    root = reference_dir("feeds", "jsonfeed-schema")
    validator = jsonschema_validator(root / "schema-v1.1.json")
    base = json.loads((root / "test" / "examples" / "v1.1" / "simple.json").read_bytes())
    doc = copy.deepcopy(base)
    change(doc)
    assert not validator.is_valid(doc), f"the schema should reject: {name}"
    if outcome == "ParseError":
        with pytest.raises(ParseError):
            parse(jbytes(doc))
    elif outcome == "skipped":  # the first item is skipped (named in the notes), not stored
        notes: list[str] = []
        items = parse_feed(jbytes(doc), source="academy", url=FEED_URL, collected_at=COLLECTED,
                           notes=notes)
        assert len(items) == len(doc["items"]) - 1
        assert notes and "0" in notes[-1] and "skipped" in notes[-1]
    else:
        items = parse(jbytes(doc))
        assert len(items) == len(doc["items"])
        for item in items:
            assert item.source_item_id
            assert isinstance(item.title, str)
            assert_utc(item.published_at)


# ---------------------------------------------------------------- real-world corpus


def corpus_files() -> list[Path]:
    root = reference_dir("feeds")
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.suffix.lower() in FEED_SUFFIXES)


@pytest.mark.slow
def test_corpus_parses_or_raises_parse_error_and_is_deterministic() -> None:
    files = corpus_files()
    assert len(files) > 1000, "the reference corpus looks incomplete"
    failures: list[str] = []
    parsed = rejected = 0
    for path in files:
        body = path.read_bytes()
        try:
            first = parse(body, url=path.as_uri())
        except ParseError:
            rejected += 1
            try:
                parse(body, url=path.as_uri())
            except ParseError:
                continue
            failures.append(f"{path}: ParseError once, not the second time")
            continue
        except Exception as exc:  # the point is to catch and report any
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        parsed += 1
        if not isinstance(first, list) or not all(isinstance(i, Item) for i in first):
            failures.append(f"{path}: did not return a list of Items")
            continue
        try:
            second = parse(body, url=path.as_uri())
        except Exception as exc:
            failures.append(f"{path}: second parse raised {type(exc).__name__}: {exc}")
            continue
        if item_keys(first) != item_keys(second):
            failures.append(f"{path}: two parses of the same bytes differ")
        for item in first:
            if item.published_at.utcoffset() != timedelta(0):
                failures.append(f"{path}: published_at {item.published_at!r} is not UTC")
                break
    assert not failures, f"{len(failures)} of {len(files)} files:\n" + "\n".join(failures)
    assert parsed > rejected > 0


def test_corpus_well_formed_rss2() -> None:
    path = reference_dir("feeds", "miniflux", "internal", "reader", "parser", "testdata",
                         "large_rss.xml")
    items = parse(path.read_bytes(), url=path.as_uri())
    assert len(items) == 25
    assert all(i.title and i.title != "(untitled)" for i in items)
    assert items[0].title == "Using vale with vim"
    assert items[0].canonical_url == "https://dustri.org/b/using-vale-with-vim.html"
    assert items[0].published_at == datetime(2024, 3, 10, 16, 15, tzinfo=UTC)


def test_corpus_lemon24_invalid_json_is_read_leniently() -> None:
    # invalid.json is a JSON Feed whose *fields* have the wrong types, not a broken document.
    # Upstream (lemon24/reader tests/data/invalid.json.py) keeps all 8 entries with the bad
    # fields dropped. We drop the bad fields too and keep the feed, but an entry left with
    # neither a title nor any text is skipped and named (bug fixed: it was an "(untitled)"
    # story); here only "float id" has a title.
    path = reference_dir("feeds", "lemon24-reader", "tests", "data") / "invalid.json"
    notes: list[str] = []
    items = parse_feed(path.read_bytes(), source="academy", url=path.as_uri(),
                       collected_at=COLLECTED, notes=notes)
    assert [(i.source_item_id, i.title) for i in items] == [("3.1415", "float id")]
    assert "JSON Feed item 0: 'title' is a number, not a string: ignored" in notes
    assert "JSON Feed item 0 ('2') has neither a title nor any text: skipped" in notes
    assert sum("skipped" in n for n in notes) == 7


def test_json_feed_second_author_is_taken_when_the_first_has_no_name() -> None:
    entry = {"id": "a", "title": "Authors", "authors": [{"name": []}, {"name": "Jane"}]}
    (item,) = parse(jbytes(dict(JSONFEED_11, items=[entry])))
    assert item.author == "Jane"


def test_corpus_unknown_json_feed_version_is_a_parse_error() -> None:
    path = reference_dir("feeds", "lemon24-reader", "tests", "data") / "unknown.json"
    with pytest.raises(ParseError, match="version"):
        parse(path.read_bytes(), url=path.as_uri())


@pytest.mark.parametrize("parts", [
    ("lemon24-reader", "tests", "data", "sqlite_releases.html"),
    ("miniflux", "internal", "reader", "encoding", "testdata", "utf8.html"),
])
def test_corpus_html_page_is_a_parse_error(parts: tuple[str, ...]) -> None:
    path = reference_dir("feeds", *parts)
    with pytest.raises(ParseError, match="HTML page"):
        parse(path.read_bytes(), url=path.as_uri())
