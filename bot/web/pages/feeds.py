"""Feeds: list, check, add, pause and remove."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from bot.durations import format_duration
from bot.errors import HeraldError
from bot.usecases.feeds import FeedCheck, NewFeed, add_checked, check_feed, new_feed
from bot.web.app import WebContext
from bot.web.blocking import FormBody, run_bounded
from bot.web.pages._common import (
    _str,
    back,
    posted,
    signed_in,
)

router = APIRouter(include_in_schema=False)


# -- feeds ----------------------------------------------------------------------------------

def _feed_form(form: FormData) -> NewFeed:
    """The form's new feed, checked as ``herald feeds add`` checks it (no local files)."""
    return new_feed(_str(form, "url"), _str(form, "name"), _str(form, "every"))


async def _checked(ctx: WebContext, feed: NewFeed) -> FeedCheck:
    """``check_feed`` in a thread of the feed-check gate, with ``[http] timeout`` as the
    deadline of the whole check."""
    timeout = ctx.herald.settings.config.http.timeout
    return await run_bounded(
        partial(check_feed, ctx.herald, feed), gate=ctx.feed_checks,
        deadline=timeout.total_seconds(),
        busy="too many feed checks are running: try again in a minute",
        late=f"the feed did not answer within {format_duration(timeout)}")


@router.get("/feeds", response_class=HTMLResponse)
def feeds(request: Request) -> Response:
    ctx, session = signed_in(request)
    return ctx.render(request, "feeds.html.j2", session=session,
                      announce_since=format_duration(
                          ctx.herald.settings.config.worker.announce_since),
                      sources=ctx.store.list_sources(), check=None, form=None, error=None,
                      format_duration=format_duration)


@router.post("/feeds/check", response_class=HTMLResponse)
async def feed_check(request: Request, form: FormBody) -> Response:
    """Fetch the feed once (through the SSRF guard) and show what Herald finds in it. The
    fetch runs in a thread of its own, a few at most, with ``[http] timeout`` as its
    deadline for the whole check: a slow feed server holds up this page, nothing else."""
    ctx, session, _form = await run_in_threadpool(posted, request, form, "approver")
    echo = {"url": _str(form, "url"), "name": _str(form, "name"), "every": _str(form, "every")}
    check: FeedCheck | None = None
    error = None
    try:
        feed = _feed_form(form)
        echo.update(name=feed.name, every=format_duration(feed.every))
        check = await _checked(ctx, feed)
    except HeraldError as exc:
        error = str(exc)
    sources = await run_in_threadpool(ctx.store.list_sources)
    return ctx.render(request, "feeds.html.j2", session=session,
                      announce_since=format_duration(
                          ctx.herald.settings.config.worker.announce_since),
                      sources=sources, check=check, form=echo, error=error,
                      format_duration=format_duration, status_code=200 if check else 422)


@router.post("/feeds")
async def feed_add(request: Request, form: FormBody) -> Response:
    """Add the feed, checked again as the check page checked it (and as ``herald feeds
    add`` does): a post that skipped the check page gets no less."""
    ctx, _session, form = await run_in_threadpool(posted, request, form, "approver")
    check = await _checked(ctx, _feed_form(form))
    await run_in_threadpool(partial(add_checked, ctx.herald, check,
                                    announce_backlog=_str(form, "announce_backlog") == "1"))
    return back("/feeds", "feed-added")


@router.post("/feeds/{name}/pause")
def feed_pause(request: Request, form: FormBody, name: str) -> Response:
    ctx, _session, form = posted(request, form, "approver")
    paused = _str(form, "paused") != "0"
    ctx.store.set_source_paused(name, paused, ctx.now())
    return back("/feeds", "paused" if paused else "resumed")


@router.post("/feeds/{name}/remove")
def feed_remove(request: Request, form: FormBody, name: str) -> Response:
    ctx, _session, _form = posted(request, form, "approver")
    ctx.store.remove_source(name)
    return back("/feeds", "removed")


