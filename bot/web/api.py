"""The JSON API under /api (queue and stories), and /metrics.

Signed-in users call it with their session cookie; a request that changes something also
sends the session's CSRF token in ``X-CSRF-Token`` (``GET /api/session`` returns it).
Errors are JSON: ``{"error": "what was wrong"}``. The schema is at /api/openapi.json.
"""

from __future__ import annotations

import hmac
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from bot.clock import local_date
from bot.queue import Draft
from bot.shapes import DeliveryOut, StoryOut, reminders_by_story, stories_out
from bot.store import Announcement, Session
from bot.web import actions
from bot.web.app import RowId, WebContext, ctx_of
from bot.web.security import CSRF_HEADER, Forbidden, SignInRequired, check_csrf, require_role
from bot.web.story_search import read_filter

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}},
        "required": ["error"]}}}}
    for code, text in ((400, "Malformed request (a body that is not JSON)"),
                       (401, "Not signed in"), (403, "Not allowed"), (404, "Not found"),
                       (409, "Not possible in this state"), (422, "Invalid input"))}



def _signed_in_first(request: Request) -> None:
    """Signed out, every /api call is a 401 before its input is looked at (FastAPI solves
    dependencies before it validates the body, which would otherwise answer 422 first)."""
    ctx = ctx_of(request)
    if ctx.auth.session(request, ctx.now()) is None:
        raise SignInRequired()


router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS,
                   dependencies=[Depends(_signed_in_first)])


def reader(request: Request, role: str = "editor") -> tuple[WebContext, Session]:
    """A signed-in reader (the pages' check: the same rules either way)."""
    from bot.web.pages import signed_in

    return signed_in(request, role)


def writer(request: Request, role: str = "editor") -> tuple[WebContext, Session]:
    ctx = ctx_of(request)
    session = ctx.auth.session(request, ctx.now())
    if session is None:
        raise SignInRequired()
    check_csrf(session, request.headers.get(CSRF_HEADER))
    require_role(session, role)
    return ctx, session


# -- models (stories and deliveries: bot/shapes.py, shared with the CLI's --json) ----------

class AnnouncementOut(BaseModel):
    id: int
    status: str = Field(description="draft, submitted, returned, approved or cancelled")
    state: str = Field(description="the status, or for an approved one: scheduled, sending, "
                                   "sent or failed")
    title: str
    body: str
    url: str | None
    image_url: str | None
    kind: str
    domains: list[str]
    targets: list[str]
    send_at: datetime | None
    author: str | None
    approver: str | None
    comment: str | None
    story_id: int | None
    created_at: datetime
    updated_at: datetime
    deliveries: list[DeliveryOut]

    @classmethod
    def of(cls, a: Announcement) -> AnnouncementOut:
        d = a.draft
        return cls(id=a.id, status=a.status, state=a.state, title=d.title, body=d.body,
                   url=d.url, image_url=d.image_url, kind=d.kind, domains=list(d.domains),
                   targets=list(d.targets), send_at=a.send_at, author=a.author,
                   approver=a.approver, comment=a.comment, story_id=a.story_id,
                   created_at=a.created_at, updated_at=a.updated_at,
                   deliveries=[DeliveryOut.of(x) for x in a.deliveries])


class SessionOut(BaseModel):
    email: str
    role: str
    csrf_token: str


class ReturnIn(BaseModel):
    comment: str = Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")


class PreviewOut(BaseModel):
    target: str
    channel: str
    payload: dict[str, Any] | None
    error: str | None


# -- routes ---------------------------------------------------------------------------------

@router.get("/session", response_model=SessionOut)
def session_info(request: Request) -> SessionOut:
    _, session = reader(request)
    return SessionOut(email=session.user.email, role=session.user.role,
                      csrf_token=session.csrf)


@router.get("/announcements", response_model=list[AnnouncementOut])
def list_announcements(request: Request) -> list[AnnouncementOut]:
    ctx, _session = reader(request)
    return [AnnouncementOut.of(a) for a in ctx.store.list_announcements()]


@router.post("/announcements", response_model=AnnouncementOut, status_code=201)
def create_announcement(request: Request, draft: Draft) -> AnnouncementOut:
    ctx, session = writer(request)
    actions.check_draft(ctx, draft)
    return AnnouncementOut.of(ctx.store.create_announcement(
        draft, session.user.id, ctx.now(), ctx.herald.settings.config.worker.timezone))


@router.get("/announcements/{ann_id}", response_model=AnnouncementOut)
def get_announcement(request: Request, ann_id: RowId) -> AnnouncementOut:
    ctx, _session = reader(request)
    return AnnouncementOut.of(ctx.store.get_announcement(ann_id))


