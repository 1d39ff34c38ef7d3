"""The file channel: one JSON payload per delivery under ``var/outbox/<target>/``.

Config: ``type = "file"``, optional ``dir`` (default: ``[paths] outbox``). The
file name is fixed by the story and delivery ids, and written atomically
(temporary file, fsync, rename), so a retry overwrites rather than duplicates,
and a crash never leaves half a file (a killed writer's temporary file is swept
before the next process's first write). A disk error fails the send: nothing is
marked sent that was not written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from bot.errors import PermanentSendError, TransientSendError
from bot.model import Delivery, Story
from channels import BaseChannel, SendResult
from channels._files import atomic_write, sweep_stale


class FileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str | None = None


class FileChannel(BaseChannel):
    name: ClassVar[str] = "file"
    format: ClassVar[str] = "json"
    max_text: ClassVar[int] = 20000
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
        body = json.dumps({"delivery_id": delivery.id, "target": self.target,
                           "payload": payload}, ensure_ascii=False, indent=2) + "\n"
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
