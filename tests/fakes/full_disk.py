"""A real full disk under ``var/outbox``: a small tmpfs, mounted in a private mount
namespace so that nothing outside the test process sees it.

``run_on_small_tmpfs(mountpoint, size_kb, argv)`` runs ``argv`` with a tmpfs of that
size mounted at ``mountpoint``. It uses ``unshare --user --map-root-user --mount``, which
needs no privilege where user namespaces are allowed, and plain ``unshare --mount`` when
run as root; where neither works it raises :class:`NoSmallDisk` with the reason, so the
test can skip saying why. The mount goes away with the process.

Run as a program (``python -m tests.fakes.full_disk SCENARIO TMP REPORT``) it is the part
of a test that runs inside that namespace: it fills the tmpfs, runs Herald against it,
and writes what it saw as JSON to ``REPORT`` (outside the tmpfs).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PAGE = 4096
MOUNT = 'mount -t tmpfs -o "size=$1" tmpfs "$0" && shift && exec "$@"'


class NoSmallDisk(Exception):
    """This machine cannot give the test a small private filesystem."""


def _prefixes() -> list[list[str]]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    prefixes = [[unshare, "--user", "--map-root-user", "--mount"]]
    if os.geteuid() == 0:
        prefixes.append([unshare, "--mount"])
    return prefixes


def run_on_small_tmpfs(mountpoint: Path, size_kb: int, argv: list[str], *,
                       timeout: float = 120, cwd: Path | None = None
                       ) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a ``size_kb`` tmpfs at ``mountpoint`` (created if missing)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    reasons = []
    for prefix in _prefixes():
        probe = subprocess.run([*prefix, "sh", "-c", MOUNT, str(mountpoint), f"{size_kb}k",
                                "true"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return subprocess.run([*prefix, "sh", "-c", MOUNT, str(mountpoint),
                                   f"{size_kb}k", *argv], capture_output=True, text=True,
                                  timeout=timeout, cwd=cwd)
        reasons.append(f"{' '.join(prefix)}: {probe.stderr.strip() or probe.returncode}")
    raise NoSmallDisk("cannot mount a private tmpfs (" + ("; ".join(reasons) or
                                                          "no unshare command") + ")")


def fill(folder: Path, leave_pages: int) -> Path:
    """Fill the filesystem of ``folder`` with one file until ENOSPC, then give back
    ``leave_pages`` pages. Returns the filler (delete it to free the disk)."""
    filler = folder / "filler.bin"
    chunk = b"\0" * (64 * 1024)
    with open(filler, "wb") as fh:
        while True:
            try:
                fh.write(chunk)
                fh.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    # What did fit stays; give back whole pages from the end.
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - size % PAGE - leave_pages * PAGE))
    return filler


# ------------------------------------------------------------------ inside the namespace


def _files(folder: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "filler.bin":
            found[str(path.relative_to(folder))] = path.stat().st_size
    return found


def _deliveries(herald: Any) -> list[dict[str, Any]]:
    return [{"id": d.id, "target": d.target, "status": d.status.value, "external_id": d.external_id,
             "attempts": d.attempts, "last_error": d.last_error,
             "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None}
            for d in herald.store.list_deliveries()]


def _file_channel(tmp: Path) -> dict[str, Any]:
    from bot.app import Herald
    from bot.clock import FixedClock
    from tests.conftest import make_settings
    from tests.workers import rss

    outbox = tmp / "outbox"
    feed = tmp / "news.xml"
    feed.write_bytes(rss("news", range(1, 13)))
    clock = FixedClock(datetime(2026, 8, 20, 9, 0, tzinfo=UTC))
    herald = Herald(make_settings(tmp, {"sources": [{"name": "news", "url": str(feed)}]}),
                    clock=clock)
    report: dict[str, Any] = {}
    try:
        herald.prepare()
        (outbox / "files").mkdir(parents=True, exist_ok=True)
        filler = fill(outbox, leave_pages=3)
        stats = herald.cycle()
        report["full"] = {"sent": stats.dispatch.sent, "failed": stats.dispatch.failed,
                          "dead": stats.dispatch.dead, "errors": stats.dispatch.errors,
                          "deliveries": _deliveries(herald), "files": _files(outbox),
                          "contents": {p.name: json.loads(p.read_text())["delivery_id"]
                                       for p in (outbox / "files").glob("*.json")}}
        filler.unlink()
        clock.advance(hours=2)
        again = herald.dispatch()
        report["freed"] = {"sent": again.sent, "failed": again.failed,
                           "deliveries": _deliveries(herald), "files": _files(outbox)}
    finally:
        herald.close()
    return report


def _digests(herald: Any, period: str) -> list[dict[str, Any]]:
    return [{"id": r.id, "status": r.status, "message_id": r.message_id,
             "last_error": r.last_error} for r in herald.store.list_digests(period)]


def _digest(tmp: Path) -> dict[str, Any]:
    from bot.app import Herald
    from bot.clock import FixedClock
    from bot.digest import DigestJob, period_from_start
    from tests.builders import item
    from tests.conftest import make_settings

    outbox = tmp / "outbox"
    period = period_from_start(date(2026, 8, 17), "mon 08:00", "Europe/London")
    in_period = datetime(2026, 8, 19, 12, 0, tzinfo=UTC)
    sent_at = datetime(2026, 8, 24, 9, 0, tzinfo=UTC)
    settings = make_settings(tmp, {"digest": {"from": "Academy news <news@example.org>",
                                              "base_url": "https://herald.example.org"}},
                             environ={"HERALD_SECRET_KEY": "full-disk-test-key"})
    herald = Herald(settings, clock=FixedClock(sent_at))
    report: dict[str, Any] = {}
    try:
        herald.prepare()
        for n in range(1, 7):
            when = in_period + timedelta(hours=n)
            herald.store.ingest([item(n, text=f"A masterclass on coaching and learning, "
                                               f"number {n}, in Preston.",
                                      published_at=when, collected_at=when)],
                                herald.routing, now=when)
        for n in range(8):
            herald.store.add_subscriber(f"person{n}@example.org", domains=None, now=in_period)
        (outbox / "digest").mkdir(parents=True, exist_ok=True)
        filler = fill(outbox, leave_pages=6)
        stats = DigestJob(herald).run(period, sent_at)
        report["full"] = {"sent": stats.sent, "failed": stats.failed, "errors": stats.errors,
                          "digests": _digests(herald, period.key), "files": _files(outbox)}
        report["half"] = _eml_fits_but_not_html(outbox / "digest", filler)
        filler.unlink()
        later = sent_at + timedelta(hours=7)
        again = DigestJob(herald).run(period, later)
        report["freed"] = {"sent": again.sent, "failed": again.failed,
                           "digests": _digests(herald, period.key), "files": _files(outbox)}
    finally:
        herald.close()
    return report


def _eml_fits_but_not_html(folder: Path, filler: Path) -> dict[str, Any]:
    """Room for a message's .eml but not for its .html after it: the send must fail and
    leave neither file behind."""
    from email.message import EmailMessage

    from channels.email import FileSender

    filler.unlink()
    message = EmailMessage()
    message["Message-ID"] = "<half.written@example.org>"
    message.set_content("plain part")
    message.add_alternative("<p>" + "x" * 40_000 + "</p>", subtype="html")
    eml_pages = -(-len(message.as_bytes()) // PAGE)
    fill(folder.parent, leave_pages=eml_pages)
    try:
        FileSender(folder).send(message)
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {"error": error, "eml_pages": eml_pages,
            "left": sorted(p.name for p in folder.iterdir() if p.name.startswith(("half",
                                                                                ".tmp-")))}


def main(argv: list[str]) -> int:
    scenario, tmp, out = argv[0], Path(argv[1]), Path(argv[2])
    runs = {"file-channel": _file_channel, "digest": _digest}
    out.write_text(json.dumps(runs[scenario](tmp), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
