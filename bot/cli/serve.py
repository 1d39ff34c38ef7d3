"""``herald serve``: the comms web app under uvicorn.

uvicorn is told to leave logging alone (``log_config=None``): its records (the server's
start and stop, errors, and one access line per request) reach Herald's handler and come
out in the form ``--log-format`` chose, JSON included (``bot.logs``)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli._base import (
    ConfigOpt,
    app,
    errors,
    out,
    settings_for,
    setup_logging,
)
from bot.cli._show import show_startup


def web_address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@app.command("serve")
def serve(host: Annotated[str, typer.Option(
              "--host", help="Address to listen on (0.0.0.0: every interface, behind an "
                             "https proxy).")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
          config: ConfigOpt = None,
          verbose: Annotated[bool, typer.Option(
              "--verbose", "-v", help="On a terminal, show the server's own lines and one "
                                      "line per request too.")] = False) -> None:
    """Run the web app (queue, stories, feeds, subscribers) with uvicorn."""
    import logging

    import uvicorn

    from bot.app import Herald
    from bot.web import create_app

    setup_logging(verbose, level=logging.INFO)
    settings = settings_for(config)
    with errors():
        herald = Herald(settings)
        herald.prepare(migrate_in_child=True)
        show_startup(herald, "web", web=web_address(host, port))
        app = create_app(herald)
        if not herald.store.count_users():
            from bot.web.setup import setup_link

            shown = "localhost" if host in ("0.0.0.0", "::") else host
            link = setup_link(app.state.ctx.signer, f"http://{shown}:{port}")
            out.print("No staff accounts yet. Open this link (valid for a day) to create the "
                      f"first admin:\n  {link}\n(or run `herald users add EMAIL --role "
                      "admin`)", soft_wrap=True)
    try:
        # X-Forwarded-For/-Proto are believed from the addresses in FORWARDED_ALLOW_IPS
        # (uvicorn's setting; loopback when unset): a proxy on another host must be listed
        # there, or every client looks like the proxy to the sign-in and subscribe limits.
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_config=None,
                    log_level=None)
    finally:
        herald.store.close()
