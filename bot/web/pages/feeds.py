"""Feeds: list, check (following a site's feed links), add, edit, poll now, pause and
remove. Feed errors are shown in plain words (``bot.sources.plain``), the technical text
folded under them."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from bot.durations import format_duration
from bot.errors import HeraldError
from bot.sources.plain import Unreadable, plain_error
from bot.usecases.feed_edit import edit_feed, poll_now
from bot.usecases.feeds import (
    FeedCheck,
    NewFeed,
    SeveralFeeds,
    add_checked,
    check_feed,
    new_feed,
)
from bot.web.app import WebContext, _error_status
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
    return new_feed(_str(form, "url"), _str(form, "name"), _str(form, "every"),
                    display_name=_str(form, "display_name"))


async def _bounded(ctx: WebContext, fn: Any) -> Any:
    """``fn`` in a thread of the feed-check gate, with ``[http] timeout`` as the deadline
    of the whole check (a page, then the feeds it links)."""
    timeout = ctx.herald.settings.config.http.timeout
    return await run_bounded(
        fn, gate=ctx.feed_checks, deadline=timeout.total_seconds(),
        busy="too many feed checks are running: try again in a minute",
        late=f"the site did not answer within {format_duration(timeout)}")


async def _checked(ctx: WebContext, feed: NewFeed) -> FeedCheck:
    result: FeedCheck = await _bounded(ctx, partial(check_feed, ctx.herald, feed))
    return result


def _page(ctx: WebContext, request: Request, session: Any, sources: list[Any],
          status_code: int = 200, **context: Any) -> Response:
    now = ctx.now()
    context = {"check": None, "form": None, "error": None, "detail": None,
               "choices": None, **context}
    return ctx.render(request, "feeds.html.j2", session=session,
                      announce_since=format_duration(
                          ctx.herald.settings.config.worker.announce_since),
                      sources=sources, plain_error=plain_error, now=now,
                      format_duration=format_duration, status_code=status_code, **context)


def _refusal(exc: HeraldError) -> tuple[str, str | None]:
    """The message to show and, for a feed that could not be read, its technical text."""
    if isinstance(exc, Unreadable):
        return str(exc), exc.detail
    return str(exc), None


@router.get("/feeds", response_class=HTMLResponse)
def feeds(request: Request) -> Response:
    ctx, session = signed_in(request)
    return _page(ctx, request, session, ctx.store.list_sources())


@router.post("/feeds/check", response_class=HTMLResponse)
async def feed_check(request: Request, form: FormBody) -> Response:
    """Fetch the address once (through the SSRF guard) and show what Herald finds there: a
    feed, or the feeds a web page links to (one is taken; several are offered). The
    fetches run in a thread of their own, a few at most, with a deadline for the whole
    check: a slow site holds up this page, nothing else."""
    ctx, session, _form = await run_in_threadpool(posted, request, form, "approver")
    echo = {"url": _str(form, "url"), "name": _str(form, "name"),
            "display_name": _str(form, "display_name"), "every": _str(form, "every")}
    check: FeedCheck | None = None
    error = detail = None
    choices = None
    try:
        feed = _feed_form(form)
        echo.update(every=format_duration(feed.every))
        check = await _checked(ctx, feed)
        echo.update(url=check.feed.url, display_name=check.feed.display_name or "")
    except SeveralFeeds as exc:
        choices = exc
    except HeraldError as exc:
        error, detail = _refusal(exc)
    sources = await run_in_threadpool(ctx.store.list_sources)
    return _page(ctx, request, session, sources, check=check, form=echo, error=error,
                 detail=detail, choices=choices,
                 status_code=200 if check or choices else 422)


@router.post("/feeds")
async def feed_add(request: Request, form: FormBody) -> Response:
    """Add the feed, checked again as the check page checked it (and as ``herald feeds
    add`` does): a post that skipped the check page gets no less."""
    ctx, session, form = await run_in_threadpool(posted, request, form, "approver")
    try:
        check = await _checked(ctx, _feed_form(form))
        await run_in_threadpool(partial(
            add_checked, ctx.herald, check,
            announce_backlog=_str(form, "announce_backlog") == "1"))
    except HeraldError as exc:
        several = exc if isinstance(exc, SeveralFeeds) else None
        error, detail = _refusal(exc) if several is None else (None, None)
        echo = {k: _str(form, k) for k in ("url", "name", "display_name", "every")}
        sources = await run_in_threadpool(ctx.store.list_sources)
        return _page(ctx, request, session, sources, form=echo, error=error,
                     detail=detail, choices=several, status_code=_error_status(exc))
    return back("/feeds", "feed-added")


@router.get("/feeds/{name}/edit", response_class=HTMLResponse)
def feed_edit_page(request: Request, name: str) -> Response:
    ctx, session = signed_in(request, "approver")
    row = ctx.store.get_source(name)
    return ctx.render(request, "feed_edit.html.j2", session=session, source=row,
                      form={"url": row.url, "display_name": row.display_name or "",
                            "every": format_duration(row.every)},
                      error=None, detail=None, choices=None,
                      format_duration=format_duration)


@router.post("/feeds/{name}/edit", response_class=HTMLResponse)
async def feed_edit(request: Request, form: FormBody, name: str) -> Response:
    """Save a feed's address, display name and interval; a new address is checked as a
    new feed is (the guard, one fetch, the duplicate check) before it is kept."""
    ctx, session, form = await run_in_threadpool(posted, request, form, "approver")
    row = await run_in_threadpool(ctx.store.get_source, name)
    echo = {"url": _str(form, "url"), "display_name": _str(form, "display_name"),
            "every": _str(form, "every")}
    error = detail = None
    choices = None
    try:
        await _bounded(ctx, partial(edit_feed, ctx.herald, name, url=echo["url"],
                                    display_name=echo["display_name"],
                                    every=echo["every"]))
        return back("/feeds", "feed-saved")
    except SeveralFeeds as exc:
        choices = exc
    except HeraldError as exc:
        error, detail = _refusal(exc)
    return ctx.render(request, "feed_edit.html.j2", session=session, source=row, form=echo,
                      error=error, detail=detail, choices=choices,
                      format_duration=format_duration, status_code=422)


@router.post("/feeds/{name}/poll")
def feed_poll(request: Request, form: FormBody, name: str) -> Response:
    """Make the feed due now: the worker reads it on its next round (never this page)."""
    ctx, _session, form = posted(request, form, "approver")
    poll_now(ctx.herald, name)
    return back("/feeds", "poll-soon")


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
