"""Public pages: subscribe (double opt-in), preferences, one-click unsubscribe, health.

Every link a subscriber gets is a signed token (``bot.tokens``): confirmation links expire
(``web.confirm_for``), preference links too (``web.preferences_for``); unsubscribe links do
not, so an old digest's link still works. The unsubscribe POST accepts the RFC 8058 body
``List-Unsubscribe=One-Click`` from mail clients, without sign-in or a form token: the
signed token is the authority. A subscribe request never changes an existing
subscription; what it asks for takes effect only when its link is confirmed. The
confirmation email goes to the ``outmail`` table, which the worker sends (``bot.outmail``),
a few per address a day at most.

A preferences link changes what a subscriber receives, never whether they receive it: a
link issued before its subscriber unsubscribed no longer works (old digests are forwarded
and kept), and saving preferences never re-subscribes anyone. Coming back takes a new
subscribe request and its confirmation.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from bot.config import collector_stale
from bot.digest import PREFERENCES, UNSUBSCRIBE
from bot.errors import StoreError
from bot.store import Subscriber
from bot.store._subscribers import subscriber_address
from bot.tokens import TokenError
from bot.web.app import WebContext, ctx_of
from bot.web.blocking import FormBody
from bot.web.security import check_public_form, check_same_origin, client_address

router = APIRouter(include_in_schema=False)
log = logging.getLogger("herald.web")
CONFIRM = "confirm"



def _domains(ctx: WebContext, chosen: list[str]) -> list[str] | None:
    """The chosen domains, or None (every domain) when all are chosen."""
    known = ctx.herald.taxonomy.slugs("domain")
    picked = [d for d in known if d in chosen]
    if not picked:
        raise StoreError("choose at least one domain")
    return None if len(picked) == len(known) else picked


def _domain_options(ctx: WebContext) -> list[tuple[str, str]]:
    labels = ctx.labels()
    return [(d, labels.get(d, d)) for d in ctx.herald.taxonomy.slugs("domain")]


def _kinds(ctx: WebContext, chosen: list[str]) -> list[str] | None:
    """The chosen kinds, or None (every kind) when all are chosen."""
    known = ctx.herald.taxonomy.slugs("kind")
    picked = [k for k in known if k in chosen]
    if not picked:
        raise StoreError("choose at least one kind of news")
    return None if len(picked) == len(known) else picked


def _kind_options(ctx: WebContext) -> list[tuple[str, str]]:
    labels = ctx.labels()
    return [(k, labels.get(k, k)) for k in ctx.herald.taxonomy.slugs("kind")]


def _token_slugs(value: Any) -> list[str] | None:
    """Domains or kinds as a signed link carries them (None: every one)."""
    return [str(v) for v in value] if isinstance(value, list) and value else None


def send_confirmation(ctx: WebContext, address: str, domains: list[str] | None,
                      kinds: list[str] | None) -> None:
    """Queue the email asking ``address`` to confirm; the link carries their choices,
    which take effect only when it is used."""
    base = ctx.herald.settings.config.digest.base_url
    list_name = ctx.herald.settings.config.digest.list_name
    token = ctx.signer.sign(CONFIRM, {"e": address, "d": domains, "k": kinds})
    text = (f"Please confirm that {address} wants the {list_name} digest.\n\n"
            f"{base}/confirm/{token}\n\nThe link works for "
            f"{ctx.web.confirm_for.days or 1} day(s). If you did not ask for this, ignore "
            "this email: nothing will be sent to you.\n")
    _mail(ctx, address, "subscribe", f"{list_name}: please confirm your subscription", text)


def _check(ctx: WebContext, purpose: str, token: str, max_age: int | None) -> Any:
    try:
        return ctx.signer.check(purpose, token, max_age=max_age)
    except TokenError as exc:
        raise _LinkError(str(exc)) from None


class _LinkError(Exception):
    pass


def _link_error(ctx: WebContext, request: Request, message: str) -> Response:
    return ctx.render(request, "public/message.html.j2", status_code=400,
                      title="This link does not work",
                      message=f"{message[:1].upper()}{message[1:]}. You can subscribe again "
                              "or ask for a new link from the subscribe page.")


def _subscriber_for(ctx: WebContext, payload: Any) -> Subscriber:
    if not isinstance(payload, dict) or "e" not in payload:
        raise _LinkError("this link is not valid")
    try:
        sub = ctx.store.get_subscriber(str(payload["e"]))
    except StoreError:
        raise _LinkError("this subscription no longer exists") from None
    if "s" in payload and payload["s"] != sub.id:
        raise _LinkError("this link is for an earlier subscription")
    return sub


def _mail(ctx: WebContext, to: str, kind: str, subject: str, text: str) -> None:
    """Write one short email to the outbox (``outmail``) for the worker to send: the web
    app never sends. At most ``[web] mails_per_address`` go to one address per
    ``mail_window``; past that the request is answered as usual and nothing is written
    (the page tells no one that the bound was reached)."""
    from bot.outmail import compose_mail

    now = ctx.now()
    message = compose_mail(ctx.herald.settings.config.digest.sender, to, subject, text, now)
    if not ctx.store.queue_mail(kind, to, message, now, limit=ctx.web.mails_per_address,
                                window=ctx.web.mail_window):
        log.info("a confirmation email was not queued: the address had its share today")


# -- subscribe ------------------------------------------------------------------------------

@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(request: Request) -> Response:
    ctx = ctx_of(request)
    return ctx.render(request, "public/subscribe.html.j2", domains=_domain_options(ctx),
                      kinds=_kind_options(ctx), error=None, email="", chosen=[],
                      chosen_kinds=[])


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, form: FormBody) -> Response:
    ctx = ctx_of(request)
    email = str(form.get("email") or "").strip()
    chosen = [str(v) for v in form.getlist("domains")]
    chosen_kinds = [str(v) for v in form.getlist("kinds")]

    def again(message: str, status: int) -> Response:
        return ctx.render(request, "public/subscribe.html.j2", domains=_domain_options(ctx),
                          kinds=_kind_options(ctx), error=message, email=email,
                          chosen=chosen, chosen_kinds=chosen_kinds, status_code=status)

    check_same_origin(request)
    check_public_form(ctx.signer, str(form.get("csrf") or ""))
    wait = ctx.subscribe_limiter.hit(client_address(request))
    if wait is not None:
        response = again("Too many requests from here. Wait a minute and try again.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    try:
        address = subscriber_address(email)
        domains = _domains(ctx, chosen)
        # A form from before kinds were offered sends none: that means every kind.
        kinds = None if "kinds_shown" not in form and not chosen_kinds \
            else _kinds(ctx, chosen_kinds)
    except StoreError as exc:
        return again(str(exc), 422)
    base = ctx.herald.settings.config.digest.base_url
    list_name = ctx.herald.settings.config.digest.list_name
    try:
        existing: Subscriber | None = ctx.store.get_subscriber(address)
    except StoreError:
        existing = None
    if existing is not None and existing.active:
        # Already subscribed: mail them their preferences link; change nothing here.
        token = ctx.signer.sign(PREFERENCES, {"s": existing.id, "e": existing.email})
        text = (f"Someone (perhaps you) asked to subscribe {address} to {list_name}.\n"
                f"You are already subscribed. To change what you receive:\n\n"
                f"{base}/preferences/{token}\n\nIf this was not you, ignore this email.\n")
        subject = f"{list_name}: you are already subscribed"
        _mail(ctx, address, "subscribe", subject, text)
    else:
        if existing is None:
            ctx.store.add_subscriber(address, domains=None, now=ctx.now(), confirmed=False)
        send_confirmation(ctx, address, domains, kinds)
    # The same answer whether or not the address was known: the page tells no one who
    # is subscribed.
    return ctx.render(request, "public/message.html.j2", title="Check your inbox",
                      message=f"We have sent a link to {address}. Open it to confirm.")


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> Response:
    ctx = ctx_of(request)
    try:
        payload = _check(ctx, CONFIRM, token, int(ctx.web.confirm_for.total_seconds()))
    except _LinkError as exc:
        return _link_error(ctx, request, str(exc))
    return ctx.render(request, "public/confirm.html.j2", email=payload.get("e", ""),
                      token=token)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> Response:
    ctx = ctx_of(request)
    check_same_origin(request)
    try:
        payload, issued = ctx.signer.check_issued(
            CONFIRM, token, int(ctx.web.confirm_for.total_seconds()))
        if not isinstance(payload, dict) or "e" not in payload:
            raise TokenError("this link is not valid")
    except TokenError as exc:
        return _link_error(ctx, request, str(exc))
    try:
        known: Subscriber | None = ctx.store.get_subscriber(str(payload["e"]))
    except StoreError:
        known = None
    if known is not None and known.unsubscribed_at and known.unsubscribed_at >= issued:
        return _link_error(ctx, request, "you unsubscribed after this link was sent")
    if known is not None and known.active and known.confirmed_at \
            and known.confirmed_at >= issued:
        return ctx.render(request, "public/message.html.j2", title="You are subscribed",
                          message=f"{known.email} is already subscribed: this link was used "
                                  "before, and changes nothing now.")
    sub = ctx.store.add_subscriber(str(payload["e"]), domains=_token_slugs(payload.get("d")),
                                   kinds=_token_slugs(payload.get("k")), now=ctx.now(),
                                   confirmed=True)
    prefs = ctx.signer.sign(PREFERENCES, {"s": sub.id, "e": sub.email})
    return ctx.render(request, "public/message.html.j2", title="You are subscribed",
                      message="Thank you: the weekly digest will come to "
                              f"{sub.email}.", link=(f"/preferences/{prefs}",
                                                     "Change what you receive"))


# -- preferences ----------------------------------------------------------------------------

def _preferences_subscriber(ctx: WebContext, token: str) -> Subscriber:
    """The subscriber a preferences link is for, unless it was issued before they
    unsubscribed (such a link is for a subscription that has ended)."""
    try:
        payload, issued = ctx.signer.check_issued(
            PREFERENCES, token, int(ctx.web.preferences_for.total_seconds()))
    except TokenError as exc:
        raise _LinkError(str(exc)) from None
    sub = _subscriber_for(ctx, payload)
    # Token times are whole seconds: a link from the very second of the unsubscribe is
    # counted as before it.
    if sub.unsubscribed_at is not None and sub.unsubscribed_at >= issued:
        raise _LinkError("you unsubscribed after this link was sent")
    return sub


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str) -> Response:
    ctx = ctx_of(request)
    try:
        sub = _preferences_subscriber(ctx, token)
    except _LinkError as exc:
        return _link_error(ctx, request, str(exc))
    chosen = list(sub.domains) if sub.domains is not None else \
        ctx.herald.taxonomy.slugs("domain")
    chosen_kinds = list(sub.kinds) if sub.kinds is not None else \
        ctx.herald.taxonomy.slugs("kind")
    return ctx.render(request, "public/preferences.html.j2", sub=sub, token=token,
                      domains=_domain_options(ctx), chosen=chosen, error=None,
                      kinds=_kind_options(ctx), chosen_kinds=chosen_kinds,
                      unsubscribe=ctx.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email}))


@router.post("/preferences/{token}", response_class=HTMLResponse)
def preferences(request: Request, form: FormBody, token: str) -> Response:
    ctx = ctx_of(request)
    try:
        sub = _preferences_subscriber(ctx, token)
    except _LinkError as exc:
        return _link_error(ctx, request, str(exc))
    check_same_origin(request)
    check_public_form(ctx.signer, str(form.get("csrf") or ""))
    chosen = [str(v) for v in form.getlist("domains")]
    chosen_kinds = [str(v) for v in form.getlist("kinds")]
    try:
        domains = _domains(ctx, chosen)
        kinds = None if "kinds_shown" not in form and not chosen_kinds \
            else _kinds(ctx, chosen_kinds)
    except StoreError as exc:
        return ctx.render(request, "public/preferences.html.j2", sub=sub, token=token,
                          domains=_domain_options(ctx), chosen=chosen, error=str(exc),
                          kinds=_kind_options(ctx), chosen_kinds=chosen_kinds,
                          unsubscribe=ctx.signer.sign(UNSUBSCRIBE,
                                                      {"s": sub.id, "e": sub.email}),
                          status_code=422)
    # The domains and kinds only: whether they are subscribed is not this form's to change.
    ctx.store.set_subscriber_choices(sub.id, domains, kinds)
    if not sub.active:
        return ctx.render(request, "public/message.html.j2", title="Preferences saved",
                          message="Your choice is saved, but you are not subscribed: no "
                                  "digest will come until you subscribe again.",
                          link=("/subscribe", "Subscribe again"))
    return ctx.render(request, "public/message.html.j2", title="Preferences saved",
                      message="Your digest will cover the domains and kinds you chose.",
                      link=(f"/preferences/{token}", "Back to your preferences"))


# -- unsubscribe (RFC 8058) -----------------------------------------------------------------

@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> Response:
    ctx = ctx_of(request)
    try:
        sub = _subscriber_for(ctx, _check(ctx, UNSUBSCRIBE, token, None))
    except _LinkError as exc:
        return _link_error(ctx, request, str(exc))
    return ctx.render(request, "public/unsubscribe.html.j2", sub=sub, token=token)


@router.post("/unsubscribe/{token}")
def unsubscribe(request: Request, form: FormBody, token: str) -> Response:
    ctx = ctx_of(request)
    try:
        sub = _subscriber_for(ctx, _check(ctx, UNSUBSCRIBE, token, None))
    except _LinkError as exc:
        return _link_error(ctx, request, str(exc))
    ctx.store.unsubscribe(sub.email, ctx.now())
    if form.get("List-Unsubscribe") == "One-Click":
        return PlainTextResponse("unsubscribed\n")  # a mail client, not a person
    return ctx.render(request, "public/message.html.j2", title="You are unsubscribed",
                      message=f"{sub.email} will get no more digests.")


# -- operations -----------------------------------------------------------------------------

def _health(ctx: WebContext) -> tuple[dict[str, Any], bool]:
    """What /healthz and /readyz say, and whether the worker side is ready (a worker beat
    within ``[web] heartbeat_stale`` and a collect cycle finished within
    ``collector_stale``). Raises when the database does not answer."""
    now = ctx.now()
    ctx.store.ping()
    beat = ctx.store.last_beat()
    collected = ctx.store.last_collected()
    paused = ctx.store.paused_targets()
    heartbeat_stale = ctx.web.heartbeat_stale.total_seconds()
    cycle_stale = collector_stale(ctx.herald.settings.config).total_seconds()
    age = (now - beat).total_seconds() if beat else None
    beating = age is not None and age <= heartbeat_stale
    cycle_age = (now - collected).total_seconds() if collected else None
    stuck = cycle_age is None or cycle_age > cycle_stale
    problems = []
    if age is None:
        problems.append("no worker is beating: none has started (run `herald run`); "
                        "nothing is collected or sent")
    elif not beating:
        problems.append(f"no worker is beating: the last beat was {round(age)} s ago "
                        f"(stale after {round(heartbeat_stale)} s); nothing is collected or "
                        "sent")
    if stuck and beating:
        problems.append("the collector is stuck: no collect cycle finished in "
                        f"{round(cycle_stale)} s")
    problems += [f"target {p.target} is paused: {p.reason}" for p in paused.values()]
    ready = beating and not stuck
    body: dict[str, Any] = {
        "status": "ok" if ready else "degraded", "database": "ok",
        "worker": "beating" if beating else "not beating",
        "worker_heartbeat_age_seconds": round(age, 1) if age is not None else None,
        "collector": "stale" if stuck else "ok",
        "collector_cycle_age_seconds": round(cycle_age, 1) if cycle_age is not None else None,
        "paused_targets": sorted(paused),
        "problems": problems,
    }
    return body, ready


def _database_down(exc: Exception) -> Response:
    log.warning("health check: database unreachable: %s", type(exc).__name__)
    return JSONResponse({"status": "fail", "database": "unreachable",
                         "problems": ["the database does not answer"]}, status_code=503)


@router.get("/healthz")
def healthz(request: Request) -> Response:
    """Liveness: 200 whenever this process and its database answer, with the worker's
    heartbeat, the collector's last finished cycle and the paused targets in the body
    (``"worker": "not beating"`` and a plain sentence in ``problems`` when no worker
    beats); 503 only when the database does not answer. A worker being down is no reason
    to restart the web app: /readyz is for that alert."""
    try:
        body, _ready = _health(ctx_of(request))
    except Exception as exc:
        return _database_down(exc)
    return JSONResponse(body, status_code=200)


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """Readiness of the whole service: the body of /healthz, with 503 when no worker beat
    within ``[web] heartbeat_stale`` or no collect cycle finished within
    ``[web] collector_stale`` (or the database does not answer). Alert on it; do not
    restart the web process on it."""
    try:
        body, ready = _health(ctx_of(request))
    except Exception as exc:
        return _database_down(exc)
    return JSONResponse(body, status_code=200 if ready else 503)
