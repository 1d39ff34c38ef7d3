"""Collected stories: list, one story, tags, hold, announce, merge and split."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.clock import local_date
from bot.errors import StoreError
from bot.model import KeyDate, Story
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
from bot.web.pages.reminders import reminders_panel
from bot.web.preview import previews
from bot.web.story_search import PAGE_SIZE, PARAMS, page_link, read_filter, read_page

router = APIRouter(include_in_schema=False)


# -- stories --------------------------------------------------------------------------------

@router.get("/stories", response_class=HTMLResponse)
def stories(request: Request) -> Response:
    ctx, session = signed_in(request)
    tz = ctx.herald.settings.config.worker.timezone
    params = request.query_params
    wanted = read_filter(params, tz)
    page_no = read_page(params)
    if any(not value for _name, value in params.multi_items()):
        # The filter form sends its empty fields too: the shareable address leaves them out.
        return RedirectResponse(page_link(params, page_no), status_code=303)
    found = ctx.store.search_stories(wanted, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    deliveries = ctx.store.deliveries_for([s.id for s in found.stories if s.id is not None])
    tax = ctx.herald.taxonomy
    labels = ctx.labels()
    today = local_date(ctx.now(), tz)
    return ctx.render(
        request, "stories.html.j2", session=session, found=found, stories=found.stories,
        deliveries=deliveries, today=today, next_dates=next_key_dates(found.stories, today),
        published={sid: local_date(at, tz) for sid, at in found.published.items()},
        wanted={name: params.get(name, "") for name in PARAMS}, filtered=not wanted.empty,
        programmes=[(p, labels.get(p, p)) for p in tax.slugs("programme")],
        sources=_with(ctx.store.source_names(), wanted.source),
        source_labels=ctx.store.source_display_names(),
        previous_link=page_link(params, page_no - 1) if found.has_previous else None,
        next_link=page_link(params, page_no + 1) if found.has_next else None,
        **_options(ctx))


def _with(names: list[str], wanted: str) -> list[str]:
    """The source names to offer, with the one asked for even if it is gone from config."""
    return [*names, wanted] if wanted and wanted not in names else names


def next_key_dates(found: list[Story], today: date) -> dict[int, KeyDate]:
    """Each story's next key date (today or later), by story id; none for stories without."""
    coming = {}
    for s in found:
        later = [d for d in s.dates if d.date >= today]
        if later and s.id is not None:
            coming[s.id] = min(later, key=lambda d: d.date)
    return coming


@router.get("/stories/{story_id}", response_class=HTMLResponse)
def story(request: Request, story_id: RowId) -> Response:
    ctx, session = signed_in(request)
    found = ctx.store.get_story(story_id)
    deliveries = ctx.store.deliveries_for([story_id]).get(story_id, [])
    routed = [d.target for d in deliveries if d.target != DIGEST] or list(ctx.herald.channels)
    today = local_date(ctx.now(), ctx.herald.settings.config.worker.timezone)
    duplicates = ctx.store.possible_duplicates(story_id, ctx.herald.routing)
    return ctx.render(request, "story.html.j2", session=session, story=found,
                      deliveries=deliveries, today=today, duplicates=duplicates,
                      duplicate_deliveries=ctx.store.deliveries_for(
                          [d.story_id for d in duplicates]),
                      history=ctx.store.story_history(story_id),
                      source_labels=ctx.store.source_display_names(),
                      previews=previews(ctx.herald, found, routed),
                      **reminders_panel(ctx, found, deliveries, today), **_options(ctx))


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
    if _str(form, "ask") == "1":  # from "Possible duplicates": say what it does first
        return _confirm_merge(request, story_id, int(other))
    report = ctx.store.merge_stories(story_id, int(other), ctx.herald.routing, ctx.now())
    return back(f"/stories/{story_id}", report.notice)


def _confirm_merge(request: Request, keep_id: int, other_id: int) -> Response:
    """The confirmation step: both stories, where each went, and what merging does."""
    ctx, session = signed_in(request)
    if keep_id == other_id:
        raise StoreError("a story cannot be merged into itself")
    keep, other = ctx.store.get_story(keep_id), ctx.store.get_story(other_id)
    return ctx.render(request, "merge_confirm.html.j2", session=session, keep=keep,
                      other=other, deliveries=ctx.store.deliveries_for([keep_id, other_id]))


@router.post("/stories/{story_id}/split")
def story_split(request: Request, form: FormBody, story_id: RowId) -> Response:
    ctx, _session, form = posted(request, form)
    new_id, _stats = ctx.store.split_item(story_id, _str(form, "item_url"),
                                          ctx.herald.routing, ctx.now())
    return back(f"/stories/{new_id}", "split")


