"""The release gate: the one answer to "may story S reach target T at time t, and as which
revision?".

Every way out asks it: the dispatcher's claims (first sends and edits of sent messages),
the digest (a target named ``digest``), merges and splits, and whatever comes later
(reminders, outbound feeds, calendars). A story reaches a target when

(a) it was routed there by the rules or approved there by comms: a delivery row exists for
    (S, T), and the story's own target list (``stories.targets``, set when comms approve an
    announcement) is empty or names T;
(b) its send time has come: the delivery's ``release_at`` (comms' send time, or a merge's
    embargo) is at or before t;
(c) it is not held by comms and not merged into another story.

It then goes out as the story's current revision. A delivery marked ``retract`` is not a
release: it takes back a merged-away story's message and is never answered "yes" here.

The rule exists twice, once as a function of plain values (:func:`may_reach`) and once as
a SQL condition over ``deliveries`` (:func:`released`), so that a claim can pick due rows in
one statement; ``tests/test_release.py`` checks that the two agree on every combination.
Nothing else in Herald decides this on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, exists, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import reminders as t_reminders
from bot.store.schema import stories as t_stories

#: The weekly digest, as a target: routes and comms' approvals name it like any other.
DIGEST = "digest"


@dataclass(frozen=True)
class StoryGate:
    """What the gate needs to know of a story."""

    revision: int
    hold: bool = False
    merged_into: int | None = None
    targets: tuple[str, ...] | None = None  # None: routed by the rules


@dataclass(frozen=True)
class DeliveryGate:
    """What the gate needs to know of a (story, target) delivery row."""

    target: str
    release_at: datetime | None
    retract: bool = False


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: may it go, as which revision, and if not, why not."""

    allowed: bool
    revision: int | None
    why: str

    def __bool__(self) -> bool:
        return self.allowed


def may_reach(story: StoryGate, delivery: DeliveryGate | None, at: datetime) -> Verdict:
    """May this story reach the delivery's target at ``at``, and as which revision."""
    if delivery is None:
        return Verdict(False, None, "neither routed nor approved there")
    if delivery.retract:
        return Verdict(False, None, "its message there is being taken back")
    if story.merged_into is not None:
        return Verdict(False, None, f"merged into story {story.merged_into}")
    if story.hold:
        return Verdict(False, None, "stopped by comms")
    if story.targets is not None and delivery.target not in story.targets:
        return Verdict(False, None, f"not approved for {delivery.target}")
    if delivery.release_at is not None and delivery.release_at > at:
        return Verdict(False, None, f"not before {delivery.release_at:%Y-%m-%d %H:%M}Z")
    return Verdict(True, story.revision, "released")


def original_out(status: str, external_id: str | None, sent_at: datetime | None) -> bool:
    """Whether a delivery's message is out at its target, for a reminder to follow it: the
    target gave an id and it was sent, whatever came after (an edit that failed leaves the
    row ``failed`` with the message still there), unless it was taken back."""
    return (external_id is not None and sent_at is not None
            and status not in ("retracted", "left"))


def may_remind(story: StoryGate, delivery: DeliveryGate | None, at: datetime, *,
               original_sent: bool, reminders_on: bool = True) -> Verdict:
    """May a reminder of this story go to the delivery's target at ``at`` (issue #17): the
    story may reach it now (:func:`may_reach`), its original post there went out (sent,
    with the message's id), and the story's reminders are on."""
    verdict = may_reach(story, delivery, at)
    if not verdict:
        return verdict
    if not original_sent:
        return Verdict(False, None, "its post there has not gone out")
    if not reminders_on:
        return Verdict(False, None, "its reminders are switched off")
    return verdict


def story_targets(value: str | None) -> tuple[str, ...] | None:
    """``stories.targets`` as stored (JSON list, or NULL) to the gate's form."""
    return tuple(json.loads(value)) if value else None


def targets_json(targets: Sequence[str] | None) -> str | None:
    """The gate's form of a story's target list to ``stories.targets``."""
    return None if targets is None else json.dumps(sorted(set(targets)))


class _position(FunctionElement[int]):
    """Where a string first occurs in another (1-based, 0: nowhere): instr on SQLite,
    strpos on PostgreSQL. LIKE would read "_" in a target's name as a wildcard."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _instr(element: _position, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _strpos(element: _position, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def released(at: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """:func:`may_reach` as a condition on ``deliveries`` rows (their story correlated)."""
    d, s = t_deliveries.c, t_stories.c
    # Target names are plain slugs (config's NAME_PATTERN), so '"name"' inside the JSON list
    # is an exact test of membership.
    quoted = literal('"') + d.target + literal('"')
    story_ok = exists().where(
        s.id == d.story_id, s.hold.is_(False), s.merged_into.is_(None),
        or_(s.targets.is_(None), _position(s.targets, quoted) > 0))
    return and_(d.retract.is_(False), or_(d.release_at.is_(None), d.release_at <= at),
                story_ok)


def reminder_released(at: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """:func:`may_remind` as a condition on ``reminders`` rows: the (story, target)
    delivery was sent (with the message's id) and is :func:`released` now, and the story's
    reminders are on."""
    r, d, s = t_reminders.c, t_deliveries.c, t_stories.c
    original = exists().where(d.story_id == r.story_id, d.target == r.target,
                              d.status.not_in(["retracted", "left"]),
                              d.external_id.is_not(None), d.sent_at.is_not(None),
                              released(at))
    return and_(original, exists().where(s.id == r.story_id, s.reminders.is_(True)))
