"""Queued announcements: drafts, approval, and the hand-over to the outbox.

Statuses: ``draft`` → ``submitted`` → ``approved`` (or ``returned`` with a comment, then
edited and submitted again); ``cancelled`` at any point before everything went out, and
back to ``draft`` (``restore_announcement``, the undo) if nothing of it had been sent.
Approval writes, in the same transaction, the story (with comms' tags, marked manual)
and one pending delivery per chosen target, due at the send time: from there the
dispatcher treats it like any collected story. Until a delivery is on its way, the
announcement can be edited (it goes back to draft, its story is withdrawn) or cancelled.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from bot.errors import HeraldError, StoreError
from bot.model import Delivery, DeliveryStatus, Story
from bot.pipeline.normalize import url_keys
from bot.queue import Draft
from bot.release import targets_json
from bot.store._common import date_row, inserted_id, links_to_json, row_to_delivery
from bot.store._fixes import FixesMixin
from bot.store._ingest import RoutingContext, _lock_ingests, file_item
from bot.store.schema import announcements as t_ann
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import item_urls as t_item_urls
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from bot.store.schema import story_dates as t_dates
from bot.store.schema import story_tags as t_tags
from bot.store.schema import users as t_users
from bot.text import fingerprint

_S = DeliveryStatus
EDITABLE = ("draft", "returned", "submitted", "approved")


class NotAllowed(HeraldError):
    """The user may not do this (role, or the four-eyes rule)."""

    default_message = "not allowed"


@dataclass(frozen=True)
class Announcement:
    id: int
    draft: Draft
    status: str
    author_id: int | None
    author: str | None
    approver_id: int | None
    approver: str | None
    comment: str | None
    story_id: int | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    send_at: datetime | None
    deliveries: tuple[Delivery, ...] = ()

    @property
    def state(self) -> str:
        """What the lists show: the status, or for an approved one how its sends went."""
        if self.status != "approved" or not self.deliveries:
            return self.status
        # A post comms deleted after it went out (issue #15) still counts as sent.
        statuses = {d.status for d in self.deliveries} - {_S.RETRACTED, _S.LEFT} or {_S.SENT}
        if statuses <= {_S.SENT}:
            return "sent"
        if statuses & {_S.DEAD, _S.FAILED}:
            return "failed"
        if _S.SENT in statuses or _S.IN_FLIGHT in statuses:
            return "sending"
        return "scheduled"

    @property
    def started(self) -> bool:
        """True once any delivery is sent or on its way: then it can no longer be edited."""
        return any(d.status in (_S.SENT, _S.IN_FLIGHT) for d in self.deliveries)


def _draft_values(draft: Draft, timezone: str) -> dict[str, Any]:
    return {"title": draft.title, "body": draft.body, "url": draft.url,
            "image_url": draft.image_url, "kind": draft.kind,
            "domains": json.dumps(draft.domains), "targets": json.dumps(draft.targets),
            "send_at": draft.send_at_utc(timezone)}


class QueueMixin(FixesMixin):
    engine: Engine

    def create_announcement(self, draft: Draft, author_id: int, now: datetime,
                            timezone: str = "Europe/London") -> Announcement:
        with self.engine.begin() as conn:
            new_id = inserted_id(conn.execute(t_ann.insert().values(
                status="draft", author_id=author_id, created_at=now, updated_at=now,
                **_draft_values(draft, timezone))))
        return self.get_announcement(int(new_id))

    def list_announcements(self, ids: list[int] | None = None) -> list[Announcement]:
        author = t_users.alias("author")
        approver = t_users.alias("approver")
        query = select(t_ann, author.c.email.label("author_email"),
                       approver.c.email.label("approver_email"))\
            .outerjoin(author, author.c.id == t_ann.c.author_id)\
            .outerjoin(approver, approver.c.id == t_ann.c.approver_id)\
            .order_by(t_ann.c.id.desc())
        if ids is not None:
            query = query.where(t_ann.c.id.in_(ids))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            story_ids = [r["story_id"] for r in rows if r["story_id"] is not None]
            sent: dict[int, list[Delivery]] = defaultdict(list)
            if story_ids:
                for d in conn.execute(select(t_deliveries).where(
                        t_deliveries.c.story_id.in_(story_ids))
                        .order_by(t_deliveries.c.target)):
                    sent[d.story_id].append(row_to_delivery(d))
        return [_announcement(r, tuple(sent.get(r["story_id"], ()))) for r in rows]

    def get_announcement(self, announcement_id: int) -> Announcement:
        found = self.list_announcements([announcement_id])
        if not found:
            raise StoreError(f"no announcement with id {announcement_id}")
        return found[0]

    def update_announcement(self, announcement_id: int, draft: Draft, now: datetime,
                            timezone: str = "Europe/London") -> Announcement:
        """Change an announcement not yet on its way. It goes back to draft: a submitted one
        must be submitted again, an approved one is withdrawn (its story and pending
        deliveries) and needs approving again, so no one approves text they did not see."""
        with self.engine.begin() as conn:
            row = self._lock(conn, announcement_id)
            if row.status not in EDITABLE:
                raise StoreError(f"announcement {announcement_id} is {row.status}; "
                                 "it can no longer be edited")
            if row.status == "approved":
                self._withdraw(conn, row)
            status = "returned" if row.status == "returned" else "draft"
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id).values(
                status=status, updated_at=now, story_id=None, approver_id=None
                if status == "draft" else row.approver_id, **_draft_values(draft, timezone)))
        return self.get_announcement(announcement_id)

    def submit_announcement(self, announcement_id: int, now: datetime) -> Announcement:
        with self.engine.begin() as conn:
            row = self._lock(conn, announcement_id)
            if row.status not in ("draft", "returned"):
                raise StoreError(f"announcement {announcement_id} is {row.status}; only a "
                                 "draft or a returned one can be submitted")
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id).values(
                status="submitted", submitted_at=now, updated_at=now))
        return self.get_announcement(announcement_id)

    def return_announcement(self, announcement_id: int, approver_id: int, comment: str,
                            now: datetime) -> Announcement:
        comment = comment.strip()
        if not comment:
            raise StoreError("say what should change: the comment is empty")
        with self.engine.begin() as conn:
            row = self._lock(conn, announcement_id)
            if row.status != "submitted":
                raise StoreError(f"announcement {announcement_id} is {row.status}; only a "
                                 "submitted one can be sent back")
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id).values(
                status="returned", approver_id=approver_id, comment=comment[:4000],
                updated_at=now))
        return self.get_announcement(announcement_id)

    def approve_announcement(self, announcement_id: int, approver_id: int, story: Story,
                             now: datetime, *, four_eyes: bool,
                             seen: datetime | None = None,
                             ctx: RoutingContext | None = None,
                             send_now: bool = False) -> Announcement:
        """Approve: write ``story`` (built from the announcement by ``bot.queue``) and its
        deliveries, released at the send time (or now); the story may reach only the
        approved targets (``stories.targets``, see :mod:`bot.release`). ``seen``: the
        version (``updated_at``) the approver looked at; a later change refuses the
        approval. ``ctx``: files the item under its merge terms, so that the academy's
        own X post linking to it joins this story instead of becoming a second one.
        ``send_now``: the send time is dropped (it passed while the announcement waited,
        and the approver chose to send it at once)."""
        with self.engine.begin() as conn:
            row = self._lock(conn, announcement_id)
            if ctx is not None:
                # Filing the item's terms and joining the page's other stories write what
                # ingest writes: take its lock first, as ingest does (no deadlock).
                _lock_ingests(conn)
            if seen is not None and row.updated_at != seen:
                raise StoreError(f"announcement {announcement_id} changed after you opened "
                                 "it: look at it again before approving")
            allowed = ("submitted",) if four_eyes else ("submitted", "draft", "returned")
            if row.status not in allowed:
                raise StoreError(f"announcement {announcement_id} is {row.status}; only "
                                 f"{' or '.join(allowed)} can be approved")
            if four_eyes and row.author_id == approver_id:
                raise NotAllowed("you wrote this announcement: someone else must approve it")
            # A send time already past goes now (never into a digest already built); the
            # web app and the API refuse one unless the approver chose to send it now.
            send_at = None if send_now else row.send_at
            due = max(send_at, now) if send_at else now
            item = story.items[0]
            targets = json.loads(row.targets)
            story_id = inserted_id(conn.execute(t_stories.insert().values(
                title=story.title, summary=story.summary, url=story.url, kind=story.kind,
                first_seen=now, updated_at=now, revision=1, hold=False,
                image_url=story.image_url, targets=targets_json(targets)
            )))
            item_id = inserted_id(conn.execute(t_items.insert().values(
                source=item.source, source_item_id=f"announcement-{announcement_id}",
                story_id=story_id, source_kind=item.source_kind, url=item.url,
                canonical_url=item.canonical_url,
                fingerprint=fingerprint(item.title, item.text), title=item.title,
                text=item.text, html=item.html, author=item.author,
                links=links_to_json(item.links), published_at=due, collected_at=now,
                updated_at=now, raw_type=item.raw.mime_type if item.raw else None,
                raw=item.raw.content if item.raw else None)))
            # Its URL is known: a feed's copy of the same announcement joins this story
            # rather than being posted again.
            keys = sorted(url_keys(item))
            if keys:
                conn.execute(t_item_urls.insert(), [
                    {"item_id": item_id, "url": k[:2000], "story_id": story_id} for k in keys])
            if ctx is not None:
                file_item(conn, item_id, replace(item, published_at=due), ctx)
            if story.tags:
                conn.execute(t_tags.insert(), [
                    {"story_id": story_id, "grp": t.group.value, "slug": t.slug,
                     "reason": t.reason[:2000], "manual": True, "position": n}
                    for n, t in enumerate(story.tags)])
            if story.dates:
                conn.execute(t_dates.insert(), [date_row(story_id, d) for d in story.dates])
            conn.execute(t_deliveries.insert(), [
                {"story_id": story_id, "target": target, "status": _S.PENDING.value,
                 "attempts": 0, "next_attempt_at": due, "release_at": due,
                 "created_at": now, "updated_at": now}
                for target in targets])
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id).values(
                status="approved", approver_id=approver_id, approved_at=now, comment=None,
                story_id=story_id, updated_at=now, send_at=send_at))
            if ctx is not None and keys:
                # A feed's copy of this page that came first joins it: one page, one story,
                # each place reached once (the merge keeps the gate's promises).
                self._join_same_page(conn, story_id, [k[:2000] for k in keys], ctx, now)
        return self.get_announcement(announcement_id)

    def cancel_announcement(self, announcement_id: int, now: datetime) -> Announcement:
        """Cancel what has not gone out. Deliveries already sent stay on record."""
        with self.engine.begin() as conn:
            row = self._lock(conn, announcement_id)
            if row.status == "cancelled":
                raise StoreError(f"announcement {announcement_id} is already cancelled")
            if row.status == "approved" and row.story_id is not None:
                statuses = set(conn.execute(select(t_deliveries.c.status).where(
                    t_deliveries.c.story_id == row.story_id)).scalars())
                if statuses and statuses <= {_S.SENT.value}:
                    raise StoreError(f"announcement {announcement_id} has gone to every "
                                     "target; there is nothing left to cancel")
            if row.status == "approved":
                self._withdraw(conn, row, partial=True)
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id).values(
                status="cancelled", updated_at=now))
        return self.get_announcement(announcement_id)

    def restore_announcement(self, announcement_id: int, now: datetime) -> Announcement:
        """Undo a cancel: the announcement becomes a draft again (to be submitted and
        approved afresh), unless part of it was sent before it was cancelled."""
        with self.engine.begin() as conn:
            row = self._lock(conn, announcement_id)
            if row.status != "cancelled":
                raise StoreError(f"announcement {announcement_id} is {row.status}, not "
                                 "cancelled: there is nothing to undo")
            if row.story_id is not None:
                gone = sorted(conn.execute(select(t_deliveries.c.target).where(
                    t_deliveries.c.story_id == row.story_id,
                    t_deliveries.c.status.in_([_S.SENT.value, _S.IN_FLIGHT.value])))
                    .scalars())
                if gone:
                    raise StoreError(f"announcement {announcement_id} had already gone to "
                                     f"{', '.join(gone)} when it was cancelled; write a new "
                                     "one instead")
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id).values(
                status="draft", story_id=None, approver_id=None, approved_at=None,
                submitted_at=None, comment=None, updated_at=now))
        return self.get_announcement(announcement_id)

    def recently_approved(self, since: datetime) -> list[int]:
        """Ids of the announcements approved since ``since`` (still approved)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(t_ann.c.id).where(
                t_ann.c.status == "approved", t_ann.c.approved_at >= since)
                .order_by(t_ann.c.id)).scalars())

    def deliveries_for(self, story_ids: list[int]) -> dict[int, list[Delivery]]:
        """Each story's deliveries, by target."""
        found: dict[int, list[Delivery]] = defaultdict(list)
        if not story_ids:
            return found
        with self.engine.connect() as conn:
            for start in range(0, len(story_ids), 500):
                for d in conn.execute(select(t_deliveries).where(
                        t_deliveries.c.story_id.in_(story_ids[start:start + 500]))
                        .order_by(t_deliveries.c.target)):
                    found[d.story_id].append(row_to_delivery(d))
        return found

    # -- helpers --------------------------------------------------------------------------

    def _lock(self, conn: Connection, announcement_id: int) -> Any:
        """The row, held until the transaction ends: ``FOR UPDATE`` on PostgreSQL; on SQLite
        a no-op write first, which takes the database's write lock, so no other writer can
        change the row between this read and our writes (a plain read there starts no
        transaction, and a concurrent cancel could be undone by an approve)."""
        query = select(t_ann).where(t_ann.c.id == announcement_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        else:
            conn.execute(update(t_ann).where(t_ann.c.id == announcement_id)
                         .values(id=t_ann.c.id))
        row = conn.execute(query).first()
        if row is None:
            raise StoreError(f"no announcement with id {announcement_id}")
        return row

    @staticmethod
    def _withdraw(conn: Connection, row: Any, partial: bool = False) -> None:
        """Take an approved announcement's story back out of the outbox. Refused when a
        delivery is sent or on its way, unless ``partial`` (cancel): then only what has
        not started is withdrawn, and the story is held so nothing more goes out."""
        if row.story_id is None:
            return
        c = t_deliveries.c
        # Delete first, then look: the delete holds the rows (and SQLite's write lock), so
        # no worker can claim one between the look and the change.
        conn.execute(delete(t_deliveries).where(
            c.story_id == row.story_id, c.status.not_in([_S.SENT.value, _S.IN_FLIGHT.value])))
        started = sorted(conn.execute(select(c.target).where(c.story_id == row.story_id))
                         .scalars())
        if started and not partial:
            raise StoreError(f"announcement {row.id} has already gone to "
                             f"{', '.join(started)}; it can no longer be edited "
                             "(cancel what is left, or write a new one)")
        others = conn.execute(select(t_items.c.id).where(
            t_items.c.story_id == row.story_id,
            t_items.c.source_item_id != f"announcement-{row.id}")).first()
        if started or others is not None:
            # Something went out, or other items joined it (the academy's X post about
            # it): keep the story, held, so nothing more goes out and nothing is lost.
            if not started:
                conn.execute(delete(t_items).where(
                    t_items.c.story_id == row.story_id,
                    t_items.c.source_item_id == f"announcement-{row.id}"))
            conn.execute(update(t_stories).where(t_stories.c.id == row.story_id)
                         .values(hold=True))
        else:
            conn.execute(delete(t_stories).where(t_stories.c.id == row.story_id))


def _announcement(r: Any, deliveries: tuple[Delivery, ...]) -> Announcement:
    draft = Draft.model_construct(
        title=r["title"], body=r["body"], url=r["url"], image_url=r["image_url"],
        kind=r["kind"], domains=json.loads(r["domains"]), targets=json.loads(r["targets"]),
        send_at=r["send_at"])
    return Announcement(
        id=r["id"], draft=draft, status=r["status"], author_id=r["author_id"],
        author=r["author_email"], approver_id=r["approver_id"], approver=r["approver_email"],
        comment=r["comment"], story_id=r["story_id"], created_at=r["created_at"],
        updated_at=r["updated_at"], submitted_at=r["submitted_at"],
        approved_at=r["approved_at"], send_at=r["send_at"], deliveries=deliveries)
