"""Accounts in the browser: one's own account page (password), and for admins the Accounts
page (invite by link, roles, disabling, reset links, invitations).

Every change of role, state or password ends the account's sessions (``Store.set_user``);
changing one's own password starts a fresh session for this browser, so only the others
end. The store refuses to demote or disable the last active admin (``LastAdmin``), and the
page says so.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.errors import HeraldError, StoreError
from bot.passwords import hash_password, verify_password
from bot.store import ROLES, Session, User
from bot.usecases.accounts import MadeLink, invite, reset_link
from bot.web.app import RowId, WebContext
from bot.web.blocking import FormBody
from bot.web.pages._common import _str, back, posted, signed_in

router = APIRouter(include_in_schema=False)


def new_password(form: Any, first: str = "new", again: str = "again") -> str:
    """The hash of the password typed twice (the CLI's rules: ``bot.passwords``)."""
    password = _str(form, first)
    if password != _str(form, again):
        raise HeraldError("the two new passwords differ")
    return hash_password(password)


# -- one's own account ----------------------------------------------------------------------

def _account(ctx: WebContext, request: Request, session: Session, error: str | None = None,
             status: int = 200) -> Response:
    return ctx.render(request, "account.html.j2", session=session, error=error,
                      status_code=status)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    ctx, session = signed_in(request)
    return _account(ctx, request, session)


@router.post("/account/password")
def own_password(request: Request, form: FormBody) -> Response:
    """Change one's own password: the current one is asked for again, the new one twice.
    Every other session of the account ends; this browser gets a fresh one."""
    ctx, session, form = posted(request, form)
    if not verify_password(session.user.password_hash, _str(form, "current")):
        return _account(ctx, request, session, "The current password is wrong.", 403)
    try:
        hashed = new_password(form)
    except HeraldError as exc:
        return _account(ctx, request, session, f"{str(exc)[:1].upper()}{str(exc)[1:]}.", 422)
    user = ctx.store.set_user(session.user.email, password_hash=hashed)  # ends every session
    now = ctx.now()
    token = ctx.store.start_session(user.id, now, now + ctx.web.session)
    response = RedirectResponse("/account?done=password-changed", status_code=303)
    ctx.auth.set_cookie(response, token)
    return response


# -- the Accounts page (admins) -------------------------------------------------------------

def _users(ctx: WebContext, request: Request, session: Session, *, error: str | None = None,
           made: MadeLink | None = None, made_what: str = "", status: int = 200) -> Response:
    return ctx.render(request, "users.html.j2", session=session, users=ctx.store.list_users(),
                      invitations=ctx.store.list_invitations(), roles=ROLES, now=ctx.now(),
                      error=error, made=made, made_what=made_what, status_code=status)


def _user(ctx: WebContext, user_id: int) -> User:
    user = ctx.store.get_user_by_id(user_id)
    if user is None:
        raise StoreError(f"no account {user_id}")
    return user


@router.get("/users", response_class=HTMLResponse)
def users(request: Request) -> Response:
    ctx, session = signed_in(request, "admin")
    return _users(ctx, request, session)


@router.post("/users")
def user_add(request: Request, form: FormBody) -> Response:
    """Add an account with a first password (inviting by link is the usual way)."""
    ctx, _session, form = posted(request, form, "admin")
    ctx.store.add_user(_str(form, "email"), _str(form, "role"),
                       hash_password(_str(form, "password")), ctx.now())
    return back("/users", "user-added")


@router.post("/users/invite", response_class=HTMLResponse)
def user_invite(request: Request, form: FormBody) -> Response:
    """Invite by link: the link is shown here to copy, and emailed."""
    ctx, session, form = posted(request, form, "admin")
    try:
        made = invite(ctx.herald, _str(form, "email"), _str(form, "role"), by=session.user)
    except HeraldError as exc:
        return _users(ctx, request, session, error=str(exc), status=422)
    return _users(ctx, request, session, made=made, made_what="invitation")


@router.post("/users/invitations/{link_id}/resend", response_class=HTMLResponse)
def invitation_resend(request: Request, form: FormBody, link_id: RowId) -> Response:
    """A new link for an open invitation (the old link stops working), emailed again."""
    ctx, session, form = posted(request, form, "admin")
    old = ctx.store.get_invitation(link_id)
    try:
        made = invite(ctx.herald, old.email, old.role or "editor", by=session.user)
    except HeraldError as exc:
        return _users(ctx, request, session, error=str(exc), status=409)
    return _users(ctx, request, session, made=made, made_what="invitation")


@router.post("/users/invitations/{link_id}/revoke")
def invitation_revoke(request: Request, form: FormBody, link_id: RowId) -> Response:
    ctx, _session, form = posted(request, form, "admin")
    ctx.store.revoke_invitation(link_id)
    return back("/users", "invitation-revoked")


@router.post("/users/{user_id}/role", response_class=HTMLResponse)
def user_role(request: Request, form: FormBody, user_id: RowId) -> Response:
    ctx, session, form = posted(request, form, "admin")
    user = _user(ctx, user_id)
    try:
        ctx.store.set_user(user.email, role=_str(form, "role"))
    except HeraldError as exc:
        return _users(ctx, request, session, error=str(exc), status=409)
    return _after_change(ctx, session, user, "role-changed")


@router.post("/users/{user_id}/state", response_class=HTMLResponse)
def user_state(request: Request, form: FormBody, user_id: RowId) -> Response:
    """Disable (its sessions end) or enable an account."""
    ctx, session, form = posted(request, form, "admin")
    user = _user(ctx, user_id)
    disable = _str(form, "disabled") == "1"
    try:
        ctx.store.set_user(user.email, disabled=disable)
    except HeraldError as exc:
        return _users(ctx, request, session, error=str(exc), status=409)
    return _after_change(ctx, session, user, "disabled" if disable else "enabled")


def _after_change(ctx: WebContext, session: Session, user: User, done: str) -> Response:
    if user.id == session.user.id:  # one's own sessions ended too: sign in again
        response = RedirectResponse("/login?done=signed-out", status_code=303)
        ctx.auth.clear_cookie(response)
        return response
    return back("/users", done)


@router.post("/users/{user_id}/reset-link", response_class=HTMLResponse)
def user_reset_link(request: Request, form: FormBody, user_id: RowId) -> Response:
    """A password-reset link for an account, shown here to pass on (not emailed)."""
    ctx, session, form = posted(request, form, "admin")
    user = _user(ctx, user_id)
    if user.disabled:
        return _users(ctx, request, session, status=409,
                      error=f"{user.email} is disabled: enable the account first")
    made = reset_link(ctx.herald, user, by=session.user, mail=False)
    return _users(ctx, request, session, made=made, made_what="reset link")
