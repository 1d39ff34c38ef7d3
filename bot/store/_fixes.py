"""Comms fixes a wrong merge call: merge two stories, or split an item off a story.

A fix is never undone by the next poll: items already stored keep the story they are in
(an entry seen again only updates its item), and matching only places *new* items.

Both keep the release gate's promises (:mod:`bot.release`, DESIGN.md "The release gate"):

- **Never wider.** The merged story may reach a target only if one of the two was approved
  or routed there: two approved lists join; a routed story joining an approved one takes
  the approved list; a new source's unannounced entry (empty list) adds nothing.
- **Never sooner.** Nothing of the merged story goes out, as a first send or as an edit of
  a message already out, before the latest release time either story had: an embargoed
  announcement merged into a story already posted edits that post at its embargo, not now.
- **Never dropped.** Where both had a delivery to a target, the one already out stays and
  the other's send time is kept; a target only the other had moves over with its time.
- **Reconciled.** Where both stories' messages are out in one place, the merged-away one's
  is taken back (``retract``: deleted by the dispatcher where the channel can, recorded as
  ``left`` where it cannot); a digest that went out cannot be taken back and says so.
- **Held stays held.** If comms stopped either story, the merged story is stopped.

A merge returns a :class:`MergeReport` that the CLI prints and the web app shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from bot.errors import StoreError
from bot.model import DeliveryStatus
from bot.release import DIGEST, story_targets, targets_json
from bot.store._common import inserted_id
from bot.store._ingest import IngestMixin, IngestStats, RoutingContext, _lock_ingests, _targets
from bot.store.schema import announcements as t_ann
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import item_urls as t_item_urls
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories

_S = DeliveryStatus
_UNSENT = (_S.PENDING.value, _S.FAILED.value)


def _out(row: Any) -> bool:
    """Its message is out there: it has an id in its target (whatever happened since: an
    edit that failed leaves the row failed, the message still there)."""
    return row.external_id is not None


@dataclass
class MergeReport:
    """What a merge did to what was out and what was waiting."""

    keep_id: int
    other_id: int
    #: Targets whose delivery moved from the other story to the kept one.
    moved: list[str] = field(default_factory=list)
    #: Targets where the other story's message will be taken back (deleted).
    retracting: list[str] = field(default_factory=list)
    #: Targets where the other story's message stays (a digest already sent).
    left: list[str] = field(default_factory=list)
    #: Targets no longer reached: neither story was approved there any more.
    dropped: list[str] = field(default_factory=list)
    #: Nothing of the merged story goes out before this (the later embargo).
    waits_until: datetime | None = None
    held: bool = False
    stats: IngestStats = field(default_factory=IngestStats)

    def lines(self) -> list[str]:
        """The report in words, one line per fact."""
        out = [f"story {self.other_id} merged into story {self.keep_id}; its items are in "
               f"{self.keep_id} now"]
        if self.moved:
            out.append(f"its deliveries to {', '.join(self.moved)} moved to story "
                       f"{self.keep_id}")
        if self.retracting:
            out.append(f"its messages in {', '.join(self.retracting)} will be taken back: "
                       "deleted where the channel can (Slack); where it cannot (Teams, "
                       "files) they stay, and `herald outbox` says so (status left); the "
                       "kept story's message there stays")
        if self.left:
            out.append(f"its messages in {', '.join(self.left)} cannot be taken back and stay")
        if self.dropped:
            out.append(f"not approved for {', '.join(self.dropped)} any more: nothing more "
                       "goes there")
        if self.waits_until is not None:
            out.append(f"nothing of story {self.keep_id} goes out, nor is edited, before "
                       f"{self.waits_until:%Y-%m-%d %H:%M}Z (the later send time)")
        if self.held:
            out.append(f"story {self.keep_id} is stopped: one of the two was stopped")
        return out

    @property
    def notice(self) -> str:
        """The web app's fixed notice for this report (no text from the request)."""
        if self.retracting or self.left:
            return "merged-retract"
        if self.waits_until is not None:
            return "merged-wait"
        return "merged"


