"""A model-based test of Herald's whole lifecycle (issue #12): a seeded random walk of
collects (feed posts, edits, the academy's X posts about announcements), announcements
composed, submitted and approved with targets and a send time, holds and releases, merges
and splits, dispatches with lost answers, dropped connections, 429 storms and killed
workers, digest runs (with SMTP drops and two racing workers), and the clock moving, on
SQLite and PostgreSQL. After every step the invariants of ``tests/lifecycle_oracle.py``
are checked against what the fake Slack, the fake Teams webhook and aiosmtpd received,
and the database.

Longer or other walks: ``HERALD_LIFECYCLE_STEPS=2000 HERALD_LIFECYCLE_SEED=7 pytest
tests/test_lifecycle.py``. ``HERALD_LIFECYCLE_STOP=1`` stops at the first violation.
A failure lists every invariant broken (first occurrence of each), with the step, the
seed, and the walk's log up to that step.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FixedClock
from tests.lifecycle_actions import STEPS, Walk
from tests.lifecycle_oracle import Oracle, Violation
from tests.lifecycle_world import running_world

pytestmark = pytest.mark.slow

#: The walks CI runs: a short one, and a longer one that merges stories both already posted
#: (the retraction path). HERALD_LIFECYCLE_SEED / _STEPS run one walk of your choice.
WALKS = [(12, 160), (3, 400)]
if "HERALD_LIFECYCLE_SEED" in os.environ or "HERALD_LIFECYCLE_STEPS" in os.environ:
    WALKS = [(int(os.environ.get("HERALD_LIFECYCLE_SEED", "12")),
              int(os.environ.get("HERALD_LIFECYCLE_STEPS", "160")))]
STOP_AT_FIRST = os.environ.get("HERALD_LIFECYCLE_STOP", "") not in ("", "0")
LOG_TAIL = 25


def _report(violations: list[Violation], log: list[str], db: str, log_path: Path,
            seed: int, steps: int) -> str:
    log_path.write_text("\n".join([*log, "", *map(str, violations)]) + "\n", encoding="utf-8")
    lines = [f"{len(violations)} invariant violations on {db} (seed {seed}, "
             f"{steps} steps; HERALD_LIFECYCLE_SEED={seed} "
             f"HERALD_LIFECYCLE_STEPS={steps} pytest tests/test_lifecycle.py):"]
    by_invariant: dict[str, list[Violation]] = {}
    for v in violations:
        by_invariant.setdefault(v.invariant, []).append(v)
    for name, found in by_invariant.items():
        lines.append(f"  {name}: {len(found)}, the first ones:")
        lines += [f"    {v}" for v in found[:6]]
    first = violations[0].step
    lines.append(f"the walk up to step {first}:")
    lines += [f"  {line}" for line in log[max(0, first - LOG_TAIL):first + 1]]
    lines.append(f"the whole walk and every violation: {log_path}")
    return "\n".join(lines)


@pytest.mark.parametrize(("seed", "steps"), WALKS, ids=[f"seed{s}-{n}" for s, n in WALKS])
def test_the_whole_lifecycle_keeps_every_promise(tmp_path: Path, db_url: str, seed: int,
                                                  steps: int) -> None:
    db = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    random.seed(seed)  # Herald's own jitter (retry backoff) draws from the global generator
    clock = FixedClock(datetime(2026, 8, 20, 9, 0, tzinfo=UTC))
    rng = random.Random(seed)
    functions = [f for f, _ in STEPS]
    weights = [w for _, w in STEPS]
    log: list[str] = []
    with running_world(tmp_path, db_url, clock) as world:
        oracle = Oracle(world)
        walk = Walk(world, oracle, rng)
        for step in range(steps):
            action = rng.choices(functions, weights)[0]
            world.before_step()
            walk.drained = walk.collected = False
            oracle.step, oracle.action = step, action.__name__
            line = action(walk)
            log.append(f"{step:4d} {clock.now():%a %d %H:%M} {action.__name__}: {line}")
            oracle.check(drained=walk.drained, collected=walk.collected)
            if STOP_AT_FIRST and oracle.violations:
                break
    assert not oracle.violations, _report(oracle.violations, log, db, tmp_path / "walk.log",
                                          seed, steps)
