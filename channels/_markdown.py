"""Comms' Markdown, parsed once (markdown-it-py) and drawn for each place.

Only comms' own announcements are read as Markdown: :func:`markdown_of` finds the source
an announcement's item carries (``raw`` of type ``text/markdown``, source ``comms``); a
collected story has none and its text stays escaped plain text, as before.

One parse gives a syntax tree; :func:`render_text` walks it into a list of pieces (words,
marks that open and close, links, line prefixes) in a place's :class:`Style` (Slack mrkdwn,
Adaptive Card TextBlock markdown), and :func:`render_html` into HTML for the email, cleaned
by nh3 after. A place's limit is held by :func:`fit_pieces`: it cuts between pieces, so a
cut never splits a link or an escape, and it closes the marks still open (``*bold…*``).
Links go out only to http(s) and mailto; anything else (``javascript:``, ``data:``) is
shown as its text, with no link.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nh3

from bot.model import Story

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

#: The ``raw`` type an announcement's item keeps its Markdown under.
MARKDOWN_TYPE = "text/markdown"
#: The source a comms announcement's item carries (bot.queue.QUEUE_SOURCE).
COMMS_SOURCE = "comms"
LINK_SCHEMES = ("https://", "http://", "mailto:")
ELLIPSIS = "…"
#: A word longer than this is cut into pieces of CHUNK characters, so a limit can cut it.
LONG_WORD = 40
CHUNK = 20

EMAIL_TAGS = {"a", "p", "br", "em", "strong", "ul", "ol", "li", "blockquote", "h3", "h4",
              "code", "pre", "img"}
EMAIL_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}, "ol": {"start"}}


@functools.cache
def _parser() -> MarkdownIt:
    """CommonMark without raw HTML; a line break in the text is a line break."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False,
                                     "typographer": False})


def parse(markdown: str) -> SyntaxTreeNode:
    """The syntax tree of ``markdown`` (parse once, draw as often as needed)."""
    from markdown_it.tree import SyntaxTreeNode

    return SyntaxTreeNode(_parser().parse(markdown))


def markdown_of(story: Story) -> str | None:
    """The Markdown comms wrote for ``story``, or None: a collected story (feed text) is
    never read as Markdown."""
    for item in story.items:
        if item.source == COMMS_SOURCE and item.source_kind == "queue" and item.raw \
                and item.raw.mime_type == MARKDOWN_TYPE:
            return item.raw.content
    return None


def safe_url(url: str | None) -> str | None:
    """``url`` if it may be a link (http, https, mailto) and has no space or control
    character; else None."""
    if not url or not url.lower().startswith(LINK_SCHEMES):
        return None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url) or len(url) > 2000:
        return None
    return url


# -- pieces and cutting -------------------------------------------------------------------

@dataclass(frozen=True)
class Piece:
    """A part of rendered text that is never split: a word (escaped), a mark that opens
    (``close``: what closes it) or closes, a link, a line break or prefix (``soft``)."""

    text: str
    close: str | None = None
    closes: bool = False
    soft: bool = False


def fit_pieces(pieces: list[Piece], limit: int) -> str:
    """The pieces joined, cut between pieces to ``limit`` characters with an ellipsis,
    every mark still open closed after it."""
    whole = "".join(p.text for p in pieces)
    if len(whole) <= limit:
        return whole
    out: list[Piece] = []
    stack: list[str] = []
    used = 0
    for piece in pieces:
        after = ([*stack, piece.close] if piece.close is not None
                 else stack[:-1] if piece.closes else stack)
        room = limit - len(ELLIPSIS) - sum(len(c) for c in after)
        if used + len(piece.text) > room:
            break
        out.append(piece)
        used += len(piece.text)
        stack = after
    # What a cut leaves dangling: line breaks, prefixes, marks opened on nothing.
    while out and (out[-1].soft or out[-1].close is not None or not out[-1].text.strip()):
        if out.pop().close is not None:
            stack.pop()
    return "".join(p.text for p in out).rstrip() + ELLIPSIS + "".join(reversed(stack))


def _words(text: str, escape: Callable[[str], str]) -> Iterator[Piece]:
    """Text as escaped word pieces (each with the space after it); a very long word in
    chunks, each escaped on its own, so no escape is ever cut."""
    for m in re.finditer(r"\s+|\S+\s*", text):
        word = m.group()
        if len(word) <= LONG_WORD:
            yield Piece(escape(word))
            continue
        for i in range(0, len(word), CHUNK):
            yield Piece(escape(word[i:i + CHUNK]))


# -- text places (Slack, Teams) -----------------------------------------------------------

