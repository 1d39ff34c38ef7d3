"""How a story reads in the digest email, and the academy's brand around it.

The same order as the posts (channels._post): the key date first ("📅 Applications close
Fri 18 Dec — 3 days left"; a story whose dates are all gone is marked "Closed" or "Took
place" beside its title: bot.digest_time), then the text, a button that fits the kind
(the neutral "Read more" for a story so marked), and kind, domains and programmes in one
line with where the story came from. Comms' own announcements show their Markdown as HTML
(channels._markdown, cleaned by nh3); feed text stays escaped plain text, as the template's
autoescape writes it. :class:`DigestBrand` carries ``[brand]`` (name, logo, colours,
buttons) into the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup

from bot.config import DEFAULT_BUTTON, DEFAULT_BUTTONS, HeraldConfig, brand_name
from bot.digest_time import WINDOW, key_date_text, passed_mark
from bot.model import Story
from channels._markdown import markdown_of, render_html
from channels._post import source_name

#: Markup allowed for an announcement's Markdown in the digest (its text is cut within it).
HTML_MAX = 4000


@dataclass(frozen=True)
class DigestBrand:
    """``[brand]`` as the digest uses it."""

    name: str = "Herald"
    logo_url: str | None = None
    colour: str = "#005eb8"
    accent: str = "#003087"
    buttons: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_BUTTONS))
    #: Display names of sources by slug, where known (channels._post.source_name).
    source_names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config: HeraldConfig, source_names: Mapping[str, str] | None = None
           ) -> DigestBrand:
        brand = config.brand
        return cls(name=brand_name(config), logo_url=brand.logo_url, colour=brand.colour,
                   accent=brand.accent_colour, buttons=dict(brand.buttons),
                   source_names=source_names if source_names is not None else {})

    def button(self, kind: str) -> str:
        return self.buttons.get(kind, DEFAULT_BUTTON)

    def sources(self, slugs: tuple[str, ...]) -> str:
        """Where a story came from, by name: 'Academy news, Academy posts' (the academy's
        own announcements: nothing, the email is from the academy)."""
        names = [source_name(s, self.source_names, self.name) for s in slugs]
        return ", ".join(n for n in dict.fromkeys(names) if n != self.name)


CLOSING = ("applications-close", "deadline")


def applications_closed(story: Story, today: date) -> bool:
    """Whether the story's applications closed (or its deadline went) with none to come,
    whatever else is still ahead (an information event next month)."""
    closing = [kd.date for kd in story.dates if kd.what in CLOSING]
    return bool(closing) and max(closing) < today


def story_parts(story: Story, today: date, window: timedelta = WINDOW) -> dict[str, Any]:
    """What the digest adds to a story's title and summary: its key date line with the
    days left within ``window`` (bot.digest_time), its mark once its deadlines and events
    are gone ("Closed"), comms' Markdown as safe HTML ('' for a collected story), its
    kind's slug and its sources."""
    markdown = markdown_of(story)
    return {"key_date": key_date_text(story, today, window),
            "mark": passed_mark(story, today), "closed": applications_closed(story, today),
            "html": render_html(markdown, HTML_MAX) if markdown else "",
            "kind_slug": story.kind, "sources": story.sources}


def story_context(story: Any, brand: DigestBrand) -> dict[str, Any]:
    """One story for the templates (a bot.digest.DigestStory)."""
    return {"title": story.title, "summary": story.summary, "url": story.url,
            "kind": story.kind, "tags": list(story.tags), "key_date": story.key_date,
            "mark": story.mark,
            # Cleaned by nh3 with an allow-list (channels._markdown.render_html).
            "html": Markup(story.html) if story.html else "",
            # A story marked closed or took place, or whose applications closed while an
            # event is still to come, invites to nothing: no "Apply" beside "Closed", the
            # neutral button instead.
            "button": DEFAULT_BUTTON if story.mark or story.closed
            else brand.button(story.kind_slug),
            "from": brand.sources(story.sources)}
