"""What every staff page shares: sign-in and form checks, redirects and form helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from bot.errors import StoreError
from bot.release import DIGEST
from bot.store import Session
from bot.web.app import InvalidInput, WebContext, ctx_of
from bot.web.security import (
    CSRF_HEADER,
    SignInRequired,
    check_csrf,
    require_role,
)


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




def _options(ctx: WebContext) -> dict[str, Any]:
    tax = ctx.herald.taxonomy
    labels = ctx.labels()
    return {"kinds": [(k, labels.get(k, k)) for k in tax.slugs("kind")],
            "domains": [(d, labels.get(d, d)) for d in tax.slugs("domain")],
            "targets": [(name, ch.name) for name, ch in ctx.herald.channels.items()]
            + ([(DIGEST, "weekly digest email")] if DIGEST in ctx.herald.targets else []),
            "approval": ctx.web.approval,
            "timezone": ctx.herald.settings.config.worker.timezone}


def _local_input(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M") if value else ""



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
        # A message of our own names its field ("the send time ..."); pydantic's own get
        # the field's name in front.
        said = [e["msg"].removeprefix("Value error, ") for e in exc.errors()]
        return "; ".join(msg if msg.startswith("the ") else
                         f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {msg}"
                         for e, msg in zip(exc.errors(), said, strict=True))
    return str(exc)

