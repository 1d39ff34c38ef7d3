"""Channels for tests: real implementations of the channel interface that record and fail
on demand (a scenario per call), for the dispatcher and outbox tests."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.errors import ChannelError
from bot.model import Delivery, Story
from channels import BaseChannel, ChannelContext, NoOptions, SendResult
from channels.slack import SlackChannel


class RecordingChannel(BaseChannel):
    """Records every send; raises the queued errors first, one per send."""

    name: ClassVar[str] = "recording"

    def __init__(self, target: str = "rec", context: ChannelContext | None = None) -> None:
        from pathlib import Path

        super().__init__(target, NoOptions(), context or ChannelContext(Path(".")))
        self.sent: list[tuple[int, dict[str, Any], bool]] = []
        self.failures: list[BaseException] = []
        self.crash_after_send = False

    def render(self, story: Story) -> dict[str, Any]:
        return {"story_id": story.id, "title": story.title}

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((delivery.id, payload, reclaimed))
        if self.crash_after_send:
            raise SystemExit("worker died between the send and the commit")
        return SendResult(external_id=f"rec-{delivery.id}")


def fail_with(*errors: ChannelError) -> list[BaseException]:
    return list(errors)


class BriskSlackChannel(SlackChannel):
    """The real Slack channel with its spacing cut to 50 sends a second, for tests that post
    many messages to the loopback fake (which has no rate limit): loaded as
    ``type = "tests.fakes.channels:BriskSlackChannel"``."""

    rate_per_sec: ClassVar[float] = 50.0
