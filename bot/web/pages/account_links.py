"""Pages opened from a link by email (no sign-in): accept an invitation, ask for a password
reset ("Forgot your password?"), and reset the password.

The forms are public: each carries the signed public-form token and must come from this
site (``check_same_origin``), like the sign-in form. "Forgot your password?" answers the
same whether or not the address has an account, and is limited per client address with the
subscribe form's limit (``[web] subscribe_rate``); its emails count against the address's
``mails_per_address``. Opening a link (GET) uses nothing, so a mail scanner that follows it
spends nothing; only the form's post uses the link.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.errors import HeraldError
from bot.store import LinkUnusable
from bot.usecases.accounts import reset_link
from bot.web.app import WebContext, ctx_of
from bot.web.blocking import FormBody
from bot.web.pages._common import _str
from bot.web.pages.accounts import new_password
from bot.web.security import check_public_form, check_same_origin, client_address

router = APIRouter(include_in_schema=False)
PURPOSES = {"invite": "Join Herald", "reset": "Choose a new password"}


def _gone(ctx: WebContext, request: Request) -> Response:
    return ctx.render(request, "public/message.html.j2", status_code=404,
                      title="This link does not work",
                      message="The link is not valid, was already used, or has expired. "
                              "Ask an admin for a new invitation, or use “Forgot your "
                              "password?” on the sign-in page for a new reset link.",
                      link=("/login", "Go to the sign-in page"))


def _form(ctx: WebContext, request: Request, purpose: str, token: str,
          error: str | None = None, status: int = 200) -> Response:
    link = ctx.store.find_link(purpose, token, ctx.now())
    if link is None:
        return _gone(ctx, request)
    return ctx.render(request, "password_link.html.j2", purpose=purpose,
                      title=PURPOSES[purpose], link=link, token=token, error=error,
                      status_code=status)


def _use(ctx: WebContext, request: Request, form: FormBody, purpose: str,
         token: str) -> Response:
    check_same_origin(request)
    check_public_form(ctx.signer, _str(form, "csrf"))
    if ctx.store.find_link(purpose, token, ctx.now()) is None:
        return _gone(ctx, request)
    try:
        hashed = new_password(form, "password", "again")
        use = ctx.store.accept_invitation if purpose == "invite" else ctx.store.use_reset
        user_id = use(token, hashed, ctx.now())
    except LinkUnusable:  # used in another tab meanwhile, or expired
        return _gone(ctx, request)
    except HeraldError as exc:
        return _form(ctx, request, purpose, token, f"{str(exc)[:1].upper()}{str(exc)[1:]}.",
                     422)
    now = ctx.now()
    session = ctx.store.start_session(user_id, now, now + ctx.web.session)
    response = RedirectResponse("/queue?done=password-set", status_code=303)
    ctx.auth.set_cookie(response, session)
    return response


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_page(request: Request, token: str) -> Response:
    return _form(ctx_of(request), request, "invite", token)


@router.post("/invite/{token}", response_class=HTMLResponse)
def invite_accept(request: Request, form: FormBody, token: str) -> Response:
    return _use(ctx_of(request), request, form, "invite", token)


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_page(request: Request, token: str) -> Response:
    return _form(ctx_of(request), request, "reset", token)


@router.post("/reset/{token}", response_class=HTMLResponse)
def reset(request: Request, form: FormBody, token: str) -> Response:
    return _use(ctx_of(request), request, form, "reset", token)


@router.get("/forgot", response_class=HTMLResponse)
def forgot_page(request: Request) -> Response:
    ctx = ctx_of(request)
    return ctx.render(request, "forgot.html.j2", error=None, email="")


@router.post("/forgot", response_class=HTMLResponse)
def forgot(request: Request, form: FormBody) -> Response:
    """Email a reset link to the address, if it is an active account's. The answer is the
    same either way: the page tells no one who has an account."""
    ctx = ctx_of(request)
    check_same_origin(request)
    check_public_form(ctx.signer, _str(form, "csrf"))
    email = _str(form, "email").strip()
    wait = ctx.subscribe_limiter.hit(client_address(request))
    if wait is not None:
        response = ctx.render(request, "forgot.html.j2", email=email, status_code=429,
                              error="Too many requests from here. Wait a minute and try again.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if "@" not in email or len(email) > 320:
        return ctx.render(request, "forgot.html.j2", email=email, status_code=422,
                          error="Type the email address you sign in with.")
    user = ctx.store.find_login_user(email)
    if user is not None and not user.disabled:
        reset_link(ctx.herald, user)
    return ctx.render(request, "public/message.html.j2", title="Check your inbox",
                      message="If there is an active account for that address, we have sent "
                              "it a link to choose a new password. The link works once, for "
                              "a short time.",
                      link=("/login", "Back to the sign-in page"))
