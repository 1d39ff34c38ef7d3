"""The file channel: one JSON payload per delivery under ``var/outbox/<target>/``.

Config: ``type = "file"``, optional ``dir`` (default: ``[paths] outbox``). The
file name is fixed by the story and delivery ids, and written atomically
(temporary file, fsync, rename), so a retry overwrites rather than duplicates,
and a crash never leaves half a file (a killed writer's temporary file is swept
before the next process's first write). A disk error fails the send: nothing is
marked sent that was not written.

A reminder before a key date (issue #17) is written the same way, to
``story-<id>-reminder-<reminder id>.json`` (a retry overwrites it), with the reminder's
line (channels._reminder), its fields, and ``reminder_of``: the story's own file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from bot.errors import PermanentSendError, TransientSendError
from bot.model import Delivery, Reminder, Story
from channels import BaseChannel, SendResult
from channels._files import atomic_write, sweep_stale
from channels._reminder import reminder_text


class FileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str | None = None


class FileChannel(BaseChannel):
    name: ClassVar[str] = "file"
    format: ClassVar[str] = "json"
    max_text: ClassVar[int] = 20000
    supports_reminders: ClassVar[bool] = True
    Options: ClassVar[type[BaseModel]] = FileOptions
    _swept: bool = False  # the folder swept of dead writers' temporary files

    @property
    def folder(self) -> Path:
        custom = getattr(self.options, "dir", None)
        base = Path(custom) if custom else self.context.outbox_dir
        return base / self.target

    def render(self, story: Story) -> dict[str, Any]:
        today = self.context.today()
        return {
            "story_id": story.id,
            "revision": story.revision,
            "title": story.title,
            "summary": story.summary,
            "url": story.url,
            "kind": story.kind,
            "tags": [{"slug": t.slug, "group": t.group.value, "reason": t.reason}
                     for t in story.tags],
            "dates": [{"what": d.what, "date": d.date.isoformat(), "at_time": d.at_time,
                       "place": d.place, "passed": d.date < today} for d in story.dates],
            "items": [{"source": i.source, "url": i.url, "title": i.title,
                       "published_at": i.published_at.isoformat()} for i in story.items],
            "first_seen": story.first_seen.isoformat(),
        }

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        path = self.folder / f"story-{delivery.story_id:06d}-delivery-{delivery.id:06d}.json"
        return self._write(path, {"delivery_id": delivery.id, "target": self.target,
                                  "payload": payload})

    def render_reminder(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        words = reminder_text(story, reminder, self.context.today(), self.context.labels)
        return {
            "reminder_id": reminder.id,
            "story_id": story.id,
            "line": words.line,
            "title": story.title,
            "url": story.url,
            "kind": story.kind,
            "what": reminder.what,
            "day": reminder.day.isoformat(),
            "days_before": reminder.days_before,
            "days_left": words.days_left,
            "passed": words.passed,
            "at_time": words.at_time,
            "place": words.place,
        }

    def send_reminder(self, payload: dict[str, Any], *, reminder: Reminder,
                      original: Delivery, reclaimed: bool = False) -> SendResult:
        path = self.folder / (f"story-{reminder.story_id:06d}-reminder-"
                              f"{reminder.id:06d}.json")
        return self._write(path, {"reminder_id": reminder.id, "target": self.target,
                                  "reminder_of": original.external_id, "payload": payload})

    def _write(self, path: Path, record: dict[str, Any]) -> SendResult:
        """Write one record atomically; a disk error fails the send."""
        body = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not self._swept:
                sweep_stale(self.folder)  # what a killed writer left half-written
                self._swept = True
            atomic_write(path, body.encode("utf-8"))
        except PermissionError as exc:
            raise PermanentSendError(f"cannot write {path}: {exc.strerror}",
                                     target=self.target) from exc
        except OSError as exc:
            raise TransientSendError(f"cannot write {path}: {exc.strerror}",
                                     target=self.target) from exc
        return SendResult(external_id=str(path))
