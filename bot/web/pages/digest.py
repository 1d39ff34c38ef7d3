"""The digest page (staff): this week's digest as each group of subscribers will get it,
when it goes, a test send to yourself, and the past sends with their counts.

A group is the subscribers who made the same choices (domains and kinds); each is shown
as the email's own HTML in a sandboxed frame (``x-herald-framed``: no scripts, no
navigation), built by the digest job itself (``DigestJob.compose``) from what the release
gate lets this week's digest carry so far, without recording anything. A test send goes
to the signed-in person's own address through the ``outmail`` table the worker sends,
marked ``digest-test`` and "[Test]" in its subject: it makes no ``digests`` row, so it is
never counted as the week's send, and it assigns no story to the period.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.digest import MAIL_POLICY, DigestJob, Period, build_digest, parse_period
from bot.store import Subscriber
from bot.web.app import InvalidInput, WebContext
from bot.web.blocking import FormBody
from bot.web.pages._common import _str, back, posted, signed_in

router = APIRouter(include_in_schema=False)
TEST_KIND = "digest-test"


@dataclass(frozen=True)
class Group:
    """Subscribers with the same choices (None: every domain, every kind)."""

    key: str
    domains: tuple[str, ...] | None
    kinds: tuple[str, ...] | None
    size: int


def _key(domains: tuple[str, ...] | None, kinds: tuple[str, ...] | None) -> str:
    text = json.dumps([sorted(domains) if domains else None, sorted(kinds) if kinds else None])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def subscriber_groups(subs: list[Subscriber]) -> list[Group]:
    """The active subscribers' groups, largest first; one group for "everything" when
    there is no one yet, so the page can still show the digest."""
    sizes: dict[tuple[tuple[str, ...] | None, tuple[str, ...] | None], int] = {}
    for s in subs:
        if s.active:
            sizes[(s.domains, s.kinds)] = sizes.get((s.domains, s.kinds), 0) + 1
    if not sizes:
        sizes[(None, None)] = 0
    return [Group(_key(d, k), d, k, n) for (d, k), n in
            sorted(sizes.items(), key=lambda item: (-item[1], _key(*item[0])))]


def _period(ctx: WebContext) -> Period:
    """The period the next scheduled send will send: the one under way now."""
    cfg = ctx.herald.settings.config.digest
    return parse_period("current", cfg.schedule, cfg.timezone, ctx.now())


def _group(ctx: WebContext, key: str) -> Group:
    for group in subscriber_groups(ctx.store.list_subscribers(active_only=True)):
        if group.key == key:
            return group
    raise InvalidInput(f"no subscriber group {key!r} now: reload the digest page")


def _reader(group: Group, email: str, now: datetime) -> Subscriber:
    """Someone in ``group`` with ``email``; id 0 is no subscriber, so the links in a
    preview or a test email refuse to change anyone's subscription."""
    return Subscriber(0, email, group.domains, "weekly", now, None, now, group.kinds)


@router.get("/digest", response_class=HTMLResponse)
def digest_page(request: Request) -> Response:
    ctx, session = signed_in(request)
    cfg = ctx.herald.settings.config.digest
    period, now = _period(ctx), ctx.now()
    job = DigestJob(ctx.herald)
    pool = job.stories_for(period, now)
    today = now.astimezone(ZoneInfo(cfg.timezone)).date()
    shown = []
    for group in subscriber_groups(ctx.store.list_subscribers(active_only=True)):
        content = build_digest(group.domains, pool, period, today, job.labels,
                               job.domain_order, group.kinds,
                               config=ctx.herald.settings.config)
        shown.append((group, content.story_count if content else 0))
    tests = [m for m in ctx.store.list_outmail(session.user.email) if m.kind == TEST_KIND]
    return ctx.render(request, "digest.html.j2", session=session, period=period,
                      enabled=cfg.enabled,
                      groups=shown, sends=ctx.store.digest_sends(), tests=tests[-5:][::-1],
                      timezone=cfg.timezone)


@router.get("/digest/preview/{key}", response_class=HTMLResponse)
def digest_preview(request: Request, key: str) -> Response:
    ctx, _session = signed_in(request)
    now, period = ctx.now(), _period(ctx)
    job = DigestJob(ctx.herald)
    composed = job.compose(_reader(_group(ctx, key), "reader@example.org", now),
                           job.stories_for(period, now), period, now)
    if composed is None:
        html = ("<p style=\"font-family:sans-serif\">Nothing new for this group so far: "
                "as things stand, they get no email this week.</p>")
    else:
        body = composed[0].get_body(("html",))
        html = body.get_content() if body is not None else ""
    return HTMLResponse(html, headers={"x-herald-framed": "1", "Cache-Control": "no-store"})


@router.post("/digest/test")
def digest_test(request: Request, form: FormBody) -> Response:
    ctx, session, form = posted(request, form)
    now, period = ctx.now(), _period(ctx)
    job = DigestJob(ctx.herald)
    to = session.user.email
    composed = job.compose(_reader(_group(ctx, _str(form, "group")), to, now),
                           job.stories_for(period, now), period, now)
    if composed is None:
        return back("/digest", "test-empty")
    message = composed[0]
    message.replace_header("Subject", f"[Test] {message['Subject']}")
    message.replace_header("Message-ID", make_msgid("herald.digest-test",
                                                    domain=job.list_domain))
    del message["List-Unsubscribe"], message["List-Unsubscribe-Post"]
    text = message.as_string(policy=MAIL_POLICY.clone(linesep="\n", utf8=not to.isascii()))
    if not ctx.store.queue_mail(TEST_KIND, to, text, now, limit=ctx.web.mails_per_address,
                                window=ctx.web.mail_window):
        return back("/digest", "test-limit")
    return back("/digest", "test-queued")
