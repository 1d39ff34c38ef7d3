"""The console channel: each story drawn readably on the terminal (rich).

Config: ``type = "console"``, no other keys. Useful on a laptop, and as the
embedded default's visible output. A reminder before a key date (issue #17) is a small
panel titled "Reminder" with its line (channels._reminder) and the story's address.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.model import Delivery, Reminder, Story, TagGroup
from bot.text import truncate
from channels import BaseChannel, SendResult
from channels._reminder import reminder_text
from channels._text import date_line


class ConsoleChannel(BaseChannel):
    name: ClassVar[str] = "console"
    max_title: ClassVar[int] = 200
    max_text: ClassVar[int] = 600
    supports_reminders: ClassVar[bool] = True

    def render(self, story: Story) -> dict[str, Any]:
        return {
            "title": truncate(story.title, self.max_title),
            "summary": truncate(story.summary, self.max_text),
            "url": story.url,
            "kind": self.label(story.kind),
            "domains": [self.label(s) for s in story.slugs(TagGroup.DOMAIN)],
            "programmes": [self.label(s) for s in story.slugs(TagGroup.PROGRAMME)],
            "dates": [date_line(d, self.context.today()) for d in story.dates],
            "sources": list(story.sources),
        }

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        console = self.context.console or Console()
        lines = [escape(payload["summary"])] if payload["summary"] else []
        meta = [f"[bold]{escape(payload['kind'])}[/]"]
        if payload["domains"]:
            meta.append(" · ".join(escape(d) for d in payload["domains"]))
        if payload["programmes"]:
            meta.append(" · ".join(escape(p) for p in payload["programmes"]))
        lines.append("[dim]" + "  |  ".join(meta) + "[/]")
        lines += [f"[yellow]{escape(d)}[/]" for d in payload["dates"]]
        if payload["url"]:
            lines.append(f"[link]{escape(payload['url'])}[/link]")
        lines.append(f"[dim]from {escape(', '.join(payload['sources']))}[/]")
        console.print(Panel("\n".join(lines), title=escape(payload["title"]),
                            title_align="left", expand=False))
        return SendResult(external_id=f"console:{delivery.id}")

    def render_reminder(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        words = reminder_text(story, reminder, self.context.today(), self.context.labels)
        return {"line": words.line, "url": words.url, "reminder_id": reminder.id}

    def send_reminder(self, payload: dict[str, Any], *, reminder: Reminder,
                      original: Delivery, reclaimed: bool = False) -> SendResult:
        console = self.context.console or Console()
        lines = [f"[bold]{escape(payload['line'])}[/]"]
        if payload["url"]:
            lines.append(f"[link]{escape(payload['url'])}[/link]")
        console.print(Panel("\n".join(lines), title="Reminder", title_align="left",
                            expand=False))
        return SendResult(external_id=f"console:reminder:{reminder.id}")
