"""Plain text from HTML, sanitized HTML, fingerprints and truncation."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.text import (
    MAX_DEPTH,
    MAX_HTML,
    _plain_text,
    _TextExtractor,
    bound_html,
    fingerprint,
    html_depth,
    html_to_text,
    sanitize_html,
    truncate,
)

# ---------------------------------------------------------------- html_to_text


def test_html_to_text_drops_tags() -> None:
    assert html_to_text("<p>Cohort <b>six</b> opens <i>today</i></p>") == "Cohort six opens today"


def test_html_to_text_drops_script_and_style_content() -> None:
    value = ("<style>p { color: red }</style><p>Visible words</p>"
             "<script>document.write('hidden words')</script><noscript>also hidden</noscript>")
    text = html_to_text(value)
    assert text == "Visible words"
    assert "color" not in text and "hidden" not in text


def test_html_to_text_script_containing_markup_is_still_skipped() -> None:
    assert html_to_text("<script>var s = '</p><p>';</script>after") == "after"


@pytest.mark.parametrize(("value", "expected"), [
    ("Fish &amp; chips &lt;3", "Fish & chips <3"),
    ("<p>Caf&eacute; &#8211; &#x2014; &quot;q&quot;</p>", "Café – — \"q\""),
    ("<p>non&nbsp;breaking</p>", "non breaking"),
])
def test_html_to_text_decodes_entities(value: str, expected: str) -> None:
    assert html_to_text(value) == expected


def test_html_to_text_keeps_paragraphs_and_folds_spaces() -> None:
    value = "<p>First   paragraph\twith\t tabs.</p>\n\n\n<p>Second\n paragraph.</p><div>Third</div>"
    assert html_to_text(value) == "First paragraph with tabs.\n\nSecond paragraph.\n\nThird"


def test_html_to_text_source_newlines_are_spaces() -> None:
    # feeds often hard-wrap their HTML; in HTML a newline is just a space
    value = "<p>Applications for the fully\nfunded programme\r\nare open.</p>"
    assert html_to_text(value) == "Applications for the fully funded programme are open."


def test_html_to_text_pre_keeps_lines() -> None:
    assert html_to_text("<p>Run:</p><pre>herald collect\nherald dispatch</pre>") == \
        "Run:\n\nherald collect\nherald dispatch"


@pytest.mark.parametrize(("value", "expected"), [
    ("Pay rises < inflation.\n\nSecond paragraph.", "Pay rises < inflation.\n\nSecond paragraph."),
    ("We <3 our coaches\nand mentors", "We <3 our coaches\nand mentors"),
])
def test_html_to_text_plain_text_with_less_than_keeps_lines(value: str, expected: str) -> None:
    assert html_to_text(value) == expected


def test_html_to_text_line_breaks() -> None:
    # <br>, <br/> and <br /> are all one line break, not a paragraph break
    assert html_to_text("<div>one<br>two<br/>three<br />four</div>") == "one\ntwo\nthree\nfour"


def test_html_to_text_self_closed_script_hides_nothing() -> None:
    assert html_to_text("before <script/>after") == "before after"


@pytest.mark.parametrize("value", [None, "", "<p></p>", "<script>x()</script>", "   "])
def test_html_to_text_empty(value: str | None) -> None:
    assert html_to_text(value) == ""


def test_html_to_text_plain_text_is_tidied() -> None:
    assert html_to_text("  a   b \n\n\n\n c  ") == "a b\n\nc"


def test_html_to_text_drops_control_characters() -> None:
    assert html_to_text("bell\x07 and\x00 nul") == "bell and nul"


# ---------------------------------------------------------------- sanitize_html

HOSTILE = (
    '<p onclick="steal()">Join the <em>coaching</em> offer: '
    '<a href="https://academy.example.org/coaching">details</a> '
    '<a href="javascript:alert(1)">click me</a></p>'
    "<script>alert('x')</script>"
    '<iframe src="https://evil.example/frame"></iframe>'
    '<img src="x" onerror="alert(2)">'
)


def test_sanitize_html_removes_dangerous_parts() -> None:
    clean = sanitize_html(HOSTILE)
    lowered = clean.lower()
    assert "<script" not in lowered and "alert('x')" not in clean
    assert "onclick" not in lowered and "onerror" not in lowered
    assert "javascript:" not in lowered
    assert "<iframe" not in lowered and "evil.example" not in clean
    assert "<img" not in lowered


def test_sanitize_html_keeps_safe_parts() -> None:
    clean = sanitize_html(HOSTILE)
    assert clean.startswith("<p>")
    assert "</p>" in clean
    assert "<em>coaching</em>" in clean
    assert 'href="https://academy.example.org/coaching"' in clean
    assert "details</a>" in clean
    # the text of the neutralised link survives, without its href
    assert "click me</a>" in clean


def test_sanitize_html_adds_rel_to_links() -> None:
    clean = sanitize_html('<a href="https://academy.example.org/">home</a>')
    assert 'rel="noopener noreferrer"' in clean


def test_sanitize_html_style_and_unknown_attributes_gone() -> None:
    clean = sanitize_html('<p style="position:fixed" class="x" id="y">t</p>'
                          "<style>body{display:none}</style>")
    assert clean == "<p>t</p>"


@pytest.mark.parametrize("value", [None, ""])
def test_sanitize_html_empty(value: str | None) -> None:
    assert sanitize_html(value) == ""


# ---------------------------------------------------------------- fingerprint

BASE_TITLE = "Seacole Programme cohort opening"
BASE_TEXT = "Applications are open for the fully funded Seacole Programme https://t.co/Ab12"


@pytest.mark.parametrize(("title", "text"), [
    (BASE_TITLE, BASE_TEXT),
    ("  seacole   PROGRAMME cohort opening ", BASE_TEXT),
    (BASE_TITLE, "Applications are open, for the fully-funded Seacole Programme! "
                 "https://bit.ly/other"),
    (BASE_TITLE, "Applications   are\nopen for the fully funded Seacole Programme."),
    ("SEACOLE PROGRAMME: COHORT OPENING", BASE_TEXT.upper()),
])
def test_fingerprint_ignores_whitespace_case_punctuation_and_urls(title: str, text: str
                                                                  ) -> None:
    assert fingerprint(title, text) == fingerprint(BASE_TITLE, BASE_TEXT)


def test_fingerprint_differs_for_different_words() -> None:
    assert fingerprint(BASE_TITLE, BASE_TEXT) != fingerprint(
        BASE_TITLE, BASE_TEXT.replace("Seacole", "Mary Seacole Local"))


def test_fingerprint_is_a_short_hex_string() -> None:
    value = fingerprint(BASE_TITLE, BASE_TEXT)
    assert value is not None
    assert len(value) == 32
    int(value, 16)


@pytest.mark.parametrize(("title", "text"), [
    ("", ""), ("Hi", ""), ("New", "post"), ("", "https://t.co/abcdefghijklmnop"),
    ("!!!", "... --- ???"),
])
def test_fingerprint_none_for_very_short_text(title: str, text: str) -> None:
    assert fingerprint(title, text) is None


# ---------------------------------------------------------------- truncate

SENTENCE = ("The fully funded Seacole Programme opens for applications today, "
            "closing on Monday 7 September 2026 at noon.")


def test_truncate_short_text_unchanged() -> None:
    assert truncate("short", 10) == "short"
    assert truncate(SENTENCE, len(SENTENCE)) == SENTENCE


def test_truncate_at_word_boundary_with_ellipsis() -> None:
    cut = truncate(SENTENCE, 30)
    assert cut == "The fully funded Seacole…"
    assert len(cut) <= 30


@pytest.mark.parametrize(("limit", "expected"), [
    (12, "Apply now…"), (16, "Apply now…"), (18, "Apply now, today…"),
    (22, "Apply now, today…"),
])
def test_truncate_strips_punctuation_before_the_ellipsis(limit: int, expected: str) -> None:
    assert truncate("Apply now, today, please read on", limit) == expected


def test_truncate_long_word_is_cut_hard() -> None:
    word = "x" * 50
    assert truncate(word, 10) == "x" * 9 + "…"


@pytest.mark.parametrize("limit", [0, -1, -100])
def test_truncate_non_positive_limit(limit: int) -> None:
    assert truncate(SENTENCE, limit) == ""


@pytest.mark.parametrize("ellipsis", ["…", "...", " [more]"])
@pytest.mark.parametrize("text", [SENTENCE, "x" * 120, "a b " * 40, "word, " * 30, "é" * 90])
def test_truncate_never_exceeds_the_limit(text: str, ellipsis: str) -> None:
    for limit in range(0, len(text) + 5):
        cut = truncate(text, limit, ellipsis)
        assert len(cut) <= max(limit, 0), (limit, cut)
        if len(text) <= limit:
            assert cut == text
        elif limit >= len(ellipsis):
            assert cut.endswith(ellipsis), (limit, cut)
            kept = cut[: len(cut) - len(ellipsis)]
            assert text.startswith(kept), (limit, cut)
        else:
            assert text.startswith(cut)


def test_truncate_prefers_word_boundary_for_many_limits() -> None:
    for limit in range(20, len(SENTENCE)):
        kept = truncate(SENTENCE, limit)[:-1]
        # the kept part ends where a word ended in the original (maybe before punctuation)
        following = SENTENCE[len(kept)]
        assert following in " ,.", (limit, kept)


# ------------------------------------------------- html_to_text without html.parser

#: Pieces that ``_plain_text`` reads itself, and pieces it leaves to html.parser.
_PLAIN = ["<p>", "</p>", "<P class=\"x\">", "<br>", "<br/>", "<br />", "<BR/>", "<pre>",
          "</pre>", "<pre/>", "<div id='a'>", "</div>", "<li>", "</LI>", "<em>", "</em>",
          '<a href="https://e.org/?a=1&amp;b=2">', "</a>", "<span title=\"&lt;\" >",
          "</span >", "<head>", "</head>", "<h2>", "</h2>", "<input disabled/>",
          "Fish &amp; chips", "&eacute;", "&#8211;", "&#x2014;", "&amp", "&copy", " & ",
          "&#0;", ">", "\n", "\r\n", "  ", "\u00a0", "\t", "word", "Caf\u00e9", "&"]
_OTHER = ["<script>", "</script>", "<style>", "x</style>", "<noscript>", "</noscript>",
          "<iframe/>", "<img alt=x>", "<!-- c -->", "<!DOCTYPE html>", "<?pi?>",
          "</p class=x>", "<x-y>", "<a b='>'>", "a < b", "<3", "<", "<p\u00a0class=\"x\">",
          "<p\u2003>", "<br\x0b/>", "<b\x1c>"]


def _with_html_parser(value: str) -> str:
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PLAIN), max_size=40).map("".join))
def test_plain_html_is_read_as_html_parser_reads_it(value: str) -> None:
    assert _plain_text(value) == _with_html_parser(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PLAIN * 3 + _OTHER), max_size=30).map("".join))
def test_any_html_plain_text_reads_is_read_as_html_parser_reads_it(value: str) -> None:
    fast = _plain_text(value)
    assert fast is None or fast == _with_html_parser(value)


def test_other_whitespace_after_a_tag_name_is_read_as_html_parser_reads_it() -> None:
    """html.parser ends a tag name only at [ \\t\\n\\r\\f/>]: a no-break space, an em space
    or a vertical tab is part of the name for it, so for the fast reader too."""
    for value in ('a<p\u00a0class="x">b</p>c', "a<p\u2003>b", "x<br\x0b/>y"):
        fast = _plain_text(value)
        assert fast is None or fast == _with_html_parser(value), value


def test_plain_html_leaves_the_rest_to_html_parser() -> None:
    assert _plain_text("<p>a</p><p>b &amp; c</p>") == "\na\n\nb & c\n"
    for value in ("<!-- c --><p>a</p>", "<p>a < b</p>", "<script>x</script>", "</p x=1>",
                  "<a b='>'>x</a>", "<title>t</title>", "<a href=bare>x</a>"):
        assert _plain_text(value) is None


@pytest.mark.parametrize(("html", "depth"), [
    ("<p>a<p>b<ul><li>x<li>y</ul><br><img src='x'>", 3),
    ("<div>" * 300 + "</div>" * 300, 129),  # the scan stops past the limit
    ("<div></span>" * 300, 129),  # a stray end tag closes nothing
    ("<div><!--</div>-->" * 300, 129),  # nor one in a comment
    ("<div><script></div></script>" * 300, 129),  # nor one in a script
    ("<div title='</div>'>" * 300, 129),  # nor one in a quoted value
    ("<div><p>x</p></div>" * 1000, 2),
])
def test_html_depth_errs_on_the_deep_side(html: str, depth: int) -> None:
    assert html_depth(html) == depth


def test_bound_html_flattens_deep_html_and_cuts_huge_html() -> None:
    deep = "<div>" * 1000 + "<b>x</b> &amp; <script>y</script>" + "</div>" * 1000
    flat, note = bound_html(deep)
    assert flat == "<p>x &amp;</p>" and note == f"HTML nested over {MAX_DEPTH} deep, " \
        "flattened to its text"
    cut, note = bound_html("<p>" + "a" * MAX_HTML + "</p>")
    assert len(cut) == MAX_HTML and note == "HTML over 500,000 characters, cut"
    assert bound_html("<p>fine</p>") == ("<p>fine</p>", None)
