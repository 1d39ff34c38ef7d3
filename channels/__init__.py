"""Channels: one module per output, all behind one small Protocol (render → send).

A channel class declares itself with class attributes (``name``, ``max_title``,
``max_text``, ``rate_per_sec``, ``format``) and an ``Options`` pydantic model for
its target keys in config; option names ending in ``_env`` name environment
variables that hold secrets (they stay out of the file). A channel reads its secret
when it sends, and raises :class:`bot.errors.TargetAuthError` naming the variable when
it is not set; ``herald config check`` lists the missing ones beforehand.
``render(story)`` is pure (time comes from the context's clock: a key date before
today is shown as passed) and returns a JSON-able payload;
``send(payload, delivery, reclaimed)`` does the I/O and returns a
:class:`SendResult` or raises a :class:`bot.errors.ChannelError`.

Built-in channels are listed in ``CHANNELS``; a target ``type`` of the form
``"package.module:Class"`` loads a channel from elsewhere.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict
from rich.console import Console

from bot.clock import Clock, SystemClock, local_date
from bot.config import DEFAULT_BUTTON, DEFAULT_BUTTONS
from bot.errors import ConfigError
from bot.model import Delivery, Reminder, Story

CHANNELS: dict[str, str] = {
    "console": "channels.console:ConsoleChannel",
    "file": "channels.file:FileChannel",
    "slack": "channels.slack:SlackChannel",
    "teams": "channels.teams:TeamsChannel",
}


class NoOptions(BaseModel):
    """A channel without options of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SendResult:
    """A send that went through; ``external_id`` is the target's id for it (ts, path)."""

    external_id: str | None = None
    detail: str = ""
    #: The story revision the target now shows, when it differs from the one rendered: a
    #: message adopted after a lost answer shows what that earlier attempt sent.
    revision: int | None = None


@dataclass
class ChannelContext:
    """What channels may use from the running Herald."""

    outbox_dir: Path
    environ: dict[str, str] = field(default_factory=dict)
    console: Console | None = None
    timezone: str = "Europe/London"
    labels: dict[str, str] = field(default_factory=dict)  # tag slug -> display label
    #: Herald's clock: what "today" is when a story is rendered.
    clock: Clock = field(default_factory=SystemClock)
    #: The academy's name (``[brand] name``, see bot.config.brand_name): posts are from it.
    brand: str = "Herald"
    #: A post's button label by kind (``[brand] buttons``); other kinds read "Read more".
    buttons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BUTTONS))
    #: Display names of sources by slug, where known (see channels._post.source_name).
    source_names: Mapping[str, str] = field(default_factory=dict)
    #: Slack: a reminder replied in the story's thread is also sent to the channel
    #: (``[reminders] also_to_channel``).
    reminder_broadcast: bool = False

    def today(self) -> date:
        """Today in the worker's timezone, by the injected clock."""
        return local_date(self.clock.now(), self.timezone)

    def button(self, kind: str) -> str:
        """The label of a post's button for a story of ``kind``."""
        return self.buttons.get(kind, DEFAULT_BUTTON)


@runtime_checkable
class Channel(Protocol):
    name: ClassVar[str]
    max_title: ClassVar[int]
    max_text: ClassVar[int]
    rate_per_sec: ClassVar[float]
    format: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def render(self, story: Story) -> dict[str, Any]: ...

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult: ...

    def identity(self) -> str: ...

    def redacted(self) -> str: ...


class BaseChannel:
    """Defaults for channels: limits, identity, and a place for the target's options."""

    name: ClassVar[str] = "base"
    max_title: ClassVar[int] = 250
    max_text: ClassVar[int] = 4000
    rate_per_sec: ClassVar[float] = 0.0  # 0: no limit
    format: ClassVar[str] = "text"
    #: True when the channel can show a story's later changes on the message it sent
    #: (``update(payload, delivery=...)``); others are sent each story once.
    supports_update: ClassVar[bool] = False
    #: True when the channel can take back a message it sent (``delete(delivery=...)``):
    #: a story merged into another has its message removed there.
    supports_delete: ClassVar[bool] = False
    #: True when the channel can send a reminder before a story's key date (issue #17):
    #: ``render_reminder`` and ``send_reminder``. Others get no reminders.
    supports_reminders: ClassVar[bool] = False
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, target: str, options: BaseModel, context: ChannelContext) -> None:
        self.target = target
        self.options = options
        self.context = context

    def identity(self) -> str:
        """What makes this target distinct (goes into logs and the delivery key)."""
        return f"{self.name}:{self.target}"

    def redacted(self) -> str:
        """A form of the target that is safe to show (no secrets)."""
        return self.identity()

    def render(self, story: Story) -> dict[str, Any]:
        """The payload this channel sends for ``story`` (each channel renders its own)."""
        raise NotImplementedError(f"{self.name} does not render stories")

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        """Send a rendered payload (each channel sends its own way)."""
        raise NotImplementedError(f"{self.name} does not send")

    def update(self, payload: dict[str, Any], *, delivery: Delivery) -> SendResult:
        """Show a story's change on the message already sent (when supports_update)."""
        raise NotImplementedError(f"{self.name} cannot update a sent message")

    def delete(self, *, delivery: Delivery) -> SendResult:
        """Take back the message a delivery sent (when supports_delete)."""
        raise NotImplementedError(f"{self.name} cannot delete a sent message")

    def render_reminder(self, story: Story, reminder: Reminder) -> dict[str, Any]:
        """The payload of a reminder before ``story``'s key date (when supports_reminders),
        worded from its kind and the date, days left counted from the context's clock."""
        raise NotImplementedError(f"{self.name} does not send reminders")

    def send_reminder(self, payload: dict[str, Any], *, reminder: Reminder,
                      original: Delivery, reclaimed: bool = False) -> SendResult:
        """Send a reminder; ``original`` is the story's sent delivery to this target (Slack
        replies in its thread, Teams names it). ``reclaimed``: an earlier attempt may have
        got through, so look for it first where the channel can."""
        raise NotImplementedError(f"{self.name} does not send reminders")

    def label(self, slug: str) -> str:
        return self.context.labels.get(slug, slug)


def load_channel_class(type_name: str, *, key: str = "type",
                       file: str | None = None) -> type[BaseChannel]:
    """The channel class for a target type: a built-in name or ``package.module:Class``."""
    spec = CHANNELS.get(type_name)
    if spec is None and ":" not in type_name:
        raise ConfigError(f"unknown target type {type_name!r}; allowed: "
                          f"{', '.join(sorted(CHANNELS))} (or 'package.module:Class')",
                          key=key, file=file)
    module_name, _, attr = (spec or type_name).partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load channel {type_name!r}: {exc}", key=key,
                          file=file) from None
    if not isinstance(cls, type) or not hasattr(cls, "render") or not hasattr(cls, "send"):
        raise ConfigError(f"{type_name!r} is not a channel class (needs render and send)",
                          key=key, file=file)
    return cls
