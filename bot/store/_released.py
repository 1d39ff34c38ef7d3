"""What the digest carries: the stories the release gate lets reach the ``digest`` target.

A story goes to the digest like to any target: routes or comms' approval give it a
``digest`` delivery, released at its send time. The digest of a period carries the
stories whose digest delivery is released by the time the digest is built and whose
release time falls before the period's end; building it records them as sent with that
period (``external_id`` ``period:<key>``), so a retry of the period carries the same
stories, and the next period never carries them again. Once one digest of a period went
out (``digest send --period current`` mid-week), the period's stories are fixed: a story
released later goes to the next period, which every reader gets. A story held, merged away or not
approved for the digest is never in one (see :mod:`bot.release`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Engine

from bot.model import DeliveryStatus
from bot.release import DIGEST, released
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import digests as t_digests
from bot.store.schema import stories as t_stories

_S = DeliveryStatus


def period_id(key: str) -> str:
    """The ``external_id`` of a digest delivery sent with the period ``key``."""
    return f"period:{key}"


class ReleasedMixin:
    engine: Engine

    def digest_stories(self, period_key: str, period_end: datetime, now: datetime, *,
                       assign: bool) -> tuple[list[int], list[int]]:
        """The ids of the stories ``period_key``'s digest carries, and of every story
        released to the digest now (for "Opening soon"). ``assign``: record the first
        list as sent with this period (a run does; a preview does not)."""
        c = t_deliveries.c
        mine = period_id(period_key)
        waiting = and_(c.target == DIGEST, c.status.in_([_S.PENDING.value, _S.FAILED.value]),
                       c.release_at < period_end, released(now))
        with self.engine.begin() as conn:
            # Once a digest of the period went out, its stories are fixed: what is released
            # later waits for the next period (its readers would never see it otherwise).
            begun = conn.execute(select(t_digests.c.id).where(
                t_digests.c.period == period_key,
                t_digests.c.status.in_(["sent", "empty"])).limit(1)).first() is not None
            new = [] if begun else list(conn.execute(select(c.id, c.story_id).where(waiting)))
            if assign and new:
                revision = select(t_stories.c.revision).where(
                    t_stories.c.id == c.story_id).scalar_subquery()
                conn.execute(update(t_deliveries).where(
                    c.id.in_([r.id for r in new]), waiting).values(
                    status=_S.SENT.value, external_id=mine, sent_at=now, updated_at=now,
                    sent_revision=revision, last_error=None, next_attempt_at=None))
            carried = set(conn.execute(select(c.story_id).where(
                c.target == DIGEST, c.status == _S.SENT.value, c.external_id == mine,
                released(now))).scalars())
            carried |= {r.story_id for r in new}
            shown = set(conn.execute(select(c.story_id).where(
                c.target == DIGEST, c.status.in_(
                    [_S.PENDING.value, _S.FAILED.value, _S.SENT.value]),
                released(now))).scalars())
        return sorted(carried), sorted(shown | carried)
