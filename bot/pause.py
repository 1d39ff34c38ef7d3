"""Targets that pause: what happens when a target refuses Herald's credentials.

A :class:`bot.errors.TargetAuthError` (a revoked Slack token, a Teams webhook answering
401, an SMTP login refused) says nothing about the delivery being sent and everything
about the target, so the target pauses (``target_state`` in the database) instead of each
delivery dying on its first try. While it is paused its deliveries wait, ``pending`` with
the reason, and the attempt that met the refusal is not counted: a paused weekend must not
use up their tries. The worker probes a paused target by trying one of its deliveries
again after :data:`PROBE_FIRST`, then after twice as long each time up to
:data:`PROBE_CAP`, and at once when a worker starts (a fixed secret usually comes with a
restart); the first probe that gets through resumes the target. ``herald outbox resume``
does it by hand.

The email target (the digest and the web app's confirmation emails, which share the
digest's mail server) pauses as ``digest``.

:func:`gate` is the one question every sender asks before it sends to a target.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger("herald.pause")

#: The email target's name: the digest's (``bot.release.DIGEST``, not imported here: that
#: module loads the store, and the senders import this one first).
EMAIL = "digest"

PROBE_FIRST = timedelta(minutes=15)
PROBE_CAP = timedelta(hours=1)
#: How long a claimed probe is held before another worker may probe instead (its worker
#: died, or found nothing to send).
PROBE_HOLD = timedelta(minutes=5)


def probe_delay(failed_probes: int) -> timedelta:
    """The wait before the next probe after ``failed_probes`` probes failed (0: the pause)."""
    return min(PROBE_CAP, PROBE_FIRST * (2 ** max(0, failed_probes)))


class Gate(enum.StrEnum):
    OPEN = "open"  # not paused: send
    PROBE = "probe"  # paused, and this run holds the probe: try one
    PAUSED = "paused"  # paused: send nothing


def gate(store: Store, target: str, now: datetime, *, force: bool = False) -> Gate:
    """May this run send to ``target``? ``force``: a person asked (``herald digest send``):
    a paused target is probed whatever the time."""
    state = store.paused_targets().get(target)
    if state is None:
        return Gate.OPEN
    if force or store.claim_probe(target, now, PROBE_HOLD):
        return Gate.PROBE
    return Gate.PAUSED


def refused(store: Store, target: str, reason: str, now: datetime, *, probing: bool) -> datetime:
    """Record that ``target`` refused Herald's credentials; returns when it is probed next."""
    if probing:
        at = store.probe_failed(target, reason, now)
    else:
        at = store.pause_target(target, reason, now)
    log.warning("target %s paused (%s); Herald tries it again at %s, or run "
                "`herald outbox resume %s`", target, reason, f"{at:%Y-%m-%d %H:%M}Z", target)
    return at


def waiting_reason(target: str, reason: str) -> str:
    """What a delivery held by a paused target shows as its last error (``herald outbox``
    says when the target is tried again and how to resume it)."""
    return f"waiting: {target} is paused: {reason}"
