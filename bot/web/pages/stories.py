"""Collected stories: list, one story, tags, hold, announce, merge and split."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.clock import local_date
from bot.errors import StoreError
from bot.release import DIGEST
from bot.web.app import RowId
from bot.web.blocking import FormBody
from bot.web.pages._common import (
    _options,
    _str,
    back,
    posted,
    signed_in,
)
from bot.web.preview import previews

router = APIRouter(include_in_schema=False)


# -- stories --------------------------------------------------------------------------------

@router.get("/stories", response_class=HTMLResponse)
def stories(request: Request) -> Response:
    ctx, session = signed_in(request)
    tag = request.query_params.get("tag") or None
    found = ctx.store.list_stories(tag=tag, limit=200)
    deliveries = ctx.store.deliveries_for([s.id for s in found if s.id is not None])
    return ctx.render(request, "stories.html.j2", session=session, stories=found, tag=tag,
                      deliveries=deliveries, **_options(ctx))


@router.get("/stories/{story_id}", response_class=HTMLResponse)
def story(request: Request, story_id: RowId) -> Response:
    ctx, session = signed_in(request)
    found = ctx.store.get_story(story_id)
    deliveries = ctx.store.deliveries_for([story_id]).get(story_id, [])
    routed = [d.target for d in deliveries if d.target != DIGEST] or list(ctx.herald.channels)
    today = local_date(ctx.now(), ctx.herald.settings.config.worker.timezone)
    return ctx.render(request, "story.html.j2", session=session, story=found,
                      deliveries=deliveries, today=today,
                      history=ctx.store.story_history(story_id),
                      previews=previews(ctx.herald, found, routed), **_options(ctx))


@router.post("/stories/{story_id}/tags")
def story_tags(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, session, form = posted(request, form)
    kind = _str(form, "kind") or None
    domains = [v for v in form.getlist("domains") if isinstance(v, str)]
    ctx.store.set_story_tags(story_id, kind=kind, domains=domains, by=session.user.email,
                             ctx=ctx.herald.routing, now=ctx.now())
    return back(f"/stories/{story_id}", "tags")


@router.post("/stories/{story_id}/hold")
def story_hold(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, _session, form = posted(request, form)
    hold = _str(form, "hold") != "0"
    ctx.store.set_hold(story_id, hold, ctx.herald.routing, ctx.now())
    return back(f"/stories/{story_id}", "held" if hold else "released")


@router.post("/stories/{story_id}/announce")
def story_announce(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, _session, _form = posted(request, form)
    ctx.store.announce_story(story_id, ctx.herald.routing, ctx.now())
    return back(f"/stories/{story_id}", "announced")


@router.post("/stories/{story_id}/merge")
def story_merge(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, _session, form = posted(request, form)
    other = _str(form, "other").strip().lstrip("#")
    if not other.isdigit() or len(other) > 9:
        raise StoreError("give the number of the story to merge into this one")
    report = ctx.store.merge_stories(story_id, int(other), ctx.herald.routing, ctx.now())
    return back(f"/stories/{story_id}", report.notice)


@router.post("/stories/{story_id}/split")
def story_split(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, _session, form = posted(request, form)
    new_id, _stats = ctx.store.split_item(story_id, _str(form, "item_url"),
                                          ctx.herald.routing, ctx.now())
    return back(f"/stories/{new_id}", "split")


