"""A full disk under var/outbox, for real: a small tmpfs in a private mount namespace
(``tests/fakes/full_disk.py``), filled until the kernel says ENOSPC. The file channel and
the digest's file sender fail those sends with a clear error, nothing is marked sent that
was not written, no half files are left, and once there is room again every send goes
through exactly once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.fakes.full_disk import NoSmallDisk, run_on_small_tmpfs

pytestmark = pytest.mark.slow

NO_SPACE = "No space left on device"


def run_scenario(tmp_path: Path, scenario: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    try:
        result = run_on_small_tmpfs(tmp_path / "outbox", 256, [
            sys.executable, "-m", "tests.fakes.full_disk", scenario, str(tmp_path),
            str(report)], cwd=ROOT)
    except NoSmallDisk as exc:
        pytest.skip(str(exc))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(report.read_text(encoding="utf-8"))


def test_file_channel_on_a_full_disk_marks_only_what_was_written(tmp_path: Path) -> None:
    report = run_scenario(tmp_path, "file-channel")
    full = report["full"]
    # Some deliveries fitted and some did not: both sides of the line are exercised.
    assert full["sent"] >= 1 and full["failed"] >= 1, full
    assert full["sent"] + full["failed"] == 12 and full["dead"] == 0
    by_status: dict[str, list[dict[str, Any]]] = {}
    for d in full["deliveries"]:
        if d["target"] != "digest":  # (those wait for the weekly digest)
            by_status.setdefault(d["status"], []).append(d)
    assert set(by_status) == {"sent", "failed"}
    written = full["contents"]  # file name -> the delivery id inside it
    # Every delivery marked sent has its whole file; no failed one has any file.
    for d in by_status["sent"]:
        name = Path(d["external_id"]).name
        assert written.get(name) == d["id"], (name, written)
    assert sorted(written.values()) == sorted(d["id"] for d in by_status["sent"])
    for d in by_status["failed"]:
        assert NO_SPACE in d["last_error"] and "cannot write" in d["last_error"], d
        assert d["attempts"] == 1 and d["next_attempt_at"], d  # a retry, with a backoff
    assert not [f for f in full["files"] if ".tmp-" in f], full["files"]
    assert any(NO_SPACE in line for line in full["errors"])

    freed = report["freed"]
    assert freed["sent"] == full["failed"] and freed["failed"] == 0
    assert {d["status"] for d in freed["deliveries"] if d["target"] != "digest"} == {"sent"}
    files = [f for f in freed["files"] if f.startswith("files/")]
    assert len(files) == 12 and not [f for f in freed["files"] if ".tmp-" in f]


def test_digest_files_on_a_full_disk_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    report = run_scenario(tmp_path, "digest")
    full = report["full"]
    assert full["failed"] >= 1, full
    stems = {Path(f).stem for f in full["files"] if f.startswith("digest/")}
    for row in full["digests"]:
        stem = (row["message_id"] or "").strip("<>").replace("@", "_at_")
        if row["status"] == "sent":
            assert f"digest/{stem}.eml" in full["files"] and f"digest/{stem}.html" in \
                full["files"]
        else:
            assert row["status"] == "failed" and NO_SPACE in row["last_error"], row
    # No .eml without its .html, and no half-written temporary file.
    assert all(f"digest/{s}.eml" in full["files"] and f"digest/{s}.html" in full["files"]
               for s in stems), full["files"]
    assert not [f for f in full["files"] if ".tmp-" in f], full["files"]

    half = report["half"]  # room for the .eml, not for the .html after it
    assert half["error"] and NO_SPACE in half["error"], half
    assert half["left"] == [], half

    freed = report["freed"]
    assert freed["failed"] == 0 and freed["sent"] == full["failed"]
    assert {r["status"] for r in freed["digests"]} == {"sent"}
    assert len([f for f in freed["files"] if f.endswith(".eml")]) == 8
