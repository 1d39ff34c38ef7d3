"""Edits with an audit trail: a collected story's title, summary, key dates and programmes
(``/stories/{id}/edit``), and an announcement after it was sent (``/queue/{id}/sent``): edit
everywhere, approve or reject a waiting correction, delete from Slack.

The pages only write rows: the worker's dispatcher edits the Slack message, posts the Teams
correction and deletes from Slack (see :mod:`bot.store._sent`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from bot.errors import InvalidEdit, StoreError
from bot.model import KeyDate, TagGroup
from bot.queue import Draft
from bot.release import DIGEST
from bot.store._overrides import DATE_WHATS, check_key_date
from bot.store._queue import NotAllowed
from bot.web.app import NOTICES, RowId, WebContext
from bot.web.blocking import FormBody
from bot.web.pages._common import _message, _options, _str, back, posted, signed_in

router = APIRouter(include_in_schema=False)

#: Empty rows the key-date form offers for adding dates.
NEW_DATE_ROWS = 2
MAX_DATE_ROWS = 50


def _programmes(ctx: WebContext) -> list[tuple[str, str]]:
    labels = ctx.labels()
    return [(p, labels.get(p, p)) for p in ctx.herald.taxonomy.slugs("programme")]


def dates_from_form(form: FormData) -> list[KeyDate]:
    """The key dates of the edit form: rows ``date-N-what/day/time/place``; a row ticked
    ``date-N-remove`` or with no day is left out."""
    found: list[KeyDate] = []
    for n in range(MAX_DATE_ROWS):
        if f"date-{n}-what" not in form:
            break
        day = _str(form, f"date-{n}-day").strip()
        if not day or _str(form, f"date-{n}-remove"):
            continue
        found.append(check_key_date(_str(form, f"date-{n}-what"), day,
                                    _str(form, f"date-{n}-time"),
                                    _str(form, f"date-{n}-place"), f"key date {n + 1}"))
    return found


def _story_page(request: Request, story_id: int, *, error: str | None = None,
                status_code: int = 200) -> Response:
    ctx, session = signed_in(request)
    story = ctx.store.get_story(story_id)
    programmes = [t.slug for t in story.tags if t.group is TagGroup.PROGRAMME]
    return ctx.render(request, "story_edit.html.j2", session=session, story=story,
                      chosen=programmes, programmes=_programmes(ctx), whats=DATE_WHATS,
                      new_rows=NEW_DATE_ROWS, history=ctx.store.story_history(story_id),
                      overrides=ctx.store.story_overrides(story_id), error=error,
                      status_code=status_code, **_options(ctx))


@router.get("/stories/{story_id}/edit", response_class=HTMLResponse)
def story_edit_page(request: Request, story_id: RowId) -> Response:
    return _story_page(request, story_id)


@router.post("/stories/{story_id}/edit")
def story_edit(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    try:
        dates = dates_from_form(form)
    except StoreError as exc:
        return _story_page(request, story_id, error=str(exc), status_code=422)
    programmes = [v for v in form.getlist("programmes") if isinstance(v, str)] \
        if _str(form, "programmes-shown") else None
    try:
        ctx.store.edit_story(story_id, by=session.user.email, ctx=ctx.herald.routing,
                             now=ctx.now(), title=_str(form, "title"),
                             summary=_str(form, "summary"), dates=dates,
                             programmes=programmes)
    except InvalidEdit as exc:  # an empty title: the form again, saying so
        return _story_page(request, story_id, error=str(exc), status_code=422)
    return back(f"/stories/{story_id}", "edited")


# -- an announcement after it was sent -------------------------------------------------------

def _sent_page(request: Request, ann_id: int, *, form: dict[str, Any] | None = None,
               error: str | None = None, status_code: int = 200) -> Response:
    ctx, session = signed_in(request)
    ann = ctx.store.get_announcement(ann_id)
    history = ctx.store.story_history(ann.story_id) if ann.story_id else []
    edits = ctx.store.sent_edits(ann_id)
    deletable = [d for d in ann.deliveries if d.status.value == "sent" and d.external_id
                 and d.target != DIGEST and d.target in ctx.herald.channels
                 and ctx.herald.channels[d.target].supports_delete]
    user = session.user
    may_edit = ann.started and (user.id == ann.author_id or user.can("approver"))
    return ctx.render(request, "sent_edit.html.j2", session=session, ann=ann,
                      form=form or {"title": ann.draft.title, "body": ann.draft.body,
                                    "url": ann.draft.url or ""},
                      edits=edits, history=history, deletable=deletable, may_edit=may_edit,
                      error=error, status_code=status_code, **_options(ctx))


@router.get("/queue/{ann_id}/sent", response_class=HTMLResponse)
def sent_page(request: Request, ann_id: RowId) -> Response:
    return _sent_page(request, ann_id)


@router.post("/queue/{ann_id}/sent")
def sent_edit(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    ann = ctx.store.get_announcement(ann_id)
    echo = {"title": _str(form, "title"), "body": _str(form, "body"), "url": _str(form, "url")}
    try:
        draft = Draft.model_validate({**ann.draft.model_dump(), "title": echo["title"],
                                      "body": echo["body"], "url": echo["url"] or None})
    except ValueError as exc:
        return _sent_page(request, ann_id, form=echo, error=_message(exc), status_code=422)
    edit = ctx.store.edit_sent_announcement(ann_id, draft, session.user,
                                            four_eyes=ctx.web.approval,
                                            ctx=ctx.herald.routing, now=ctx.now())
    return back(f"/queue/{ann_id}/sent", "correction-waits" if edit.status == "pending"
                else "corrected")


@router.post("/queue/{ann_id}/sent/{edit_id}/decide")
def sent_decide(request: Request, form: FormBody, ann_id: RowId, edit_id: RowId) -> Response:
    ctx, session, form = posted(request, form, role="approver")
    apply = _str(form, "decision") == "apply"
    if edit_id not in {e.id for e in ctx.store.sent_edits(ann_id)}:
        raise StoreError(f"correction {edit_id} is not one of announcement {ann_id}'s")
    ctx.store.decide_sent_edit(edit_id, session.user, apply=apply, ctx=ctx.herald.routing,
                               now=ctx.now())
    return back(f"/queue/{ann_id}/sent", "corrected" if apply else "correction-rejected")


@router.post("/queue/{ann_id}/sent/delete")
def sent_delete(request: Request, form: FormBody, ann_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    ann = ctx.store.get_announcement(ann_id)
    user = session.user
    if user.id != ann.author_id and not user.can("approver"):
        raise NotAllowed("only the author or an approver may delete a sent post")
    target = _str(form, "target")
    channel = ctx.herald.channels.get(target)
    if channel is None or not channel.supports_delete or ann.story_id is None:
        raise StoreError(f"{target or 'that target'} cannot delete a post")
    ctx.store.take_back_post(ann.story_id, target, user.email, ctx.now(), ann.id)
    return back(f"/queue/{ann_id}/sent", "post-deleted")


NOTICES.update({
    "edited": "Saved. Your changes are kept: a later poll never undoes them.",
    "corrected": "Corrected: Slack's message is edited in place, other places get a "
                 "correction, and the next digest carries the new text.",
    "correction-waits": "Correction saved: it goes out once another approver approves it.",
    "correction-rejected": "Correction rejected: nothing changed.",
    "post-deleted": "The post is being deleted: the worker takes it down shortly.",
})