@dataclass(frozen=True)
class Style:
    """How one place writes Markdown's parts."""

    #: Escape a piece of text (it is shown as written).
    escape: Callable[[str], str]
    #: Prepared before cutting into words, for escapes that span words (mentions).
    prepare: Callable[[str], str]
    strong: tuple[str, str]
    em: tuple[str, str]
    code: tuple[str, str]
    #: A link from a safe URL and its label (escaped).
    link: Callable[[str, str], str]
    bullet: str
    quote: str = ""
    fence: tuple[str, str] = ("", "")


def _plain(node: SyntaxTreeNode) -> str:
    """The text of an inline node's children, without marks (a link's label)."""
    parts: list[str] = []
    for child in node.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_plain(child) or child.content)
        else:
            parts.append(_plain(child))
    return "".join(parts)


def _inline(node: SyntaxTreeNode, style: Style, prefix: str) -> Iterator[Piece]:
    for child in node.children:
        kind = child.type
        if kind == "text":
            yield from _words(style.prepare(child.content), style.escape)
        elif kind in ("softbreak", "hardbreak"):
            yield Piece("\n" + prefix, soft=True)
        elif kind in ("strong", "em"):
            mark = style.strong if kind == "strong" else style.em
            inner = list(_inline(child, style, prefix))
            if inner:
                yield Piece(mark[0], close=mark[1])
                yield from inner
                yield Piece(mark[1], closes=True)
        elif kind == "code_inline":
            if style.code[0]:
                yield Piece(style.code[0], close=style.code[1])
            yield from _words(style.prepare(child.content), style.escape)
            if style.code[0]:
                yield Piece(style.code[1], closes=True)
        elif kind in ("link", "image"):
            url = safe_url(str(child.attrs.get("href" if kind == "link" else "src", "")))
            label = " ".join((_plain(child) or child.content).split())
            if url is None:
                yield from _words(style.prepare(label), style.escape)
            else:
                yield Piece(style.link(url, style.escape(style.prepare(label or url))))
        else:  # anything newer: its text
            yield from _words(style.prepare(_plain(child) or child.content), style.escape)


def _blocks(node: SyntaxTreeNode, style: Style, indent: str, quote: str,
            gap: str) -> Iterator[Piece]:
    first = True
    for child in node.children:
        if not first:
            yield Piece(gap + quote, soft=True)
        first = False
        kind = child.type
        if kind == "paragraph":
            for inline in child.children:
                yield from _inline(inline, style, quote)
        elif kind == "heading":
            inner = [p for inline in child.children for p in _inline(inline, style, quote)]
            yield Piece(style.strong[0], close=style.strong[1])
            yield from inner
            yield Piece(style.strong[1], closes=True)
        elif kind in ("bullet_list", "ordered_list"):
            number = int(child.attrs.get("start", 1) or 1)
            for n, item in enumerate(child.children):
                if n:
                    yield Piece("\n" + quote, soft=True)
                mark = style.bullet if kind == "bullet_list" else f"{number + n}. "
                yield Piece(indent + mark, soft=True)
                yield from _blocks(item, style, indent + "    ", quote, "\n")
        elif kind == "blockquote":
            yield Piece(style.quote, soft=True)
            yield from _blocks(child, style, indent, quote + style.quote, gap)
        elif kind in ("fence", "code_block"):
            if style.fence[0]:
                yield Piece(style.fence[0], close=style.fence[1])
            yield from _words(style.prepare(child.content.rstrip("\n")), style.escape)
            if style.fence[0]:
                yield Piece(style.fence[1], closes=True)
        elif kind == "hr":
            yield Piece("———", soft=True)
        else:
            yield from _blocks(child, style, indent, quote, gap)


def render_text(markdown: str | SyntaxTreeNode, style: Style, limit: int) -> str:
    """Markdown in a text place's own markup, at most ``limit`` characters."""
    tree = parse(markdown) if isinstance(markdown, str) else markdown
    return fit_pieces(list(_blocks(tree, style, "", "", "\n\n")), limit)


def render_parts(markdown: str | SyntaxTreeNode, style: Style, limit: int,
                 parts: int) -> list[str]:
    """Markdown in a text place's markup as up to ``parts`` texts of at most ``limit``
    characters each (Slack's sections), split between top-level blocks (where no mark is
    open); a block longer than a part, or what is left for the last part, is cut."""
    tree = parse(markdown) if isinstance(markdown, str) else markdown
    blocks = [list(_blocks(child_tree, style, "", "", "\n\n"))
              for child_tree in _top_level(tree)]
    out: list[list[Piece]] = []
    for pieces in blocks:
        if not pieces:
            continue
        current = out[-1] if out else None
        gap = [Piece("\n\n", soft=True)]
        if current is not None and (len(out) == parts or sum(
                len(p.text) for p in (*current, *gap, *pieces)) <= limit):
            current.extend([*gap, *pieces])
        else:
            out.append(list(pieces))
    return [fit_pieces(pieces, limit) for pieces in out]


