"""The announcement queue: compose, preview, submit, approve, send back, cancel, retry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from bot.queue import Draft
from bot.web import actions
from bot.web.app import RowId, WebContext
from bot.web.blocking import FormBody
from bot.web.pages._common import (
    _local_input,
    _message,
    _options,
    _safe_next,
    _seen,
    _str,
    back,
    posted,
    signed_in,
)
from bot.web.preview import digest_html, previews

router = APIRouter(include_in_schema=False)



@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    ctx, session = signed_in(request)
    everything = ctx.store.list_announcements()
    groups: dict[str, list[Any]] = {"waiting": [], "upcoming": [], "failed": [], "sent": [],
                                    "cancelled": []}
    for ann in everything:
        state = ann.state
        if state == "submitted":
            groups["waiting"].append(ann)
        elif state in ("draft", "returned", "scheduled", "sending"):
            groups["upcoming"].append(ann)
        elif state == "failed":
            groups["failed"].append(ann)
        elif state == "sent":
            groups["sent"].append(ann)
        else:
            groups["cancelled"].append(ann)
    return ctx.render(request, "queue.html.j2", session=session, groups=groups,
                      paused=list(ctx.store.paused_targets().values()), **_options(ctx))



@router.get("/queue/new", response_class=HTMLResponse)
def compose_page(request: Request) -> Response:
    ctx, session = signed_in(request)
    return ctx.render(request, "compose.html.j2", session=session, ann=None, form=None,
                      error=None, **_options(ctx))


def draft_from_form(ctx: WebContext, form: FormData) -> Draft:
    send_at: str | None = None
    if _str(form, "when") == "later":
        send_at = _str(form, "send_at") or None
        if send_at is None:
            raise ValueError("choose a send time, or send it as soon as it is approved")
    draft = Draft.model_validate({
        "title": _str(form, "title"), "body": _str(form, "body"),
        "url": _str(form, "url") or None, "image_url": _str(form, "image_url") or None,
        "kind": _str(form, "kind"), "domains": [v for v in form.getlist("domains")
                                                if isinstance(v, str)],
        "targets": [v for v in form.getlist("targets") if isinstance(v, str)],
        "send_at": send_at})
    return actions.check_draft(ctx, draft)


def _form_echo(form: FormData) -> dict[str, Any]:
    return {"title": _str(form, "title"), "body": _str(form, "body"), "url": _str(form, "url"),
            "image_url": _str(form, "image_url"), "kind": _str(form, "kind"),
            "domains": form.getlist("domains"), "targets": form.getlist("targets"),
            "when": _str(form, "when") or "now", "send_at": _str(form, "send_at")}


@router.post("/queue/new")
def compose(request: Request, form: FormBody) -> Response:
    ctx, session, form = posted(request, form)
    try:
        draft = draft_from_form(ctx, form)
    except ValueError as exc:
        return ctx.render(request, "compose.html.j2", session=session, ann=None,
                          form=_form_echo(form), error=_message(exc), status_code=422,
                          **_options(ctx))
    ann = ctx.store.create_announcement(draft, session.user.id, ctx.now(),
                                        ctx.herald.settings.config.worker.timezone)
    return back(f"/queue/{ann.id}", "saved")


@router.get("/queue/{ann_id}", response_class=HTMLResponse)
def announcement(request: Request, ann_id: RowId) -> Response:
    ctx, session = signed_in(request)
    ann = ctx.store.get_announcement(ann_id)
    story = actions.story_for(ctx, ann.id, ann.draft, ann.author)
    shown = previews(ctx.herald, story, list(ann.draft.targets))
    can_approve = (session.user.can("approver") and ann.author_id != session.user.id) \
        if ctx.web.approval else True
    return ctx.render(request, "announcement.html.j2", session=session, ann=ann,
                      story=story, previews=shown, can_approve=can_approve, **_options(ctx))


@router.get("/queue/{ann_id}/digest", response_class=HTMLResponse)
def announcement_digest(request: Request, ann_id: RowId) -> Response:
    ctx, _session = signed_in(request)
    ann = ctx.store.get_announcement(ann_id)
    story = actions.story_for(ctx, ann.id, ann.draft, ann.author)
    return HTMLResponse(digest_html(ctx.herald, story), headers={"x-herald-framed": "1"})


@router.get("/queue/{ann_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, ann_id: RowId) -> Response:
    ctx, session = signed_in(request)
    ann = ctx.store.get_announcement(ann_id)
    tz = ctx.herald.settings.config.worker.timezone
    d = ann.draft
    form = {"title": d.title, "body": d.body, "url": d.url or "",
            "image_url": d.image_url or "", "kind": d.kind, "domains": list(d.domains),
            "targets": list(d.targets), "when": "later" if ann.send_at else "now",
            "send_at": _local_input(ann.send_at, tz)}
    return ctx.render(request, "compose.html.j2", session=session, ann=ann, form=form,
                      error=None, **_options(ctx))


@router.post("/queue/{ann_id}/edit")
def edit(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    ann = ctx.store.get_announcement(ann_id)
    try:
        draft = draft_from_form(ctx, form)
    except ValueError as exc:
        return ctx.render(request, "compose.html.j2", session=session, ann=ann,
                          form=_form_echo(form), error=_message(exc), status_code=422,
                          **_options(ctx))
    actions.update(ctx, session, ann, draft)
    return back(f"/queue/{ann_id}", "saved")


@router.post("/queue/{ann_id}/submit")
def submit(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, _form = posted(request, form)
    actions.submit(ctx, session, ctx.store.get_announcement(ann_id))
    return back(f"/queue/{ann_id}", "submitted")


@router.post("/queue/{ann_id}/approve")
def approve(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    actions.approve(ctx, session, ctx.store.get_announcement(ann_id),
                    seen=_seen(_str(form, "seen")))
    return back(f"/queue/{ann_id}", "approved" if ctx.web.approval else "published")


@router.post("/queue/{ann_id}/return")
def send_back(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    actions.send_back(ctx, session, ctx.store.get_announcement(ann_id),
                      _str(form, "comment"))
    return back(f"/queue/{ann_id}", "returned")


@router.post("/queue/{ann_id}/cancel")
def cancel(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, _session, _form = posted(request, form)
    ctx.store.cancel_announcement(ann_id, ctx.now())
    return back(f"/queue/{ann_id}", "cancelled")


@router.post("/deliveries/{delivery_id}/retry")
def retry(request: Request, form: FormBody, delivery_id: RowId) -> Response:
    ctx, _session, form = posted(request, form)
    ctx.store.retry_delivery(delivery_id, ctx.now())
    return back(_safe_next(_str(form, "back")), "retry")


