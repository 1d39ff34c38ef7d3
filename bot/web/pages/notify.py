"""``/account/notifications``: each person turns their own notifications on or off."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.web.blocking import FormBody
from bot.web.pages._common import _str, back, posted, signed_in

router = APIRouter(include_in_schema=False)


def _page(request: Request) -> Response:
    ctx, session = signed_in(request)
    cfg = ctx.herald.settings.config.notify
    slack = cfg.slack_target is not None and cfg.slack_target in ctx.herald.channels
    return ctx.render(request, "notify.html.j2", session=session,
                      wanted=ctx.store.notify_wanted(session.user.id), enabled=cfg.enabled,
                      by_email=cfg.email, by_dm=slack and cfg.dm,
                      channel=cfg.channel if slack else None,
                      approver=session.user.can("approver"))


@router.get("/account/notifications", response_class=HTMLResponse)
def notifications_page(request: Request) -> Response:
    return _page(request)


@router.post("/account/notifications")
def save_notifications(request: Request, form: FormBody) -> Response:
    ctx, session, form = posted(request, form)
    ctx.store.set_notify(session.user.id, _str(form, "notify") == "on")
    return back("/account/notifications", "notify-saved")
