"""Digest subscribers (admins): the list with search, counts per domain and kind, and
CSV export and import (``bot.subscriber_csv``).

An import is checked whole before anything is written: one bad row and nothing changes,
and the page lists every error by row number. Someone who unsubscribed stays
unsubscribed whatever the file says. The people imported become active at once only when
the admin ticks "I have their consent"; otherwise each gets the same confirmation email
as the public subscribe form sends (their choices in its link), and receives nothing until
they confirm.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from bot.store import Subscriber
from bot.subscriber_csv import MAX_BYTES, export_csv, parse_csv, status_of
from bot.web.app import WebContext
from bot.web.blocking import FormBody
from bot.web.pages._common import (
    _str,
    back,
    posted,
    signed_in,
)

router = APIRouter(include_in_schema=False)


def _counts(ctx: WebContext, subs: list[Subscriber]) -> dict[str, Any]:
    """Active subscribers per domain and per kind (someone taking every domain counts
    under each), and how many are in each state."""
    tax = ctx.herald.taxonomy
    active = [s for s in subs if s.active]
    states: dict[str, int] = {}
    for s in subs:
        states[status_of(s)] = states.get(status_of(s), 0) + 1
    return {
        "active": len(active), "states": states,
        "domains": [(d, sum(1 for s in active if s.domains is None or d in s.domains))
                    for d in tax.slugs("domain")],
        "kinds": [(k, sum(1 for s in active if s.kinds is None or k in s.kinds))
                  for k in tax.slugs("kind")],
    }


def _page(ctx: WebContext, request: Request, session: Any, *, status_code: int = 200,
          **extra: Any) -> Response:
    everyone = ctx.store.list_subscribers()
    query = request.query_params.get("q", "").strip()[:320]
    state = request.query_params.get("state", "")
    shown = [s for s in everyone if query.lower() in s.email.lower()
             and (not state or status_of(s) == state)]
    context: dict[str, Any] = {"import_errors": [], "import_report": None}
    context.update(extra)
    return ctx.render(request, "subscribers.html.j2", session=session,
                      subscribers=shown, total=len(everyone), query=query, state=state,
                      counts=_counts(ctx, everyone), status_code=status_code, **context)


@router.get("/subscribers", response_class=HTMLResponse)
def subscribers(request: Request) -> Response:
    ctx, session = signed_in(request, "admin")
    return _page(ctx, request, session)


@router.get("/subscribers.csv")
def subscribers_csv(request: Request) -> Response:
    ctx, _session = signed_in(request, "admin")
    day = ctx.now().date().isoformat()
    return Response(export_csv(ctx.store.list_subscribers()), media_type="text/csv; "
                    "charset=utf-8", headers={
                        "Content-Disposition": f'attachment; filename="subscribers-{day}.csv"',
                        "Cache-Control": "no-store"})


@router.post("/subscribers/import", response_class=HTMLResponse)
def subscribers_import(request: Request, form: FormBody) -> Response:
    ctx, session, form = posted(request, form, "admin")
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(ctx, request, session, status_code=422,
                     import_errors=["choose a CSV file to import"])
    data = upload.file.read(MAX_BYTES + 1)
    tax = ctx.herald.taxonomy
    rows, errors = parse_csv(data, tax.slugs("domain"), tax.slugs("kind"))
    if errors:
        return _page(ctx, request, session, status_code=422, import_errors=errors)
    consent = form.get("consent") == "yes"
    outcome = ctx.store.import_subscribers(rows, ctx.now(), consent=consent)
    from bot.web.public import send_confirmation

    for row in outcome.to_confirm:
        send_confirmation(ctx, row.email, list(row.domains) if row.domains else None,
                          list(row.kinds) if row.kinds else None)
    return _page(ctx, request, session, import_report=outcome, consent=consent)


@router.post("/subscribers/remove")
def subscriber_remove(request: Request, form: FormBody) -> Response:
    ctx, _session, form = posted(request, form, "admin")
    ctx.store.unsubscribe(_str(form, "email"), ctx.now())
    return back("/subscribers", "removed")