@router.put("/announcements/{ann_id}", response_model=AnnouncementOut)
def update_announcement(request: Request, ann_id: RowId, draft: Draft) -> AnnouncementOut:
    ctx, session = writer(request)
    return AnnouncementOut.of(actions.update(ctx, session, ctx.store.get_announcement(ann_id),
                                             draft))


@router.get("/announcements/{ann_id}/preview", response_model=list[PreviewOut])
def preview_announcement(request: Request, ann_id: RowId) -> list[PreviewOut]:
    from bot.web.preview import previews

    ctx, _session = reader(request)
    ann = ctx.store.get_announcement(ann_id)
    story = actions.story_for(ctx, ann.id, ann.draft, ann.author)
    return [PreviewOut(target=p.target, channel=p.channel, payload=p.payload, error=p.error)
            for p in previews(ctx.herald, story, list(ann.draft.targets))]


@router.post("/announcements/{ann_id}/submit", response_model=AnnouncementOut)
def submit_announcement(request: Request, ann_id: RowId) -> AnnouncementOut:
    ctx, session = writer(request)
    return AnnouncementOut.of(actions.submit(ctx, session, ctx.store.get_announcement(ann_id)))


@router.post("/announcements/{ann_id}/approve", response_model=AnnouncementOut)
def approve_announcement(
        request: Request, ann_id: RowId,
        seen: Annotated[datetime | None, Query(
            description="the announcement's updated_at as you reviewed it; the approval "
                        "is refused if it changed since")] = None,
        send_now: Annotated[bool, Query(
            description="send as soon as approved: a send time that passed while it "
                        "waited is refused otherwise")] = False) -> AnnouncementOut:
    ctx, session = writer(request)
    return AnnouncementOut.of(actions.approve(ctx, session,
                                              ctx.store.get_announcement(ann_id), seen=seen,
                                              send_now=send_now))


@router.post("/announcements/{ann_id}/return", response_model=AnnouncementOut)
def return_announcement(request: Request, ann_id: RowId,
                        body: Annotated[ReturnIn, Body()]) -> AnnouncementOut:
    ctx, session = writer(request)
    return AnnouncementOut.of(actions.send_back(ctx, session,
                                                ctx.store.get_announcement(ann_id),
                                                body.comment))


@router.post("/announcements/{ann_id}/cancel", response_model=AnnouncementOut)
def cancel_announcement(request: Request, ann_id: RowId) -> AnnouncementOut:
    ctx, session = writer(request)
    return AnnouncementOut.of(actions.cancel(ctx, session, ctx.store.get_announcement(ann_id)))


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
def retry_delivery(request: Request, delivery_id: RowId) -> DeliveryOut:
    ctx, _session = writer(request)
    return DeliveryOut.of(ctx.store.retry_delivery(delivery_id, ctx.now()))


