"""Text from feeds: clean text for matching and display, sanitized HTML, fingerprints.

Feed text is untrusted. ``sanitize_html`` (nh3) keeps a small safe subset for the
web and email; ``html_to_text`` gives plain text for matching, tagging and chat
channels; ``fingerprint`` gives the key of exact-duplicate detection.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser

import nh3

SAFE_TAGS = {"a", "p", "br", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote",
             "h2", "h3", "h4", "code", "pre"}
SAFE_ATTRIBUTES = {"a": {"href", "title"}}
_BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
          "blockquote", "pre", "tr", "table", "section", "article", "header", "footer"}
_SKIP = {"script", "style", "template", "noscript", "iframe", "object", "head"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANKS = re.compile(r"\n\s*\n+")
#: Control characters, and the bidirectional embeddings, overrides and isolates (U+202A–E,
#: U+2066–9) that make a title read differently from what it says ("Trojan Source"); the
#: plain left-to-right and right-to-left marks stay, as real right-to-left text uses them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_SOURCE_NEWLINES = re.compile(r"\r\n?|\n")
_TAG = re.compile(r"<[A-Za-z/!?]")
#: One plain tag: a name, attributes with quoted values (no ``<`` or ``>`` in them), an
#: optional ``/``. What ``_plain_text`` reads; anything else goes to ``html.parser``.
#: The spaces are html.parser's own ([ \t\n\r\f]), not ``\s``: after a tag name it reads
#: a no-break space or a vertical tab as part of the name.
_PLAIN_TAG = re.compile(r"""<(/?)([A-Za-z][A-Za-z0-9]*)((?:[ \t\n\r\f]+[A-Za-z_:]"""
                        r"""[-A-Za-z0-9_:.]*(?:[ \t\n\r\f]*=[ \t\n\r\f]*"""
                        r"""(?:"[^"<>]*"|'[^'<>]*'))?)*)[ \t\n\r\f]*(/?)>""")
#: Elements whose content html.parser reads as raw text in some Python version or other:
#: left to it, whatever it does with them.
_RAW_TEXT = {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
             "noscript", "plaintext"}

#: Bounds on one entry's HTML, so that a hostile feed costs little (html5ever, under nh3,
#: takes time in the square of the nesting depth: 100,000 nested ``<div>``s took over
#: 30 s). Past ``MAX_HTML`` characters the HTML is cut; nested deeper than ``MAX_DEPTH``
#: it is flattened to its text. Real entries are far inside both.
MAX_HTML = 500_000
MAX_DEPTH = 128
#: An entry's plain text is cut here (matching, tagging and dates read all of it).
MAX_TEXT = 100_000
#: Elements that never hold others, and those a start tag of the same name closes.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
         "param", "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame"}
_SIBLINGS = {"p", "li", "dt", "dd", "option", "tr", "td", "th"}
#: One token of the depth scan: a comment, or a tag with its name, quoted values whole.
_DEPTH_TOKEN = re.compile(r"""<!--.*?(?:-->|\Z)|<(/?)([A-Za-z][^\s/>]*)"""
                          r"""(?:[^>"']|"[^"]*"|'[^']*')*>""", re.DOTALL)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
            if tag == "pre":
                self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> is one line break like <br>, not a start and an end (a paragraph break);
        # a self-closed <script/> has no content to skip.
        if tag not in _SKIP and tag != "pre":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            # In HTML a newline in the source is a space; only <pre> keeps line breaks.
            self.parts.append(data if self._pre else _SOURCE_NEWLINES.sub(" ", data))


def html_to_text(value: str | None) -> str:
    """Readable plain text from HTML (or from text with entities): no tags, tidy spaces."""
    if not value:
        return ""
    if _TAG.search(value):  # markup, not just a "<" in plain text ("a < b", "<3")
        text = _plain_text(value)
        if text is None:
            parser = _TextExtractor()
            try:
                parser.feed(value)
                parser.close()
                text = "".join(parser.parts)
            except Exception:  # pragma: no cover - HTMLParser is lenient; belt and braces
                text = re.sub(r"<[^>]*>", " ", value)
    else:
        text = html.unescape(value)
    return clean_text(text)


def _plain_text(value: str) -> str | None:
    """The text ``_TextExtractor`` gets from HTML made only of plain tags and text, found
    without ``html.parser`` (several times faster); None for anything else: a comment, a
    declaration, a ``<`` that starts no plain tag, raw-text elements such as scripts.

    It gives the extractor what ``html.parser`` would: each tag (lowercased name; ``<x/>``
    as a start-end tag) and each run of text between tags, with its character references
    replaced (``html.unescape``, as the parser does with ``convert_charrefs``)."""
    out = _TextExtractor()
    at = 0
    while True:
        lt = value.find("<", at)
        if lt < 0:
            if at < len(value):
                out.handle_data(html.unescape(value[at:]))
            return "".join(out.parts)
        tag = _PLAIN_TAG.match(value, lt)
        if tag is None:
            return None
        closing, name, attrs, empty = tag.groups()
        name = name.lower()
        if name in _RAW_TEXT or (closing and (attrs or empty)):
            return None
        if at < lt:
            out.handle_data(html.unescape(value[at:lt]))
        if closing:
            out.handle_endtag(name)
        elif empty:
            out.handle_startendtag(name, [])
        else:
            out.handle_starttag(name, [])
        at = tag.end()


def html_depth(value: str, limit: int = MAX_DEPTH) -> int:
    """How deep the elements of ``value`` nest, counted as an HTML parser would keep
    them open, in one pass; the scan stops once past ``limit``. It errs on the deep side:
    an end tag closes only an element that is open (a stray one changes nothing), and the
    content of a raw-text element (``<script>``, ``<textarea>`` …) is skipped whole."""
    stack: list[str] = []
    counts: dict[str, int] = {}
    deepest = 0
    at = 0
    while (tag := _DEPTH_TOKEN.search(value, at)) is not None:
        at = tag.end()
        name = (tag.group(2) or "").lower()
        if not name:
            continue  # a comment
        if tag.group(1):
            if counts.get(name):
                while True:
                    top = stack.pop()
                    counts[top] -= 1
                    if top == name:
                        break
            continue
        if name in _VOID:
            continue
        if name in _SIBLINGS and stack and stack[-1] == name:
            continue  # <li>…<li>: the second closes the first
        stack.append(name)
        counts[name] = counts.get(name, 0) + 1
        deepest = max(deepest, len(stack))
        if deepest > limit:
            break
        if name in _RAW_TEXT:
            end = value.lower().find(f"</{name}", at)
            at = len(value) if end < 0 else end
    return deepest


def bound_html(value: str) -> tuple[str, str | None]:
    """``value`` cut to ``MAX_HTML`` characters and, if nested deeper than ``MAX_DEPTH``,
    flattened to its text in escaped paragraphs; with what was done, None if nothing."""
    note = None
    if len(value) > MAX_HTML:
        value = value[:MAX_HTML]
        note = f"HTML over {MAX_HTML:,} characters, cut"
    if html_depth(value) > MAX_DEPTH:
        paragraphs = html_to_text(value).split("\n\n")
        value = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)
        note = f"HTML nested over {MAX_DEPTH} deep, flattened to its text" + (
            f" (and cut at {MAX_HTML:,} characters)" if note else "")
    return value, note


def clean_text(text: str) -> str:
    """Normalise Unicode (NFC), drop control characters, fold spaces, keep paragraphs."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    # _SPACES never matches a newline: folding the whole text folds each line.
    lines = [line.strip() for line in _SPACES.sub(" ", text).split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def sanitize_html(value: str | None) -> str:
    """HTML safe to show in the web app or an email: a small tag set, no scripts or handlers."""
    if not value:
        return ""
    return nh3.clean(value, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")


def one_line(text: str) -> str:
    """Text on one line: for titles, subjects and headers."""
    return " ".join(clean_text(text).split())


def normalize_for_match(text: str) -> str:
    """Lowercased words without punctuation, URLs or hashtag marks: the matching form."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def fingerprint(title: str, text: str) -> str | None:
    """Exact-duplicate key of an entry's normalised title and text; None if too short to trust."""
    body = normalize_for_match(f"{title} {text}")
    if len(body) < 20:
        return None
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut text to ``limit`` characters at a word boundary, with an ellipsis if cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit < len(ellipsis):  # no room for the ellipsis: a hard cut stays within the limit
        return text[:limit]
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + ellipsis