def _top_level(tree: SyntaxTreeNode) -> Iterator[SyntaxTreeNode]:
    """Each top-level block of ``tree`` as a tree of its own (for render_parts)."""
    from markdown_it.tree import SyntaxTreeNode

    for child in tree.children:
        yield SyntaxTreeNode(child.to_tokens())


def images(markdown: str | SyntaxTreeNode, limit: int = 3) -> list[tuple[str, str]]:
    """The https images in the Markdown (URL, alt text), up to ``limit``: places that can
    show an image block show them."""
    tree = parse(markdown) if isinstance(markdown, str) else markdown
    found: list[tuple[str, str]] = []
    for node in tree.walk():
        src = str(node.attrs.get("src", "")) if node.type == "image" else ""
        if src.startswith("https://") and safe_url(src) and len(found) < limit:
            found.append((src, " ".join((_plain(node) or node.content).split())))
    return found


# -- email HTML ---------------------------------------------------------------------------

_BLOCK_TAGS = {"paragraph": "p", "bullet_list": "ul", "ordered_list": "ol", "list_item": "li",
               "blockquote": "blockquote", "heading": "h4"}


def _html_inline(node: SyntaxTreeNode) -> Iterator[Piece]:
    for child in node.children:
        kind = child.type
        if kind == "text":
            yield from _words(child.content, html.escape)
        elif kind in ("softbreak", "hardbreak"):
            yield Piece("<br>\n", soft=True)
        elif kind in ("strong", "em", "code_inline"):
            tag = {"strong": "strong", "em": "em", "code_inline": "code"}[kind]
            yield Piece(f"<{tag}>", close=f"</{tag}>")
            if kind == "code_inline":
                yield from _words(child.content, html.escape)
            else:
                yield from _html_inline(child)
            yield Piece(f"</{tag}>", closes=True)
        elif kind == "link":
            url = safe_url(str(child.attrs.get("href", "")))
            label = html.escape(" ".join(_plain(child).split()) or (url or ""))
            if url is None:
                yield Piece(label)
            else:
                yield Piece(f'<a href="{html.escape(url)}">{label}</a>')
        elif kind == "image":
            url = safe_url(str(child.attrs.get("src", "")))
            alt = " ".join((_plain(child) or child.content).split())
            if url is None or url.startswith("mailto:"):
                yield Piece(html.escape(alt))
            elif url.startswith("https://"):
                yield Piece(f'<img src="{html.escape(url)}" alt="{html.escape(alt)}">')
            else:  # http: a link, as in Slack and Teams (an insecure image is not embedded)
                yield Piece(f'<a href="{html.escape(url)}">{html.escape(alt or url)}</a>')
        else:
            yield from _words(_plain(child) or child.content, html.escape)


def _html_blocks(node: SyntaxTreeNode) -> Iterator[Piece]:
    for child in node.children:
        kind = child.type
        if kind == "inline":
            yield from _html_inline(child)
        elif kind == "paragraph" and child.hidden:  # an item of a tight list
            yield from _html_blocks(child)
        elif kind in ("fence", "code_block"):
            yield Piece("<pre><code>", close="</code></pre>")
            yield from _words(child.content.rstrip("\n"), html.escape)
            yield Piece("</code></pre>", closes=True)
        elif kind == "hr":
            yield Piece("<br>", soft=True)
        elif kind in _BLOCK_TAGS:
            tag = _BLOCK_TAGS[kind]
            start = child.attrs.get("start") if kind == "ordered_list" else None
            opening = f'<{tag} start="{int(start)}">' if start else f"<{tag}>"
            yield Piece(opening, close=f"</{tag}>")
            yield from _html_blocks(child)
            yield Piece(f"</{tag}>\n", closes=True)
        else:
            yield from _html_blocks(child)


def render_html(markdown: str | SyntaxTreeNode, limit: int = 20_000) -> str:
    """Markdown as HTML for the email, at most about ``limit`` characters of markup, then
    cleaned by nh3 with a small allow-list (http(s) and mailto links only)."""
    tree = parse(markdown) if isinstance(markdown, str) else markdown
    drawn = fit_pieces(list(_html_blocks(tree)), limit)
    return nh3.clean(drawn, tags=EMAIL_TAGS, attributes=EMAIL_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")
