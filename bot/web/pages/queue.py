"""The announcement queue: compose, preview, submit, approve, send back, cancel, retry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.queue import Draft, PastSendTime
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



#: The queue's sections, in the order shown: (key, heading, shown when empty).
SECTIONS = (("changes", "Needs your changes", "Nothing was sent back."),
            ("waiting", "Waiting for approval", "Nothing is waiting for approval."),
            ("drafts", "Drafts", "No drafts."),
            ("upcoming", "Upcoming", "Nothing upcoming."),
            ("failed", "Failed", "Nothing failed."),
            ("sent", "Sent", "Nothing sent yet."),
            ("cancelled", "Cancelled", "Nothing cancelled."))
_GROUP = {"returned": "changes", "submitted": "waiting", "draft": "drafts",
          "scheduled": "upcoming", "sending": "upcoming", "failed": "failed", "sent": "sent"}


def group_queue(announcements: list[Any]) -> dict[str, list[Any]]:
    """Each announcement under its section: a sent-back one under "Needs your changes"
    (with its comment), never under "Upcoming" with a send time it does not have yet."""
    groups: dict[str, list[Any]] = {key: [] for key, _h, _e in SECTIONS}
    for ann in announcements:
        groups[_GROUP.get(ann.state, "cancelled")].append(ann)
    return groups


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    ctx, session = signed_in(request)
    groups = group_queue(ctx.store.list_announcements())
    return ctx.render(request, "queue.html.j2", session=session, groups=groups,
                      sections=SECTIONS,
                      paused=list(ctx.store.paused_targets().values()), **_options(ctx))


@router.get("/queue/new", response_class=HTMLResponse)
def compose_page(request: Request) -> Response:
    ctx, session = signed_in(request)
    return ctx.render(request, "compose.html.j2", session=session, ann=None, form=None,
                      error=None, past=False, **_options(ctx))


class AmbiguousTime(ValueError):
    """A send time typed while "as soon as it is approved" stayed chosen."""


def draft_from_form(ctx: WebContext, form: FormData) -> Draft:
    """The form's draft. The send time is never dropped in silence: a time typed with "as
    soon as it is approved" still chosen is refused (the page's script picks "at this
    time" as you type, so this happens only without it); a time in the past is refused with
    a button to send as soon as approved instead (``send_now``)."""
    send_at: str | None = None
    typed = _str(form, "send_at").strip()
    when = _str(form, "when") or "now"
    if _str(form, "send_now"):
        typed, when = "", "now"
    if when == "later":
        send_at = typed or None
        if send_at is None:
            raise ValueError("choose a send time, or send it as soon as it is approved")
    elif typed:
        raise AmbiguousTime(f"you typed a send time ({typed}) but chose “as soon as it is "
                            "approved”: choose “at this time” to send it then, or clear "
                            "the time")
    draft = Draft.model_validate({
        "title": _str(form, "title"), "body": _str(form, "body"),
        "url": _str(form, "url") or None, "image_url": _str(form, "image_url") or None,
        "kind": _str(form, "kind"), "domains": [v for v in form.getlist("domains")
                                                if isinstance(v, str)],
        "targets": [v for v in form.getlist("targets") if isinstance(v, str)],
        "send_at": send_at})
    return actions.check_draft(ctx, draft)


def _form_echo(form: FormData) -> dict[str, Any]:
    now = bool(_str(form, "send_now"))
    return {"title": _str(form, "title"), "body": _str(form, "body"), "url": _str(form, "url"),
            "image_url": _str(form, "image_url"), "kind": _str(form, "kind"),
            "domains": form.getlist("domains"), "targets": form.getlist("targets"),
            "when": "now" if now else (_str(form, "when") or "now"),
            "send_at": "" if now else _str(form, "send_at")}


def _refused(request: Request, ctx: WebContext, session: Any, ann: Any, form: FormData,
             exc: ValueError) -> Response:
    """The compose form again, with what was typed and why it was refused."""
    return ctx.render(request, "compose.html.j2", session=session, ann=ann,
                      form=_form_echo(form), error=_message(exc),
                      past=isinstance(exc, PastSendTime), status_code=422, **_options(ctx))


@router.post("/queue/new")
def compose(request: Request, form: FormBody) -> Response:
    ctx, session, form = posted(request, form)
    try:
        draft = draft_from_form(ctx, form)
    except ValueError as exc:
        return _refused(request, ctx, session, None, form, exc)
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
    overdue = ann.send_at is not None and ann.send_at < ctx.now() \
        and ann.status in ("draft", "returned", "submitted")
    restorable = ann.status == "cancelled" and not ann.started
    return ctx.render(request, "announcement.html.j2", session=session, ann=ann,
                      story=story, previews=shown, can_approve=can_approve,
                      overdue=overdue, restorable=restorable, **_options(ctx))


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
                      error=None, past=False, **_options(ctx))


@router.post("/queue/{ann_id}/edit")
def edit(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    ann = ctx.store.get_announcement(ann_id)
    try:
        draft = draft_from_form(ctx, form)
    except ValueError as exc:
        return _refused(request, ctx, session, ann, form, exc)
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
                    seen=_seen(_str(form, "seen")), send_now=bool(_str(form, "send_now")))
    return back(f"/queue/{ann_id}", "approved" if ctx.web.approval else "published")


@router.post("/queue/{ann_id}/return")
def send_back(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    actions.send_back(ctx, session, ctx.store.get_announcement(ann_id),
                      _str(form, "comment"))
    return back(f"/queue/{ann_id}", "returned")


@router.get("/queue/{ann_id}/cancel", response_class=HTMLResponse)
def cancel_page(request: Request, ann_id: RowId) -> Response:
    """Cancelling asks first: what goes, what stays, and whether it can be undone."""
    ctx, session = signed_in(request)
    ann = ctx.store.get_announcement(ann_id)
    if ann.status == "cancelled":
        return back(f"/queue/{ann_id}", "cancelled")
    return ctx.render(request, "cancel.html.j2", session=session, ann=ann, **_options(ctx))


@router.post("/queue/{ann_id}/cancel")
def cancel(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    if _str(form, "confirm") != "yes":  # not from the confirmation page: ask there
        return RedirectResponse(f"/queue/{ann_id}/cancel", status_code=303)
    actions.cancel(ctx, session, ctx.store.get_announcement(ann_id))
    return back(f"/queue/{ann_id}", "cancelled")


@router.post("/queue/{ann_id}/restore")
def restore(request: Request, form: FormBody, ann_id: RowId) -> Response:
    """Undo a cancel: back to draft, if nothing of it was sent."""
    ctx, session, _form = posted(request, form)
    actions.restore(ctx, session, ctx.store.get_announcement(ann_id))
    return back(f"/queue/{ann_id}", "restored")


@router.post("/deliveries/{delivery_id}/retry")
def retry(request: Request, form: FormBody, delivery_id: RowId) -> Response:
    ctx, _session, form = posted(request, form)
    ctx.store.retry_delivery(delivery_id, ctx.now())
    return back(_safe_next(_str(form, "back")), "retry")


