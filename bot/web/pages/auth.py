"""Sign-in and sign-out (accounts: ``accounts``; links by email: ``account_links``)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.durations import format_duration
from bot.passwords import verify_password
from bot.web.app import ctx_of
from bot.web.blocking import FormBody
from bot.web.pages._common import (
    _safe_next,
    _str,
    posted,
    signed_in,
)
from bot.web.security import (
    client_address,
    login_delay,
)

router = APIRouter(include_in_schema=False)



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
