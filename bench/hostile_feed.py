"""The hostile feed of the outside attack, measured: one entry of 100,000 nested ``<div>``s
(in content:encoded, Atom content and JSON Feed content_html).

``python -m bench.hostile_feed`` prints the CPU time of parsing each form (the fast path,
feedparser's path and JSON Feed), then, with ``--sigterm``, starts a real ``herald run``
against a loopback server serving the RSS form (no pool: ``processes = 0``) and prints how
long it takes to exit after SIGTERM sent as soon as the feed was fetched.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

N = 100_000
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def bodies(n: int = N) -> dict[str, bytes]:
    """The hostile entry in each form, with one good RSS entry beside it."""
    html = "<div>" * n + "x" + "</div>" * n
    rss = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content='
           '"http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
           "<link>https://e.org/</link><description>d</description><item><title>Hostile"
           "</title><link>https://e.org/1</link><guid>https://e.org/1</guid><content:encoded>"
           f"{escape(html)}</content:encoded></item><item><title>Good</title>"
           "<link>https://e.org/2</link><guid>https://e.org/2</guid><description>fine"
           "</description></item></channel></rss>")
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>t</title><id>urn:x</id><updated>2026-01-01T00:00:00Z</updated><entry>"
            '<title>Hostile</title><id>urn:1</id><link href="https://e.org/1"/><updated>'
            f'2026-01-01T00:00:00Z</updated><content type="html">{escape(html)}</content>'
            "</entry></feed>")
    jf = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "url": "https://e.org/1", "title": "Hostile", "content_html": html}]})
    return {"rss": rss.encode(), "atom": atom.encode(), "json": jf.encode()}


def cpu(fn: Callable[[], object]) -> float:
    """CPU seconds of one call."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def parse_times() -> None:
    from bot.sources.feed import parse_feed, parse_with_feedparser

    for name, body in bodies().items():
        fast = cpu(lambda b=body: parse_feed(b, source="s", url="https://e.org/f",
                                             collected_at=NOW, notes=[]))
        line = f"{name}: parse_feed {fast:.2f} s CPU"
        if name != "json":
            slow = cpu(lambda b=body: parse_with_feedparser(
                b, source="s", url="https://e.org/f", collected_at=NOW, headers={}, notes=[]))
            line += f", feedparser's path {slow:.2f} s CPU"
        print(line, flush=True)


def sigterm_time() -> None:
    from tests.fakes.feed_server import running_feed_server
    from tests.workers import Worker, wait_for, worker_env, write_config

    with running_feed_server() as server, tempfile.TemporaryDirectory() as tmp:
        url = server.add("/hostile.xml", bodies()["rss"])
        config = write_config(Path(tmp), db_url=f"sqlite:///{tmp}/herald.db",
                              sources={"hostile": url}, targets=[{"name": "f", "type": "file"}],
                              worker={"processes": "0"})
        config.write_text(config.read_text().replace('processes = "0"', "processes = 0"))
        worker = Worker.start(config, worker_env(), Path(tmp) / "worker.log")
        try:
            wait_for(lambda: server.hits("/hostile.xml") >= 1, timeout=60)
            time.sleep(0.5)  # the body is in; the worker is parsing it
            sent = time.monotonic()
            worker.proc.send_signal(signal.SIGTERM)
            code = worker.proc.wait(timeout=600)
            print(f"herald run exited {code} {time.monotonic() - sent:.1f} s after SIGTERM")
            if code:
                print(worker.log[-2000:])
        finally:
            worker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigterm", action="store_true", help="also time a worker's stop")
    args = parser.parse_args()
    parse_times()
    if args.sigterm:
        sigterm_time()


if __name__ == "__main__":
    main()
