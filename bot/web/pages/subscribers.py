"""Digest subscribers (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.web.blocking import FormBody
from bot.web.pages._common import (
    _str,
    back,
    posted,
    signed_in,
)

router = APIRouter(include_in_schema=False)


# -- subscribers and accounts ---------------------------------------------------------------

@router.get("/subscribers", response_class=HTMLResponse)
def subscribers(request: Request) -> Response:
    ctx, session = signed_in(request, "admin")
    return ctx.render(request, "subscribers.html.j2", session=session,
                      subscribers=ctx.store.list_subscribers())


@router.post("/subscribers/remove")
def subscriber_remove(request: Request, form: FormBody) -> Response:
    ctx, _session, form = posted(request, form, "admin")
    ctx.store.unsubscribe(_str(form, "email"), ctx.now())
    return back("/subscribers", "removed")

