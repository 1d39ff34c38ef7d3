"""What was published, for the public outputs (the calendar and the feeds out), and the
calendar's event versions.

A story is published when the release gate lets at least one of its deliveries out now
(:func:`bot.release.released`, its SQL form: nothing held, merged away, embargoed or
announced nowhere, and never a story with no delivery at all). Its publication time is
the earliest release among those deliveries (``release_at``, else the row's creation).

``calendar_events`` keeps, per event UID, a fingerprint of what the event shows and its
``SEQUENCE``: a changed fingerprint raises the sequence by one. Web processes answer at
the same time, so the writes are conditional (insert when absent, raise only from another
fingerprint) and a second process doing the same work at once changes nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from bot.release import released
from bot.store.schema import calendar_events as t_events
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from bot.store.schema import story_tags as t_tags


@dataclass(frozen=True)
class EventVersion:
    """A calendar event's ``SEQUENCE`` and when what it shows last changed."""

    sequence: int
    changed_at: datetime


class PublishedMixin:
    engine: Engine

    def published_stories(self, now: datetime, *, domain: str | None = None,
                          since: datetime | None = None, dates_from: date | None = None,
                          limit: int | None = None, via: str | None = None
                          ) -> list[tuple[int, datetime]]:
        """(story id, publication time) of the stories published at ``now``, newest
        publication first. ``domain``: only stories tagged with it. ``since`` and
        ``dates_from`` bound the list: first seen at or after ``since``, or with a key date
        on or after ``dates_from`` (either one; neither: no bound). ``via``: released to
        that target (the digest: the academy's public news); None: released anywhere, and
        routed by the rules (comms' announcements go only where comms approved them)."""
        s, d = t_stories.c, t_deliveries.c
        published = func.min(func.coalesce(d.release_at, d.created_at)).label("published")
        # From the deliveries alone: released() correlates its story itself.
        query = (select(d.story_id.label("id"), published)
                 .where(released(now))
                 .group_by(d.story_id)
                 .order_by(published.desc(), d.story_id.desc()))
        if via is not None:
            query = query.where(d.target == via)
        wanted: list[ColumnElement[bool]] = [] if via is not None else [s.targets.is_(None)]
        if domain is not None:
            wanted.append(exists().where(t_tags.c.story_id == s.id, t_tags.c.grp == "domain",
                                         t_tags.c.slug == domain))
        bounds = []
        if since is not None:
            bounds.append(s.first_seen >= since)
        if dates_from is not None:
            bounds.append(exists().where(t_dates.c.story_id == s.id,
                                         t_dates.c.day >= dates_from))
        if bounds:
            wanted.append(or_(*bounds))
        if wanted:
            query = query.where(d.story_id.in_(select(s.id).where(*wanted)))
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [(r.id, r.published) for r in conn.execute(query)]

    def stories_changed_at(self) -> datetime | None:
        """When any story last changed (held, merged, edited, recomposed): a story that
        leaves an output changes no entry that stays, so an output's Last-Modified takes
        this too (indexed: ``stories.updated_at``)."""
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(
                select(func.max(t_stories.c.updated_at))).scalar()
        return value

    def calendar_versions(self, events: Mapping[str, tuple[int, str]],
                          now: datetime) -> dict[str, EventVersion]:
        """Each event's version: ``events`` maps a UID to (story id, fingerprint of what
        it shows). A UID seen for the first time starts at sequence 0; a changed
        fingerprint raises the sequence by one, with ``now`` as its change time. The
        writes run in one transaction, and only when something changed."""
        c = t_events.c
        uids = sorted(events)
        known = self._versions(uids)
        fresh = [u for u in uids if u not in known]
        moved = [u for u in uids if u in known and known[u][0] != events[u][1]]
        if not fresh and not moved:
            return {u: known[u][1] for u in uids}
        with self.engine.begin() as conn:
            if fresh:
                rows = [{"uid": u, "story_id": events[u][0], "fingerprint": events[u][1],
                         "sequence": 0, "changed_at": now} for u in fresh]
                insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                conn.execute(insert(t_events).on_conflict_do_nothing(
                    index_elements=["uid"]), rows)
            for u in moved:
                # Raised once from any other fingerprint: a second process that saw the
                # same change finds the new fingerprint stored and changes nothing.
                conn.execute(update(t_events).where(
                    and_(c.uid == u, c.fingerprint != events[u][1])).values(
                    fingerprint=events[u][1], sequence=c.sequence + 1, changed_at=now))
        return {u: v for u, (_fp, v) in self._versions(uids).items()}

    def _versions(self, uids: list[str]) -> dict[str, tuple[str, EventVersion]]:
        c = t_events.c
        found: dict[str, tuple[str, EventVersion]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(uids), 500):
                for r in conn.execute(select(c.uid, c.fingerprint, c.sequence, c.changed_at)
                                      .where(c.uid.in_(uids[start:start + 500]))):
                    found[r.uid] = (r.fingerprint, EventVersion(r.sequence, r.changed_at))
        return found