def _merged_targets(keep: str | None, other: str | None, reached: dict[int, list[str]],
                    keep_id: int, other_id: int) -> str | None:
    """The merged story's target list: never wider than what either may reach."""
    lists = [t for t in (story_targets(keep), story_targets(other)) if t is not None]
    announced = [t for t in lists if t]  # an empty list: an unannounced old entry
    if not lists:
        return None  # both routed by the rules
    if announced:
        return targets_json([name for t in announced for name in t])
    if len(lists) == 2:
        return targets_json([])  # both unannounced
    # A routed story joined by an unannounced old entry goes where it was routed; the
    # old entry's routes add nothing.
    routed = keep_id if story_targets(keep) is None else other_id
    return targets_json(reached[routed])


def _shows_other(row: Any) -> dict[str, Any]:
    """A message out for the merged-away story shows that story's text, whatever revision
    number it had: recorded at revision 0, the kept story's next edit replaces it."""
    return {"sent_revision": 0} if row.sent_revision is not None else {}


def _later(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


class FixesMixin(IngestMixin):
    """Merge and split, keeping the release gate's promises."""

    def merge_stories(self, keep_id: int, other_id: int, ctx: RoutingContext,
                      now: datetime) -> MergeReport:
        """Move every item of ``other_id`` into ``keep_id``; the other story stops."""
        if keep_id == other_id:
            raise StoreError("a story cannot be merged into itself")
        with self.engine.begin() as conn:
            _lock_ingests(conn)
            return self._merge_into(conn, keep_id, other_id, ctx, now)

    def _merge_into(self, conn: Connection, keep_id: int, other_id: int,
                    ctx: RoutingContext, now: datetime) -> MergeReport:
        """The merge, inside the caller's transaction (which holds the ingest lock)."""
        report = MergeReport(keep_id, other_id)
        keep, other = (self._mergeable(conn, sid) for sid in (keep_id, other_id))
        rows = {sid: {r.target: r for r in conn.execute(select(t_deliveries).where(
            t_deliveries.c.story_id == sid))} for sid in (keep_id, other_id)}
        busy = sorted(t for sid in rows for t, r in rows[sid].items()
                      if r.status == _S.IN_FLIGHT.value and r.lease_until is not None
                      and r.lease_until > now)
        if busy:
            raise StoreError(f"a message to {', '.join(busy)} is being sent right now; "
                             "merge again in a minute")
        targets = _merged_targets(keep.targets, other.targets, {
            sid: sorted(rows[sid]) for sid in (keep_id, other_id)}, keep_id, other_id)
        allowed = story_targets(targets)
        waits = _later(*(r.release_at for sid in rows for r in rows[sid].values()))
        report.waits_until = waits if waits is not None and waits > now else None
        report.held = bool(keep.hold or other.hold)
        for table in (t_items, t_item_urls):
            conn.execute(update(table).where(table.c.story_id == other_id)
                         .values(story_id=keep_id))
        conn.execute(update(t_stories).where(t_stories.c.id == other_id)
                     .values(merged_into=keep_id, hold=True, updated_at=now))
        conn.execute(update(t_stories).where(t_stories.c.id == keep_id)
                     .values(targets=targets, hold=report.held, updated_at=now))
        approved = {sid for sid, row in ((keep_id, keep), (other_id, other))
                    if story_targets(row.targets)}
        for target in sorted(set(rows[keep_id]) | set(rows[other_id])):
            self._merge_target(conn, target, rows[keep_id].get(target),
                               rows[other_id].get(target), allowed, waits, now, report,
                               approved)
        self._recompose(conn, keep_id, False, ctx, now, report.stats, force_revision=True)
        return report

    def _join_same_page(self, conn: Connection, story_id: int, keys: list[str],
                        ctx: RoutingContext, now: datetime) -> list[MergeReport]:
        """Merge into a just-approved announcement's story the live stories already
        collected for the same page (a feed's copy that came first), so the page is one
        story, reaching each place once. A story comms stopped, or one with a send in
        flight, is left as it is."""
        c = t_item_urls.c
        others = sorted(set(conn.execute(select(c.story_id).where(
            c.url.in_(keys), c.story_id != story_id)).scalars()))
        reports = []
        for other in others:
            row = conn.execute(select(t_stories).where(t_stories.c.id == other)).one()
            if row.hold or row.merged_into is not None:
                continue
            try:  # (a refusal comes before the merge writes anything)
                reports.append(self._merge_into(conn, story_id, other, ctx, now))
            except StoreError:
                continue  # a send of it is in flight: it stays its own story
        return reports

    @staticmethod
    def _mergeable(conn: Connection, story_id: int) -> Any:
        row = conn.execute(select(t_stories).where(t_stories.c.id == story_id)).first()
        if row is None:
            raise StoreError(f"no story with id {story_id}")
        if row.merged_into is not None:
            raise StoreError(f"story {story_id} was already merged into {row.merged_into}")
        return row

    @staticmethod
    def _merge_target(conn: Connection, target: str, mine: Any, theirs: Any,
                      allowed: tuple[str, ...] | None, waits: datetime | None,
                      now: datetime, report: MergeReport, approved: set[int]) -> None:
        """Reconcile the two stories' deliveries to one target."""
        c = t_deliveries.c
        if allowed is not None and target not in allowed:
            # Neither may go there any more: what waited is dropped; what is out stays,
            # frozen (the gate refuses its edits), one message per place as everywhere.
            gone = [r.id for r in (mine, theirs) if r is not None and not _out(r)]
            if gone:
                conn.execute(delete(t_deliveries).where(c.id.in_(gone)))
                report.dropped.append(target)
            mine, theirs = (r if r is not None and _out(r) else None
                            for r in (mine, theirs))
            if mine is None and theirs is None:
                return
        if mine is not None and theirs is not None:
            mine_out, theirs_out = (_out(r) for r in (mine, theirs))
            waiting = theirs if mine_out else mine
            if target == DIGEST and mine_out != theirs_out and waiting.story_id in approved:
                # A sent digest cannot be edited: comms' announcement approved for the
                # digest goes into the next one rather than being folded into a past one.
                # The record of the digest that went out stays, on the merged-away story.
                if waiting is theirs:
                    conn.execute(delete(t_deliveries).where(c.id == theirs.id))
                    conn.execute(update(t_deliveries).where(c.id == mine.id).values(
                        story_id=report.other_id))
                    conn.execute(t_deliveries.insert().values(
                        story_id=report.keep_id, target=target, status=theirs.status,
                        attempts=theirs.attempts, next_attempt_at=theirs.next_attempt_at,
                        release_at=theirs.release_at, last_error=theirs.last_error,
                        created_at=theirs.created_at, updated_at=now))
                    report.moved.append(target)
            elif mine_out and theirs_out:
                if target == DIGEST or theirs.external_id is None:
                    why = ("already in a digest that went out; a sent email cannot be taken "
                           "back" if target == DIGEST else
                           f"{target} gave no id for it, so it cannot be found to delete")
                    conn.execute(update(t_deliveries).where(c.id == theirs.id).values(
                        status=_S.LEFT.value, last_error=why, updated_at=now))
                    report.left.append(target)
                else:
                    conn.execute(update(t_deliveries).where(c.id == theirs.id).values(
                        retract=True, next_attempt_at=now, attempts=0, updated_at=now))
                    report.retracting.append(target)
            elif theirs_out or (not mine_out and mine.status == _S.DEAD.value
                                and theirs.status != _S.DEAD.value):
                # Theirs is out (or still alive) and mine is not: theirs is the kept
                # story's delivery there now.
                conn.execute(delete(t_deliveries).where(c.id == mine.id))
                conn.execute(update(t_deliveries).where(c.id == theirs.id).values(
                    story_id=report.keep_id, updated_at=now, **_shows_other(theirs)))
                report.moved.append(target)
            else:
                conn.execute(delete(t_deliveries).where(c.id == theirs.id))
        elif theirs is not None:
            conn.execute(update(t_deliveries).where(c.id == theirs.id).values(
                story_id=report.keep_id, updated_at=now, **_shows_other(theirs)))
            report.moved.append(target)
        if waits is not None:
            # Never sooner: no send or edit of the merged story before the later time.
            conn.execute(update(t_deliveries).where(
                c.story_id == report.keep_id, c.target == target,
                (c.release_at.is_(None)) | (c.release_at < waits)).values(release_at=waits))

    def _drop_unrouted(self, conn: Connection, story_id: int, ctx: RoutingContext) -> None:
        """After a split, what the rules no longer route the story to and has not gone out
        yet is dropped (what went out is kept up to date)."""
        content, items = self._compose_stored(conn, story_id, ctx)
        routed = _targets(content, items, ctx)
        c = t_deliveries.c
        conn.execute(delete(t_deliveries).where(
            c.story_id == story_id, c.status.in_(_UNSENT), c.external_id.is_(None),
            c.target.not_in(routed)))

    @staticmethod
    def _hand_back(conn: Connection, story_id: int, new_id: int, now: datetime,
                   announcements: list[int]) -> None:
        """The messages that went out before comms approved the announcement now in
        ``story_id`` showed the feed's item: they move with it to ``new_id`` (edited to
        its text where the channel can; never posted again). Each approved target left
        without a delivery gets one, released at the announcement's send time."""
        a = t_ann.c
        anns = conn.execute(select(a.approved_at, a.send_at).where(
            a.id.in_(announcements), a.approved_at.is_not(None))).all()
        if not anns:
            return
        approved = min(r.approved_at for r in anns)
        due = max(now, *(r.send_at or r.approved_at for r in anns))
        c = t_deliveries.c
        conn.execute(update(t_deliveries).where(
            c.story_id == story_id, c.external_id.is_not(None), c.sent_at <= approved,
            c.retract.is_(False)).values(story_id=new_id, sent_revision=0, release_at=now,
                                          next_attempt_at=now, updated_at=now))
        targets = story_targets(conn.execute(select(t_stories.c.targets).where(
            t_stories.c.id == story_id)).scalar_one()) or ()
        have = set(conn.execute(select(c.target).where(c.story_id == story_id)).scalars())
        missing = [t for t in targets if t not in have]
        if missing:
            conn.execute(t_deliveries.insert(), [
                {"story_id": story_id, "target": t, "status": _S.PENDING.value,
                 "attempts": 0, "next_attempt_at": due, "release_at": due,
                 "created_at": now, "updated_at": now} for t in missing])

    def split_item(self, story_id: int, item_url: str, ctx: RoutingContext,
                   now: datetime) -> tuple[int, IngestStats]:
        """Move the item with ``item_url`` out of ``story_id`` into a story of its own,
        routed by the rules (and stopped if that story is). Comms' own announcement is
        never split off (edit or cancel the announcement instead); splitting the last feed
        item off an announcement hands the feed's messages back (see ``_hand_back``)."""
        from bot.urls import canonical_url

        stats = IngestStats()
        with self.engine.begin() as conn:
            _lock_ingests(conn)
            story = self._mergeable(conn, story_id)
            rows = conn.execute(select(t_items).where(t_items.c.story_id == story_id)).all()
            if not rows:
                raise StoreError(f"no story with id {story_id}, or it has no items")
            wanted = canonical_url(item_url) or item_url
            match = [r for r in rows if item_url in (r.url, r.canonical_url)
                     or wanted in (r.url, r.canonical_url)]
            if not match:
                raise StoreError(f"story {story_id} has no item at {item_url}")
            if len(rows) == 1:
                raise StoreError(f"story {story_id} has only that item; nothing to split")
            item = match[0]
            if item.source_kind == "queue":
                raise StoreError("that item is comms' own approved announcement: it cannot be "
                                 "split off its story (split the other items off instead, "
                                 "or cancel the announcement)")
            new_id = inserted_id(conn.execute(t_stories.insert().values(
                title=item.title, summary="", url=item.url, kind="news", first_seen=now,
                updated_at=now, revision=1, hold=story.hold,
                targets=story.targets if story_targets(story.targets) == () else None,
            )))
            for table in (t_items, t_item_urls):
                key = table.c.id if table is t_items else table.c.item_id
                conn.execute(update(table).where(key == item.id).values(story_id=new_id))
            rest = [r for r in rows if r.id != item.id]
            if all(r.source_kind == "queue" for r in rest):
                # Undoing a feed story's merge with comms' announcement: the feed's messages
                # go back with it, and the announcement gets its own at its send time.
                self._hand_back(conn, story_id, new_id, now, [
                    int(r.source_item_id.rpartition("-")[2]) for r in rest
                    if r.source_item_id.startswith("announcement-")])
            self._recompose(conn, story_id, False, ctx, now, stats, force_revision=True)
            if story.targets is None:
                self._drop_unrouted(conn, story_id, ctx)
            self._recompose(conn, new_id, True, ctx, now, stats)
        return new_id, stats
