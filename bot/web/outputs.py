"""The public outputs: the key-dates calendar and the feeds out, with no sign-in.

- ``/calendar.ics`` and ``/calendar/{domain}.ics``: iCalendar (:mod:`bot.calendar_ics`);
- ``/feed/all.xml``, ``/feed/{domain}.xml``: Atom; ``/feed/all.json``,
  ``/feed/{domain}.json``: JSON Feed 1.1 (:mod:`bot.feeds_out`).

They carry only what the release gate published (:mod:`bot.published`), so they need no
sign-in; a domain the taxonomy does not know is a 404. Every answer has an ``ETag`` (a hash
of the body) and ``Last-Modified`` and may be cached for five minutes by anyone
(``Cache-Control: public``); ``If-None-Match`` (or, without it, ``If-Modified-Since``)
answers 304. Other sites may read them from a script (``Access-Control-Allow-Origin: *``):
there is nothing private in them and no cookie is read. Handlers are plain functions: the
database work runs in the thread pool (:mod:`bot.web.blocking`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from bot import calendar_ics, feeds_out
from bot.published import Entry, Site, entries, site_of
from bot.web.app import WebContext, ctx_of

router = APIRouter(include_in_schema=False)

CALENDAR_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_TYPE = "application/feed+json; charset=utf-8"
CACHE = "public, max-age=300"
ALL = "all"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _fresh(request: Request, etag: str, modified: datetime) -> bool:
    """Does the client's copy still hold (RFC 9110 13.1: If-None-Match wins)?"""
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return modified.replace(microsecond=0) <= when
    return False


def answer(request: Request, body: bytes, media_type: str, modified: datetime,
           now: datetime | None = None) -> Response:
    """The body with its validators, or 304 when the client's copy is fresh.

    ``Last-Modified`` has whole seconds: a change later in the same second as the newest one
    would keep the same value, and a client that sends only ``If-Modified-Since`` would be
    told nothing changed. So it is sent only once it is at least a second old (RFC 9110
    8.8.2.2: then it is a strong validator); the ETag always is."""
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": CACHE, "Access-Control-Allow-Origin": "*"}
    if now is None or now - modified >= timedelta(seconds=1):
        headers["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
    if _fresh(request, etag, modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _latest(ctx: WebContext, modified: datetime) -> datetime:
    """An output's Last-Modified: its newest entry, or a later change of any story (one
    held or merged away since leaves the output without changing what stays in it; a
    client that sends only If-Modified-Since must not be told nothing changed)."""
    changed = ctx.store.stories_changed_at()
    return max(modified, changed) if changed is not None else modified


def _domain(site: Site, slug: str | None) -> str | None:
    """``slug`` when the taxonomy knows it as a domain (None: every domain), else 404."""
    if slug is None or slug in site.domains:
        return slug
    raise HTTPException(status_code=404, detail="No such domain")


def _calendar(request: Request, domain: str | None) -> Response:
    ctx: WebContext = ctx_of(request)
    site = site_of(ctx.herald)
    domain = _domain(site, domain)
    now = ctx.now()
    found = entries(ctx.herald, now, domain=domain, calendar=True)
    events = calendar_ics.events_of(found, site)
    versions = ctx.store.calendar_versions(
        {ev.uid: (ev.story_id, ev.fingerprint()) for ev in events}, now)
    body = calendar_ics.render(events, versions, site, site.title(domain))
    modified = max((v.changed_at for v in versions.values()),
                   default=feeds_out.EMPTY_UPDATED)
    return answer(request, body, CALENDAR_TYPE, _latest(ctx, modified), now)


@router.api_route("/calendar.ics", methods=["GET", "HEAD"])
def calendar_all(request: Request) -> Response:
    """Every published story's key dates."""
    return _calendar(request, None)


@router.api_route("/calendar/{domain}.ics", methods=["GET", "HEAD"])
def calendar_domain(request: Request, domain: str) -> Response:
    """The key dates of the published stories of one domain."""
    return _calendar(request, domain)


Render = Callable[[list[Entry], Site, str, str, str], bytes]


def _atom(found: list[Entry], site: Site, title: str, self_url: str, home: str) -> bytes:
    return feeds_out.atom(found, site, title=title, self_url=self_url, alternate=home)


def _json(found: list[Entry], site: Site, title: str, self_url: str, home: str) -> bytes:
    return feeds_out.json_feed(found, site, title=title, self_url=self_url, home=home)


FORMATS: dict[str, tuple[Render, str]] = {"xml": (_atom, ATOM_TYPE), "json": (_json, JSON_TYPE)}


def _feed(request: Request, slug: str, form: str) -> Response:
    ctx: WebContext = ctx_of(request)
    site = site_of(ctx.herald)
    domain = _domain(site, None if slug == ALL else slug)
    found = entries(ctx.herald, ctx.now(), domain=domain, calendar=False)
    render, media_type = FORMATS[form]
    body = render(found, site, site.title(domain), site.url(f"/feed/{slug}.{form}"),
                  site.url("/subscribe"))
    return answer(request, body, media_type, _latest(ctx, feeds_out.feed_updated(found)),
                  ctx.now())


@router.api_route("/feed/{slug}.xml", methods=["GET", "HEAD"])
def feed_atom(request: Request, slug: str) -> Response:
    """Atom: ``all`` or one domain's published stories, newest first."""
    return _feed(request, slug, "xml")


@router.api_route("/feed/{slug}.json", methods=["GET", "HEAD"])
def feed_json(request: Request, slug: str) -> Response:
    """JSON Feed 1.1: ``all`` or one domain's published stories, newest first."""
    return _feed(request, slug, "json")
