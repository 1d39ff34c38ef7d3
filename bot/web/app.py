"""The FastAPI application: shared context, templates, error handling and routers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.app import Herald
from bot.errors import HeraldError, StoreError
from bot.send_words import send_words
from bot.store import NotAllowed, Session
from bot.tokens import Signer, secret_key
from bot.web.blocking import Gate
from bot.web.security import (
    CSP,
    Auth,
    Forbidden,
    RateLimiter,
    SecurityHeaders,
    SignInRequired,
    public_form_token,
)

log = logging.getLogger("herald.web")
STATIC = Path(__file__).parent / "static"

#: A row id in a URL. The tables' ids are 32-bit on PostgreSQL (and 64-bit on SQLite), so a
#: larger number is invalid input (422), never a query that fails in the database (500).
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]

# Fixed notices a redirect can ask for (?done=…): no page shows text taken from the URL.
NOTICES = {
    "saved": "Saved.", "submitted": "Submitted for approval.", "approved": "Approved.",
    "returned": "Sent back to the author.",
    "cancelled": "Cancelled: nothing more of it goes out. Unless part of it was sent, "
                 "“Undo” below makes it a draft again.",
    "retry": "Queued to send again.", "tags": "Tags saved.", "held": "Story stopped.",
    "released": "Story released: it will be posted.", "merged": "Stories merged.",
    "announced": "Announced: it goes where the routes send it.",
    "merged-retract": "Stories merged. Both had been posted: the merged-away story's "
                      "messages are being deleted where the channel allows it; where it "
                      "cannot, its deliveries below say so.",
    "merged-wait": "Stories merged. Nothing of this story goes out, nor is edited, before "
                   "the later of the two send times.",
    "split": "Item split into a story of its own.", "feed-added": "Feed added.",
    "paused": "Feed paused.", "resumed": "Feed resumed.", "removed": "Removed.",
    "user-added": "Account added.", "signed-out": "You are signed out.",
    "published": "Published.",
    "feed-saved": "Feed saved.",
    "poll-soon": "The feed is due now: the worker reads it on its next round (within a "
                 "minute with the usual settings). Reload this page to see the result.",
    "restored": "Cancel undone: it is a draft again. Submit it when it is ready.",
    "notify-saved": "Your notification settings are saved.",
}
# Accounts in the browser (bot.web.pages.accounts, account_links).
NOTICES.update({
    "password-changed": "Password changed. Your other sessions are signed out.",
    "password-set": "Password set. You are signed in.",
    "invitation-revoked": "Invitation revoked: its link no longer works.",
    "role-changed": "Role changed. Their sessions are signed out.",
    "disabled": "Account disabled. Its sessions are signed out.",
    "enabled": "Account enabled.",
})
# The digest page (bot.web.pages.digest).
NOTICES.update({
    "test-queued": "Test digest queued: the worker sends it to your address shortly.",
    "test-empty": "Nothing new for that group yet: there is no digest to test.",
    "test-limit": "Not sent: your address has had its share of emails today.",
})


class InvalidInput(HeraldError, ValueError):
    """Input no page can use (a 422 that names what was wrong)."""

    default_message = "invalid input"


@dataclass
class WebContext:
    herald: Herald
    auth: Auth
    signer: Signer
    templates: Environment
    login_limiter: RateLimiter
    subscribe_limiter: RateLimiter
    #: Feed checks fetching at once (``bot.web.blocking``): a few, so slow feed servers
    #: cannot take the thread pool every other request needs.
    feed_checks: Gate = field(default_factory=lambda: Gate(4))

    @property
    def store(self) -> Any:
        return self.herald.store

    def now(self) -> datetime:
        return self.herald.clock.now()

    @property
    def web(self) -> Any:
        return self.herald.settings.config.web

    def labels(self) -> dict[str, str]:
        return {r.slug: r.label for r in self.herald.taxonomy.rules}

    def brand(self) -> dict[str, Any]:
        """``[brand]`` for the pages: the academy's name, logo, privacy notice, colour."""
        from bot.config import brand_name

        config = self.herald.settings.config
        return {"name": brand_name(config), "logo_url": config.brand.logo_url,
                "privacy_url": config.brand.privacy_url, "colour": config.brand.colour}

    def render(self, request: Request, name: str, *, session: Session | None = None,
               status_code: int = 200, **context: Any) -> HTMLResponse:
        template = self.templates.get_template(name)
        done = request.query_params.get("done")
        html = template.render(
            request=request, session=session, user=session.user if session else None,
            csrf=session.csrf if session else public_form_token(self.signer),
            notice=NOTICES.get(done or ""), labels=self.labels(),
            list_name=self.herald.settings.config.digest.list_name,
            brand=self.brand(), **context)
        return HTMLResponse(html, status_code=status_code)


