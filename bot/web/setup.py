"""First run: create the first admin account in the browser.

While there are no staff accounts, ``herald serve`` prints a one-time setup link (a signed
token, valid for a day); the page it opens creates an admin and signs them in. Once any
account exists the page is gone, so the link is worthless afterwards. This keeps the
promise that comms need no terminal beyond ``herald serve`` and ``herald run``.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.errors import HeraldError
from bot.passwords import hash_password
from bot.tokens import Signer, TokenError
from bot.web.app import WebContext, ctx_of
from bot.web.blocking import FormBody
from bot.web.security import check_same_origin

router = APIRouter(include_in_schema=False)
SETUP = "first-admin"
SETUP_FOR = timedelta(days=1)


def setup_link(signer: Signer, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/setup/{signer.sign(SETUP, 'admin')}"



def _usable(ctx: WebContext, token: str) -> bool:
    if ctx.store.count_users():
        return False
    try:
        ctx.signer.check(SETUP, token, max_age=int(SETUP_FOR.total_seconds()))
    except TokenError:
        return False
    return True


def _gone(ctx: WebContext, request: Request) -> Response:
    return ctx.render(request, "public/message.html.j2", status_code=404,
                      title="Nothing to set up",
                      message="This setup link is not valid, has expired, or an account "
                              "already exists. Sign in, or ask an admin for an account.")


@router.get("/setup/{token}", response_class=HTMLResponse)
def setup_page(request: Request, token: str) -> Response:
    ctx = ctx_of(request)
    if not _usable(ctx, token):
        return _gone(ctx, request)
    return ctx.render(request, "setup.html.j2", token=token, error=None, email="")


@router.post("/setup/{token}")
def setup(request: Request, form: FormBody, token: str) -> Response:
    ctx = ctx_of(request)
    if not _usable(ctx, token):
        return _gone(ctx, request)
    check_same_origin(request)
    email = str(form.get("email") or "")
    password = str(form.get("password") or "")
    try:
        if password != str(form.get("again") or ""):
            raise HeraldError("the two passwords differ")
        user = ctx.store.add_user(email, "admin", hash_password(password), ctx.now())
    except HeraldError as exc:
        return ctx.render(request, "setup.html.j2", token=token, error=str(exc), email=email,
                          status_code=422)
    now = ctx.now()
    session = ctx.store.start_session(user.id, now, now + ctx.web.session)
    response = RedirectResponse("/queue", status_code=303)
    ctx.auth.set_cookie(response, session)
    return response
