"""Comms' corrections to collected stories: their tags, and whether they may be posted.

Manual tags are kept in ``story_tags`` with ``manual`` set, and each fix also in
``tag_examples``, the labelled examples ``herald tags train`` learns from. In a group where
comms chose tags, the rules' tags of that group are dropped at every recompose, so a later
poll never undoes the fix. Holding a story keeps it out of every claim; releasing it routes
it again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Row

from bot.errors import StoreError
from bot.model import TagGroup
from bot.pipeline.story import tagged_text
from bot.store._fixes import FixesMixin
from bot.store._ingest import NOT_ANNOUNCED, IngestStats, RoutingContext
from bot.store._overrides import record_edit
from bot.store.schema import stories as t_stories
from bot.store.schema import story_tags as t_tags
from bot.store.schema import tag_examples as t_examples


class EditsMixin(FixesMixin):
    def set_story_tags(self, story_id: int, *, kind: str | None, domains: list[str],
                       by: str, ctx: RoutingContext, now: datetime) -> IngestStats:
        """Set a story's kind, its domains, or both by hand (they win over the tagger from
        now on; a group not given keeps what it had, a person's fix included). Neither
        given: every tag goes back to the tagger. New routes that the tags open are
        queued; what was sent stays sent."""
        known_kinds = ctx.taxonomy.slugs("kind")
        known_domains = ctx.taxonomy.slugs("domain")
        if kind is not None and kind not in known_kinds:
            raise StoreError(f"kind {kind!r} is not one of: {', '.join(known_kinds)}")
        for d in domains:
            if d not in known_domains:
                raise StoreError(f"domain {d!r} is not one of: {', '.join(known_domains)}")
        reason = f"set by {by}"
        rows = [{"story_id": story_id, "grp": TagGroup.DOMAIN.value, "slug": d,
                 "reason": reason, "manual": True, "position": n}
                for n, d in enumerate(dict.fromkeys(domains))]
        if kind is not None:
            rows.append({"story_id": story_id, "grp": TagGroup.KIND.value, "slug": kind,
                         "reason": reason, "manual": True, "position": len(rows)})
        replaced = {r["grp"] for r in rows}
        stats = IngestStats()
        with self.engine.begin() as conn:
            self._story_row(conn, story_id)
            before = conn.execute(select(t_tags.c.grp, t_tags.c.slug, t_tags.c.reason).where(
                t_tags.c.story_id == story_id).order_by(t_tags.c.position)).all()
            # A tag kept as it was keeps its reason: only the tags a person added say
            # "set by" (saving the form must not rewrite why the others were given).
            reasons = {(r.grp, r.slug): r.reason for r in before}
            for r in rows:
                r["reason"] = reasons.get((r["grp"], r["slug"]), r["reason"])
            # The rules' tags go (the recompose puts back those of groups nobody fixed);
            # a person's earlier fix stays in the groups not given now.
            mine = t_tags.c.story_id == story_id
            if rows:
                conn.execute(delete(t_tags).where(
                    mine, t_tags.c.manual.is_(False) | t_tags.c.grp.in_(replaced)))
            else:
                conn.execute(delete(t_tags).where(mine))
            if rows:
                conn.execute(t_tags.insert(), rows)
            self._recompose(conn, story_id, False, ctx, now, stats)
            self._keep_example(conn, story_id, by, now)
            after = conn.execute(select(t_tags.c.grp, t_tags.c.slug).where(
                t_tags.c.story_id == story_id).order_by(t_tags.c.position)).all()
            for grp in (TagGroup.KIND.value, TagGroup.DOMAIN.value):
                old = ", ".join(sorted(r.slug for r in before if r.grp == grp)) or "(none)"
                new = ", ".join(sorted(r.slug for r in after if r.grp == grp)) or "(none)"
                record_edit(conn, story_id, "domains" if grp == "domain" else grp, old, new,
                            by, now)
        return stats

    def _keep_example(self, conn: Connection, story_id: int, by: str,
                      now: datetime) -> None:
        """Keep the story's fixes as one labelled example for ``herald tags train``: the
        text the tagger reads (the lead's title, every item's text) with the kind and the
        domains people chose (None where they left a group to the tagger). One example a
        story, the latest: saving the same fix again adds nothing, and a story with no
        fix left has none."""
        conn.execute(delete(t_examples).where(t_examples.c.story_id == story_id))
        manual = conn.execute(select(t_tags.c.grp, t_tags.c.slug).where(
            t_tags.c.story_id == story_id, t_tags.c.manual.is_(True))
            .order_by(t_tags.c.position)).all()
        kinds = [r.slug for r in manual if r.grp == TagGroup.KIND.value]
        domains = sorted(r.slug for r in manual if r.grp == TagGroup.DOMAIN.value)
        if not (kinds or domains):
            return
        items = self._items_of(conn, story_id)
        if not items:
            return
        lead, _others, text = tagged_text(items)
        conn.execute(t_examples.insert().values(
            story_id=story_id, title=lead.title, text=text, kind=kinds[0] if kinds else None,
            domains=json.dumps(domains) if domains else None, fixed_by=by, fixed_at=now))

    def tag_examples(self) -> list[dict[str, Any]]:
        """Every kept fix, oldest first: ``title``, ``text``, ``kind`` (or None),
        ``domains`` (a list, or None), ``story_id``, ``fixed_by``, ``fixed_at``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t_examples).order_by(t_examples.c.id)).all()
        return [{"id": r.id, "story_id": r.story_id, "title": r.title, "text": r.text,
                 "kind": r.kind, "domains": json.loads(r.domains) if r.domains else None,
                 "fixed_by": r.fixed_by, "fixed_at": r.fixed_at} for r in rows]

    def set_hold(self, story_id: int, hold: bool, ctx: RoutingContext,
                 now: datetime) -> IngestStats:
        """Stop a story from being posted (``hold``), or let it go again."""
        stats = IngestStats()
        with self.engine.begin() as conn:
            self._story_row(conn, story_id)
            conn.execute(update(t_stories).where(t_stories.c.id == story_id)
                         .values(hold=hold, updated_at=now))
            if not hold:
                # A story held when it was composed was never routed: route it now (comms'
                # own announcements keep the targets they were approved for; a new
                # source's old entry stays unannounced: see announce_story).
                self._recompose(conn, story_id, False, ctx, now, stats, reroute=True)
        return stats

    def announce_story(self, story_id: int, ctx: RoutingContext,
                       now: datetime) -> IngestStats:
        """Announce a new source's old entry, which its first poll stored but did not
        announce: route it by the rules from now on."""
        stats = IngestStats()
        with self.engine.begin() as conn:
            row = self._story_row(conn, story_id)
            if row.targets != NOT_ANNOUNCED:
                raise StoreError(f"story {story_id} is not an unannounced old entry")
            conn.execute(update(t_stories).where(t_stories.c.id == story_id)
                         .values(targets=None, updated_at=now))
            self._recompose(conn, story_id, False, ctx, now, stats, reroute=True)
        return stats

    @staticmethod
    def _story_row(conn: Connection, story_id: int) -> Row[Any]:
        row = conn.execute(select(t_stories).where(t_stories.c.id == story_id)).first()
        if row is None:
            raise StoreError(f"no story with id {story_id}")
        if row.merged_into is not None:
            raise StoreError(f"story {story_id} was merged into story {row.merged_into}; "
                             "change that one")
        return row
