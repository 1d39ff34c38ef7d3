"""A channel loaded by ``"tests.fakes.secret_channel:SecretChannel"`` in config tests.

Its one option, ``token_env``, names an environment variable, so the config
loader must insist that the variable is set whenever the target is enabled.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from bot.model import Delivery, Story
from channels import BaseChannel, SendResult


class SecretOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: str = "FAKE_TOKEN"


class SecretChannel(BaseChannel):
    name: ClassVar[str] = "secret"
    Options: ClassVar[type[BaseModel]] = SecretOptions

    def render(self, story: Story) -> dict[str, Any]:
        return {"title": story.title, "url": story.url}

    def send(self, payload: dict[str, Any], *, delivery: Delivery,
             reclaimed: bool = False) -> SendResult:
        return SendResult(external_id=f"secret:{delivery.id}")
