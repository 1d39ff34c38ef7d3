"""Parse-and-prepare throughput: in this process, and through the prepare pool.

    python -m bench.pool_throughput --feeds 60 --entries 50 --processes 2

What a collection's children do (``bot.pipeline.prepare.parse_and_prepare``: parse a feed,
then each entry's keys, merge features, index terms and one-item story) for every feed of
the benchmark corpus, first in this process, then in a pool of ``--processes`` children fed
by four threads (as the collector's reading threads feed it). Prints entries a second of
each and the load average: on a machine busy with other work the pool has no idle core to
use.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from bench.corpus import generate
from bot import bundled
from bot.pipeline.pool import PreparePool
from bot.pipeline.prepare import TaxonomySpec, bundled_weights, parse_and_prepare


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pool_throughput",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=60)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(list(argv) if argv is not None else None)
    feeds = generate(args.feeds, args.entries)
    spec = TaxonomySpec.of(bundled.taxonomy(), bundled_weights())
    now = datetime.now(UTC)
    count = args.feeds * args.entries
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")

    def here(body: bytes) -> int:
        return len(parse_and_prepare(body, spec, merge=True, source="s", url="http://x/",
                                     collected_at=now, content_type=None, headers={})[1])

    here(feeds[0].body)  # the taxonomy read once, as a running worker has it
    started = time.perf_counter()
    assert sum(here(f.body) for f in feeds) == count
    alone = time.perf_counter() - started
    print(f"in process      {alone:7.2f} s  {count / alone:7.0f} entries/s")

    pool = PreparePool(args.processes, spec, merge=True)
    try:
        def there(body: bytes) -> int:
            return len(pool.parse(body, source="s", url="http://x/", collected_at=now,
                                  content_type=None, headers={})[1])

        with ThreadPoolExecutor(max(4, args.processes)) as threads:
            list(threads.map(there, [feeds[0].body] * args.processes))  # children started
            started = time.perf_counter()
            assert sum(threads.map(there, [f.body for f in feeds])) == count
        pooled = time.perf_counter() - started
    finally:
        pool.close()
    print(f"pool of {args.processes:<7} {pooled:7.2f} s  {count / pooled:7.0f} entries/s  "
          f"({alone / pooled:.2f}x)")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