@router.get("/stories", response_model=list[StoryOut])
def list_stories(
        request: Request, response: Response,
        q: Annotated[str | None, Query(description="words in the title or summary")] = None,
        kind: str | None = None, domain: str | None = None, programme: str | None = None,
        source: Annotated[str | None, Query(description="a source (feed) name")] = None,
        tag: Annotated[str | None, Query(description="any tag slug")] = None,
        published_from: Annotated[date | None, Query(
            alias="from", description="published on or after this day")] = None,
        published_to: Annotated[date | None, Query(
            alias="to", description="published on or before this day")] = None,
        state: Annotated[str | None, Query(pattern="^(held|released)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0) -> list[StoryOut]:
    """Stories, newest publication first, filtered as the Stories page filters them; the
    ``X-Total-Count`` header says how many the filter finds in all."""
    ctx, _session = reader(request)
    wanted = read_filter(request.query_params, ctx.herald.settings.config.worker.timezone)
    found = ctx.store.search_stories(wanted, offset=offset, limit=max(1, min(limit, 500)))
    response.headers["X-Total-Count"] = str(found.total)
    ids = [s.id for s in found.stories if s.id is not None]
    sent = ctx.store.deliveries_for(ids)
    reminders = reminders_by_story(ctx.store.list_reminders(story_ids=ids))
    return stories_out(found.stories, sent, _today(ctx), reminders)


@router.get("/stories/{story_id}", response_model=StoryOut)
def get_story(request: Request, story_id: RowId) -> StoryOut:
    ctx, _session = reader(request)
    story = ctx.store.get_story(story_id)
    return StoryOut.of(story, ctx.store.deliveries_for([story_id]).get(story_id, []),
                       _today(ctx), ctx.store.list_reminders(story_ids=[story_id]))


def _today(ctx: WebContext) -> date:
    """The day key dates are measured against (the worker's timezone)."""
    return local_date(ctx.now(), ctx.herald.settings.config.worker.timezone)


class HoldIn(BaseModel):
    hold: bool


@router.post("/stories/{story_id}/hold", response_model=StoryOut)
def hold_story(request: Request, story_id: RowId, body: HoldIn) -> StoryOut:
    ctx, _session = writer(request)
    ctx.store.set_hold(story_id, body.hold, ctx.herald.routing, ctx.now())
    return get_story(request, story_id)


class TagsIn(BaseModel):
    kind: str | None = None
    domains: list[str] = []


@router.put("/stories/{story_id}/tags", response_model=StoryOut)
def set_tags(request: Request, story_id: RowId, body: TagsIn) -> StoryOut:
    ctx, session = writer(request)
    ctx.store.set_story_tags(story_id, kind=body.kind, domains=body.domains,
                             by=session.user.email, ctx=ctx.herald.routing, now=ctx.now())
    return get_story(request, story_id)


# -- metrics --------------------------------------------------------------------------------

metrics_router = APIRouter(include_in_schema=False)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@metrics_router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format. A scraper sends ``Authorization: Bearer`` with the value of
    ``HERALD_METRICS_TOKEN``; a signed-in admin can look too."""
    ctx = ctx_of(request)
    expected = ctx.herald.settings.environ.get("HERALD_METRICS_TOKEN", "")
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not (expected and supplied and hmac.compare_digest(expected, supplied)):
        session = ctx.auth.session(request, ctx.now())
        if session is None:
            raise SignInRequired()
        if not session.user.can("admin"):
            raise Forbidden("metrics are for admins and the metrics token")
    now = ctx.now()
    c = ctx.store.counts(now)
    beat = ctx.store.last_beat()
    collected = ctx.store.last_collected()
    paused = ctx.store.paused_targets()
    lines = [
        "# HELP herald_items_collected Items stored, by source.",
        "# TYPE herald_items_collected gauge",
        *(f'herald_items_collected{{source="{_label(k)}"}} {v}'
          for k, v in sorted(c.items_by_source.items())),
        "# HELP herald_stories Stories (not merged away).",
        "# TYPE herald_stories gauge",
        f"herald_stories {c.stories}",
        "# HELP herald_stories_held Stories comms stopped from being posted.",
        "# TYPE herald_stories_held gauge",
        f"herald_stories_held {c.stories_held}",
        "# HELP herald_deliveries Deliveries by target and status.",
        "# TYPE herald_deliveries gauge",
        *(f'herald_deliveries{{target="{_label(t)}",status="{_label(s)}"}} {n}'
          for (t, s), n in sorted(c.deliveries.items())),
        "# HELP herald_queue_depth Deliveries due now and not yet sent.",
        "# TYPE herald_queue_depth gauge",
        f"herald_queue_depth {c.queue_depth}",
        "# HELP herald_poll_errors Consecutive poll errors, by source.",
        "# TYPE herald_poll_errors gauge",
        *(f'herald_poll_errors{{source="{_label(k)}"}} {v}'
          for k, v in sorted(c.poll_errors_by_source.items())),
        "# HELP herald_sources_failing Sources whose last poll failed.",
        "# TYPE herald_sources_failing gauge",
        f"herald_sources_failing {c.sources_failing}",
        "# HELP herald_worker_heartbeat_age_seconds Seconds since a worker last beat.",
        "# TYPE herald_worker_heartbeat_age_seconds gauge",
        f"herald_worker_heartbeat_age_seconds "
        f"{(now - beat).total_seconds() if beat else 'NaN'}",
        "# HELP herald_collector_cycle_age_seconds Seconds since a worker last finished a "
        "collect cycle.",
        "# TYPE herald_collector_cycle_age_seconds gauge",
        f"herald_collector_cycle_age_seconds "
        f"{(now - collected).total_seconds() if collected else 'NaN'}",
        "# HELP herald_target_paused 1 while a target is paused (it refused Herald's "
        "credentials), else 0.",
        "# TYPE herald_target_paused gauge",
        *(f'herald_target_paused{{target="{_label(t)}"}} {1 if t in paused else 0}'
          for t in sorted({*ctx.herald.targets, *paused})),
    ]
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")


# Edits with an audit trail (issue #15): bot/web/api_edits.py adds its routes here.
from bot.web import api_edits  # noqa: E402

api_edits.register(router)
