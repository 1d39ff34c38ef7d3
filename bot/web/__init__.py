"""The comms web app (``herald serve``): FastAPI, server-rendered Jinja2, no JavaScript.

``create_app(herald)`` builds the app on a configured ``Herald`` (the same store,
taxonomy and channels the worker uses). Staff pages are in ``pages``, the subscriber
pages in ``public``, the JSON API in ``api``; sign-in, CSRF, rate limits and headers in
``security``. The worker (``herald run``) does the sending; this app only writes to the
store, so the two can run as separate processes on one database.
"""

from __future__ import annotations

from bot.web.app import WebContext, create_app

__all__ = ["WebContext", "create_app"]
