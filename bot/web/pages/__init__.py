"""Staff pages (sign-in required), one module per area; ``router`` holds them all."""

from __future__ import annotations

from fastapi import APIRouter

from bot.web.pages import (
    account_links,
    accounts,
    auth,
    digest,
    edits,
    feeds,
    notify,
    queue,
    reminders,
    stories,
    subscribers,
)
from bot.web.pages._common import signed_in

router = APIRouter(include_in_schema=False)
for _area in (auth, queue, stories, feeds, subscribers, accounts, account_links, notify, edits,
              digest, reminders):
    router.include_router(_area.router)

__all__ = ["router", "signed_in"]
