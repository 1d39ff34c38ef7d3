"""Herald's side of the benchmark, run in a child process: ``python -m bench._herald ARGS``.

ARGS is one JSON object: ``db`` (a database URL), ``feeds`` (the feed URLs), ``origin``
(the feed server), ``slack`` (the fake Slack API's base URL), ``threads``,
``profile`` (a folder for pyinstrument profiles, or null) and ``processes`` (``[worker]
processes``, or null for the default). The phases are those of
``python -m bench``; the dispatch sends every delivery to the loopback Slack fake with
the channel's one-message-a-second pacing turned off (that is Slack's limit, not
Herald's cost).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._phases import Phases, server_counts, set_mode
from bot import bundled
from bot.app import Herald
from bot.collect import CollectStats
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.retry import RetryPolicy


def settings_for(args: dict[str, Any], workdir: Path):  # type: ignore[no-untyped-def]
    threads = int(args["threads"])
    data = {
        "database": {"url": args["db"]},
        "paths": {"taxonomy": str(bundled.taxonomy()),
                  "outbox": str(workdir / "outbox"), "var": str(workdir / "var")},
        "http": {"allow_networks": ["127.0.0.0/8"], "concurrency": threads,
                 "per_host": threads, "timeout": "60s"},
        "digest": {"enabled": False},
        # Every entry is announced, as a live feed's new entries would be: the corpus is
        # dated weeks back, and a new source's first poll otherwise stores its backlog
        # without announcing it (bot.collect, ``announce_backlog``).
        "sources": [{"name": f"feed-{n:05d}", "url": url, "every": "1h",
                     "announce_backlog": True}
                    for n, url in enumerate(args["feeds"])],
        "targets": [{"name": "slack", "type": "slack", "channel": "C0NEWS",
                     "base_url": args["slack"]}],
        "routes": [{"to": ["slack"]}],
    }
    if args.get("processes") is not None:
        data["worker"] = {"processes": int(args["processes"])}
    return parse_config(data, file=workdir / "herald.toml",
                        environ={"SLACK_BOT_TOKEN": "xoxb-good"})


def _collected(stats: CollectStats) -> dict[str, Any]:
    return {"polled": stats.polled, "changed": stats.changed, "unchanged": stats.unchanged,
            "errors": stats.errors, "new_items": stats.ingest.new_items,
            "new_stories": len(stats.ingest.new_stories),
            "deliveries": stats.ingest.deliveries}


def main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    phases = Phases(args.get("profile"), args["system"])
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        herald = Herald(settings_for(args, Path(tmp)))
        herald.prepare(migrate_in_child=True)
        origin = args["origin"]
        try:
            set_mode(origin, conditional=True)
            phases.run("first", lambda: _collected(herald.collect(all_enabled=True)))
            phases.run("304", lambda: _collected(herald.collect(all_enabled=True)))
            phases.results["304"]["server"] = server_counts(origin)
            set_mode(origin, conditional=False)
            phases.run("200-same", lambda: _collected(herald.collect(all_enabled=True)))
            phases.results["200-same"]["server"] = server_counts(origin)
            set_mode(origin, conditional=True)
            w = herald.settings.config.worker
            dispatcher = Dispatcher(herald.store, herald.channels, clock=herald.clock,
                                    policy=RetryPolicy(w.backoff_base, w.backoff_cap,
                                                       w.max_attempts),
                                    owner=herald.owner, lease_seconds=w.lease.total_seconds(),
                                    sleep=lambda _seconds: None)

            def dispatch() -> dict[str, Any]:
                d = dispatcher.run_once(batch=100)
                return {"sent": d.sent, "failed": d.failed, "dead": d.dead}

            if args.get("dispatch", True):
                phases.run("dispatch", dispatch)
        finally:
            herald.close()
    phases.emit()


if __name__ == "__main__":
    main(sys.argv[1:])
