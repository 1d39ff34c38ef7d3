"""One pure retry decision for deliveries and sources.

``decide(error, attempts, now)`` returns when to try again, or None for never
(the delivery is dead). Exponential backoff from ``base`` doubling per attempt,
capped at ``cap``, with "equal jitter" (half fixed, half random) so that many
failures do not come back in step; a ``RateLimited`` error's ``retry_after`` is
honoured (plus a little jitter); a ``PermanentSendError`` is never retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import PermanentSendError, RateLimited

#: Jitter for back-offs (not a secret: any generator will do).
_JITTER = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 8

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """Delay after the ``attempts``-th failure (1-based), with equal jitter."""
        rng = rng or _JITTER
        exp = self.base.total_seconds() * (2 ** max(0, attempts - 1))
        delay = min(self.cap.total_seconds(), exp)
        return timedelta(seconds=delay / 2 + rng.uniform(0, delay / 2))

    def decide(self, error: BaseException, attempts: int, now: datetime,
               rng: random.Random | None = None) -> datetime | None:
        """When to try again after ``attempts`` tries failed with ``error``; None: give up."""
        if isinstance(error, PermanentSendError) or attempts >= self.max_attempts:
            return None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            jitter = (rng or _JITTER).uniform(0, 1.0)
            return now + timedelta(seconds=max(0.0, error.retry_after) + jitter)
        return now + self.backoff(attempts, rng)
