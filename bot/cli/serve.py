"""``herald serve``: the comms web app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli._base import (
    ConfigOpt,
    app,
    errors,
    out,
    settings_for,
)


@app.command("serve")
def serve(host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port")] = 8000,
          config: ConfigOpt = None) -> None:
    """Run the web app (queue, stories, feeds, subscribers) with uvicorn."""
    import uvicorn

    from bot.app import Herald
    from bot.web import create_app

    settings = settings_for(config)
    with errors():
        herald = Herald(settings)
        herald.prepare()
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
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
    finally:
        herald.store.close()
