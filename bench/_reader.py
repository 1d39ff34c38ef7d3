"""lemon24's reader on the same corpus, in a child process: ``python -m bench._reader ARGS``.

ARGS is the JSON object ``bench._herald`` takes (``db`` is ignored: reader keeps its own
SQLite file in a temporary folder). Each poll is ``update_feeds(scheduled=False,
workers=threads)``: every feed, now, with as many threads as Herald reads with.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from reader import make_reader

from bench._phases import Phases, server_counts, set_mode


def main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    phases = Phases(args.get("profile"), args["system"])
    threads = int(args["threads"])
    with tempfile.TemporaryDirectory(prefix="reader-bench-") as tmp:
        reader = make_reader(str(Path(tmp) / "reader.sqlite"))
        try:
            for url in args["feeds"]:
                reader.add_feed(url)
            origin = args["origin"]

            def update() -> dict[str, Any]:
                reader.update_feeds(scheduled=False, workers=threads)
                counts = reader.get_entry_counts()
                return {"entries": counts.total}

            set_mode(origin, conditional=True)
            phases.run("first", update)
            phases.run("304", update)
            phases.results["304"]["server"] = server_counts(origin)
            set_mode(origin, conditional=False)
            phases.run("200-same", update)
            phases.results["200-same"]["server"] = server_counts(origin)
            set_mode(origin, conditional=True)
        finally:
            reader.close()
    phases.emit()


if __name__ == "__main__":
    main(sys.argv[1:])