def ctx_of(request: Request) -> WebContext:
    """The app's WebContext (every router reads it from here)."""
    return request.app.state.ctx


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("bot.web", "templates"),
                      autoescape=select_autoescape(enabled_extensions=("html", "j2"),
                                                   default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    from bot.urls import redact_url

    env.filters["redact"] = redact_url  # a feed URL may carry a password or a token
    env.filters["send_words"] = send_words  # a failed send, without class names
    from bot.web.preview import card_text, slack_text

    env.globals.update(slack_text=slack_text, card_text=card_text)
    return env


@pass_context
def _when(context: Context, value: datetime | None, tz: str | None = None) -> Markup | str:
    """``{{ t | when }}``: "in 2 days, Fri 4 Dec 09:00 GMT" in a ``<time>`` element whose
    ``datetime`` is the ISO 8601 instant. "Now" is the app's clock (tests inject one); the
    zone is ``tz``, else ``[worker] timezone``."""
    from datetime import UTC

    from bot.queue import when_text

    if value is None:
        return "—"
    request = context.get("request")
    web = getattr(getattr(getattr(request, "app", None), "state", None), "ctx", None)
    now = web.now() if isinstance(web, WebContext) else datetime.now(UTC)
    zone = tz or (web.herald.settings.config.worker.timezone if isinstance(web, WebContext)
                  else "Europe/London")
    return Markup('<time datetime="{}">{}</time>').format(value.isoformat(),
                                                         when_text(value, now, zone))


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _error_status(exc: HeraldError) -> int:
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, ValueError):  # invalid input (e.g. actions.InvalidDraft)
        return 422
    if isinstance(exc, StoreError) and exc.message.startswith("no "):
        return 404
    return 409


def create_app(herald: Herald) -> FastAPI:
    """The web app for one configured Herald."""
    from bot.web import api, outputs, pages, public, setup

    web = herald.settings.config.web
    signer = Signer(secret_key(herald.settings.environ, herald.var_dir), herald.clock)
    ctx = WebContext(herald=herald,
                     auth=Auth(herald.store, web.secure_cookies, web.session),
                     signer=signer, templates=_templates(),
                     login_limiter=RateLimiter(web.login_rate),
                     subscribe_limiter=RateLimiter(web.subscribe_rate))
    app = FastAPI(title="Herald", version="0.1.0",
                  description="Queue, preview and approve announcements; read stories.",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(public.router)
    app.include_router(outputs.router)
    app.include_router(setup.router)
    app.include_router(api.router)
    app.include_router(api.metrics_router)
    app.include_router(pages.router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_schema(request: Request) -> JSONResponse:
        """The API's schema, for signed-in staff (only subscriber pages and the health check
        are open to everyone)."""
        if ctx.auth.session(request, ctx.now()) is None:
            raise SignInRequired()
        return JSONResponse(app.openapi())

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        target = request.url.path
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    # Handlers that look up the session (the database) are plain functions: Starlette runs
    # them in the thread pool, off the event loop (bot.web.blocking).
    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"error": exc.message}, status_code=403)
        return ctx.render(request, "error.html.j2", session=ctx.auth.session(request, ctx.now()),
                          status_code=403, title="Not allowed", message=exc.message)

    @app.exception_handler(HeraldError)
    def _herald_error(request: Request, exc: HeraldError) -> Response:
        status = _error_status(exc)
        if _is_api(request):
            return JSONResponse({"error": str(exc)}, status_code=status)
        return ctx.render(request, "error.html.j2", session=ctx.auth.session(request, ctx.now()),
                          status_code=status, title="That did not work", message=str(exc))

    @app.exception_handler(ValidationError)
    def _invalid(request: Request, exc: ValidationError) -> Response:
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
                            for e in exc.errors())
        if _is_api(request):
            return JSONResponse({"error": message}, status_code=422)
        return ctx.render(request, "error.html.j2", session=ctx.auth.session(request, ctx.now()),
                          status_code=422, title="Please check the form", message=message)

    @app.exception_handler(RequestValidationError)
    def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                            for e in exc.errors())
        if _is_api(request):
            return JSONResponse({"error": message or "invalid request"}, status_code=422)
        return ctx.render(request, "error.html.j2", session=ctx.auth.session(request, ctx.now()),
                          status_code=422, title="That address is not valid",
                          message="There is no page here: " + (message or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if _is_api(request) or exc.status_code == 405:
            return JSONResponse({"error": detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        message = "There is no page here." if exc.status_code == 404 else detail
        return ctx.render(request, "error.html.j2", session=ctx.auth.session(request, ctx.now()),
                          status_code=exc.status_code, title=detail, message=message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        # This answer leaves from outside the middleware: give it the headers itself.
        headers = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
                   "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "no-store"}
        if _is_api(request):
            return JSONResponse({"error": "internal error; the server log has details"},
                                status_code=500, headers=headers)
        return HTMLResponse("<h1>Something went wrong</h1><p>The server log has details.</p>",
                            status_code=500, headers=headers)

    return app
