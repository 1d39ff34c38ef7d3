"""The JSON API of edits (issue #15): ``PATCH /api/stories/{id}`` (title, summary, key
dates, programmes, kept through later polls; and its reminders switch, issue #17),
``GET /api/stories/{id}/history``, and for a sent announcement
``POST /api/announcements/{id}/correction``,
``POST /api/announcements/{id}/corrections/{edit_id}/decide`` and
``POST /api/announcements/{id}/delete-post``. Same sign-in, CSRF and error rules as
:mod:`bot.web.api`, which adds these routes to its router (``register``)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictBool

from bot.errors import StoreError
from bot.queue import BODY_MAX, TITLE_MAX, Draft
from bot.shapes import StoryOut
from bot.store._overrides import check_key_date
from bot.store._queue import NotAllowed
from bot.web.app import RowId


class KeyDateIn(BaseModel):
    what: str = Field(description="applications-open, applications-close, deadline or event")
    date: date
    at_time: str | None = Field(default=None, max_length=32)
    place: str | None = Field(default=None, max_length=300)


class StoryEditIn(BaseModel):
    """What to set; a field left out stays as it is. ``dates`` and ``programmes`` are the
    whole new list (empty: none)."""

    title: str | None = Field(default=None, max_length=300)
    summary: str | None = Field(default=None, max_length=4000)
    dates: list[KeyDateIn] | None = Field(default=None, max_length=50)
    programmes: list[str] | None = None
    reminders: StrictBool | None = Field(
        default=None, description="remind people before the story's key dates (off: its "
                                  "planned reminders are cancelled within a minute)")


class EditOut(BaseModel):
    field: str
    before: str | None
    after: str | None
    by: str
    at: datetime
    announcement_id: int | None


class CorrectionIn(BaseModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    body: str = Field(default="", max_length=BODY_MAX)
    url: str | None = None


class CorrectionOut(BaseModel):
    id: int
    status: str = Field(description="pending (waits for another approver), applied or "
                                    "rejected")


class DecideIn(BaseModel):
    apply: bool = Field(description="true: send the correction everywhere; false: reject it")


class DeletePostIn(BaseModel):
    target: str


def edit_story(request: Request, story_id: RowId, body: StoryEditIn) -> StoryOut:
    from bot.web.api import get_story, writer

    ctx, session = writer(request)
    dates = None if body.dates is None else [
        check_key_date(d.what, d.date.isoformat(), d.at_time, d.place, f"dates[{n}]")
        for n, d in enumerate(body.dates)]
    ctx.store.edit_story(story_id, by=session.user.email, ctx=ctx.herald.routing,
                         now=ctx.now(), title=body.title, summary=body.summary, dates=dates,
                         programmes=body.programmes)
    if body.reminders is not None:  # kept in the story's history like the other edits
        ctx.store.set_story_reminders(story_id, body.reminders, by=session.user.email,
                                      now=ctx.now())
    return get_story(request, story_id)


def story_history(request: Request, story_id: RowId) -> list[EditOut]:
    from bot.web.api import reader

    ctx, _session = reader(request)
    ctx.store.get_story(story_id)  # 404 for a story that does not exist
    return [EditOut(field=h.field, before=h.before, after=h.after, by=h.by, at=h.at,
                    announcement_id=h.announcement_id)
            for h in ctx.store.story_history(story_id)]


def correct(request: Request, ann_id: RowId, body: CorrectionIn) -> CorrectionOut:
    from bot.web.api import writer

    ctx, session = writer(request)
    ann = ctx.store.get_announcement(ann_id)
    draft = Draft.model_validate({**ann.draft.model_dump(), **body.model_dump()})
    edit = ctx.store.edit_sent_announcement(ann_id, draft, session.user,
                                            four_eyes=ctx.web.approval,
                                            ctx=ctx.herald.routing, now=ctx.now())
    return CorrectionOut(id=edit.id, status=edit.status)


def decide(request: Request, ann_id: RowId, edit_id: RowId, body: DecideIn) -> CorrectionOut:
    from bot.web.api import writer

    ctx, session = writer(request, "approver")
    if edit_id not in {e.id for e in ctx.store.sent_edits(ann_id)}:
        raise StoreError(f"correction {edit_id} is not one of announcement {ann_id}'s")
    edit = ctx.store.decide_sent_edit(edit_id, session.user, apply=body.apply,
                                      ctx=ctx.herald.routing, now=ctx.now())
    return CorrectionOut(id=edit.id, status=edit.status)


def delete_post(request: Request, ann_id: RowId, body: DeletePostIn) -> dict[str, str]:
    from bot.web.api import writer

    ctx, session = writer(request)
    ann = ctx.store.get_announcement(ann_id)
    if session.user.id != ann.author_id and not session.user.can("approver"):
        raise NotAllowed("only the author or an approver may delete a sent post")
    channel = ctx.herald.channels.get(body.target)
    if channel is None or not channel.supports_delete or ann.story_id is None:
        raise StoreError(f"{body.target} cannot delete a post")
    ctx.store.take_back_post(ann.story_id, body.target, session.user.email, ctx.now(), ann.id)
    return {"status": "deleting"}


def register(router: APIRouter) -> None:
    """Add these routes to the API's router (its prefix, sign-in check and error shapes)."""
    router.add_api_route("/stories/{story_id}", edit_story, methods=["PATCH"],
                         response_model=StoryOut)
    router.add_api_route("/stories/{story_id}/history", story_history, methods=["GET"],
                         response_model=list[EditOut])
    router.add_api_route("/announcements/{ann_id}/correction", correct, methods=["POST"],
                         response_model=CorrectionOut)
    router.add_api_route("/announcements/{ann_id}/corrections/{edit_id}/decide", decide,
                         methods=["POST"], response_model=CorrectionOut)
    router.add_api_route("/announcements/{ann_id}/delete-post", delete_post,
                         methods=["POST"], status_code=202)
