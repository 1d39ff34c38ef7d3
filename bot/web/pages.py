"""Staff pages: the queue, stories, feeds, subscribers and accounts (sign-in required)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from bot.clock import local_date
from bot.durations import format_duration
from bot.errors import HeraldError, StoreError
from bot.passwords import hash_password, verify_password
from bot.queue import Draft
from bot.release import DIGEST
from bot.store import ROLES, Session
from bot.usecases.feeds import FeedCheck, NewFeed, add_checked, check_feed, new_feed
from bot.web import actions
from bot.web.app import InvalidInput, RowId, WebContext, ctx_of
from bot.web.blocking import FormBody, run_bounded
from bot.web.preview import digest_html, previews
from bot.web.security import (
    CSRF_HEADER,
    Forbidden,
    SignInRequired,
    check_csrf,
    client_address,
    login_delay,
    require_role,
)

router = APIRouter(include_in_schema=False)



def signed_in(request: Request, role: str = "editor") -> tuple[WebContext, Session]:
    ctx = ctx_of(request)
    session = ctx.auth.session(request, ctx.now())
    require_role(session, role)
    assert session is not None
    return ctx, session


def posted(request: Request, form: FormData, role: str = "editor"
           ) -> tuple[WebContext, Session, FormData]:
    """A signed-in form post with the right role and a valid CSRF token. (Handlers are
    plain functions run in the thread pool: ``bot.web.blocking``.)"""
    ctx = ctx_of(request)
    session = ctx.auth.session(request, ctx.now())
    if session is None:
        raise SignInRequired()
    supplied = form.get("csrf") or request.headers.get(CSRF_HEADER)
    check_csrf(session, supplied if isinstance(supplied, str) else None)
    require_role(session, role)
    if any(isinstance(v, str) and "\x00" in v for _k, v in form.multi_items()):
        raise InvalidInput("the form contains a NUL character")
    return ctx, session, form


def back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no //host, no scheme): the sign-in page is no open redirect.
    Whitespace and control characters are refused too: browsers drop tabs and newlines
    from a URL, so "/<TAB>/evil.example" would be read as "//evil.example"."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value \
            and not any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return value
    return "/queue"


# -- sign-in --------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    ctx = ctx_of(request)
    return ctx.render(request, "login.html.j2", next=_safe_next(request.query_params.get("next")),
                      error=None, email="")


@router.post("/login")
def login(request: Request, form: FormBody) -> Response:
    """Sign in. The attempt is counted as failed in the database (``login_attempts``, per
    casefolded address, accounts and non-accounts alike) *before* the password is
    checked, and refused unchecked while the address is locked: parallel tries cannot all
    be checked, and several web processes count together. A right password clears the
    count."""
    from bot.web.security import check_public_form, check_same_origin

    ctx = ctx_of(request)
    check_same_origin(request)
    check_public_form(ctx.signer, _str(form, "csrf"))
    email = _str(form, "email").strip()
    password = _str(form, "password")
    target = _safe_next(_str(form, "next"))

    def refuse(message: str, status: int = 400,
               retry_after: int | None = None) -> Response:
        response = ctx.render(request, "login.html.j2", next=target, error=message,
                              email=email, status_code=status)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    wait = ctx.login_limiter.hit(client_address(request))
    if wait is not None:
        return refuse("Too many sign-in attempts from here. Wait a minute and try again.",
                      429, int(wait) + 1)
    now = ctx.now()
    web = ctx.web
    locked_until = ctx.store.reserve_login(
        email, now, lambda failures: login_delay(failures, web.max_failed_logins,
                                                 web.lock_for))
    if locked_until is not None:
        seconds = int((locked_until - now).total_seconds()) + 1
        return refuse(f"Too many failed sign-ins for this account. Try again in "
                      f"{format_duration(timedelta(seconds=seconds))}.", 429, seconds)
    user = ctx.store.find_login_user(email) if "@" in email else None
    # An unknown address checks a dummy hash: the same time as a wrong password.
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        return refuse("Wrong email or password.", 401)  # the reserved failure stays
    token = ctx.store.start_session(user.id, now, now + web.session)
    ctx.store.clear_login(email)  # as typed (start_session clears the account's own)
    response = RedirectResponse(target, status_code=303)
    ctx.auth.set_cookie(response, token)
    return response


@router.post("/logout")
def logout(request: Request, form: FormBody) -> Response:
    ctx, _session, _form = posted(request, form)
    token = request.cookies.get(ctx.auth.cookie)
    if token:
        ctx.store.end_session(token)
    response = RedirectResponse("/login?done=signed-out", status_code=303)
    ctx.auth.clear_cookie(response)
    return response


@router.get("/")
def home(request: Request) -> Response:
    signed_in(request)
    return RedirectResponse("/queue", status_code=303)


# -- the queue ------------------------------------------------------------------------------

def _options(ctx: WebContext) -> dict[str, Any]:
    tax = ctx.herald.taxonomy
    labels = ctx.labels()
    return {"kinds": [(k, labels.get(k, k)) for k in tax.slugs("kind")],
            "domains": [(d, labels.get(d, d)) for d in tax.slugs("domain")],
            "targets": [(name, ch.name) for name, ch in ctx.herald.channels.items()]
            + ([(DIGEST, "weekly digest email")] if DIGEST in ctx.herald.targets else []),
            "approval": ctx.web.approval,
            "timezone": ctx.herald.settings.config.worker.timezone}


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


def _local_input(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M") if value else ""


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


@router.get("/users", response_class=HTMLResponse)
def users(request: Request) -> Response:
    ctx, session = signed_in(request, "admin")
    return ctx.render(request, "users.html.j2", session=session, users=ctx.store.list_users(),
                      roles=ROLES, error=None)


@router.post("/users")
def user_add(request: Request, form: FormBody) -> Response:
    ctx, _session, form = posted(request, form, "admin")
    ctx.store.add_user(_str(form, "email"), _str(form, "role"),
                       hash_password(_str(form, "password")), ctx.now())
    return back("/users", "user-added")


@router.post("/users/password")
def own_password(request: Request, form: FormBody) -> Response:
    """Change one's own password (the current one is asked for again)."""
    ctx, session, form = posted(request, form)
    if not verify_password(session.user.password_hash, _str(form, "current")):
        raise Forbidden("the current password is wrong")
    ctx.store.set_user(session.user.email, password_hash=hash_password(_str(form, "new")))
    response = RedirectResponse("/login?done=signed-out", status_code=303)
    ctx.auth.clear_cookie(response)
    return response


# -- helpers --------------------------------------------------------------------------------

def _seen(value: str) -> datetime | None:
    """The version an approve form was drawn from (``updated_at``), if it says."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        raise StoreError("the form's version is not valid: reload the page") from None


def _str(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _message(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: "
                         f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
    return str(exc)


__all__ = ["router"]
