"""What a claim costs as sent deliveries pile up: N sent deliveries at rest, then 20 claims
of 100 pending deliveries, each marked sent, timed (issue #16; DESIGN.md, "Leases").

    python -m bench.claims --db sqlite:////tmp/claims.db --sent 1000,50000

Each size gets a fresh database: a SQLite file is removed first; a PostgreSQL URL must name
a new, empty database (``createdb``) and takes one size a run. Prints seconds per size;
compare sizes measured back to back.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.store import Store
from bot.store.schema import deliveries, stories

PENDING = 2000
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def _seed(store: Store, sent: int) -> None:
    row = {"release_at": WHEN, "created_at": WHEN, "updated_at": WHEN, "target": "slack"}
    with store.engine.begin() as conn:
        conn.execute(insert(stories), [
            {"id": i, "title": f"story {i}", "summary": "", "url": None, "kind": "news",
             "first_seen": WHEN, "updated_at": WHEN, "revision": 1, "hold": False}
            for i in range(1, sent + PENDING + 1)])
        conn.execute(insert(deliveries), [
            {**row, "story_id": i, "status": "sent", "attempts": 1, "next_attempt_at": None,
             "external_id": f"m{i}", "sent_revision": 1, "sent_at": WHEN}
            for i in range(1, sent + 1)] + [
            {**row, "story_id": i, "status": "pending", "attempts": 0, "next_attempt_at": WHEN,
             "external_id": None, "sent_revision": None, "sent_at": None}
            for i in range(sent + 1, sent + PENDING + 1)])


def measure(url: str, sent: int) -> float:
    """Seconds for 20 claims of 100 (each row marked sent) after ``sent`` sends."""
    store = Store.open(url)
    try:
        store.upgrade()
        _seed(store, sent)
        start = time.perf_counter()
        for _ in range(PENDING // 100):
            claims = store.claim_deliveries("bench", WHEN + timedelta(minutes=1),
                                            timedelta(minutes=5), limit=100,
                                            updatable=["slack"])
            for claim in claims:
                store.mark_sent(claim.delivery.id, external_id="x", revision=1, now=WHEN)
        return time.perf_counter() - start
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.claims", description=__doc__)
    parser.add_argument("--db", default="sqlite:////tmp/herald-claims.db")
    parser.add_argument("--sent", default="1000,50000")
    args = parser.parse_args()
    for n, size in enumerate(int(s) for s in args.sent.split(",")):
        url = args.db
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
        elif n:
            parser.error("a PostgreSQL URL takes one size a run (a fresh database each)")
        print(f"{size:>7} sent at rest: {PENDING} claimed and sent in "
              f"{measure(url, size):.2f} s", flush=True)


if __name__ == "__main__":
    main()
