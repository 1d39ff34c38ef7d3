"""Edits of an announcement after it was sent, and posts taken back ("delete from Slack").

An edit after send changes the announcement's title, text and link everywhere: its story
is composed again from the corrected item, with a higher revision, so Slack edits its
message in place (``chat.update``); each other sent delivery gets ``correction`` (the title
first sent), so a channel that cannot edit posts one correction that names the original
(:mod:`bot.corrections`); the digest, built from the story, carries the corrected text.

Four eyes (``[web] approval = true``): an edit after send is new text reaching readers, so
it waits in ``sent_edits`` until an approver who is not its writer applies it (or rejects
it); only one edit waits at a time. Approval off: it applies at once. Taking a post back
needs no second person (it only removes). Every change is recorded in ``story_edits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bot.errors import StoreError
from bot.model import DeliveryStatus
from bot.queue import Draft, announcement_item
from bot.release import DIGEST
from bot.store._common import links_to_json
from bot.store._ingest import IngestStats, RoutingContext
from bot.store._overrides import record_edit
from bot.store._queue import NotAllowed, QueueMixin
from bot.store._users import User
from bot.store.schema import announcements as t_ann
from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import items as t_items
from bot.store.schema import sent_edits as t_sent
from bot.store.schema import users as t_users
from bot.text import fingerprint

_S = DeliveryStatus


@dataclass(frozen=True)
class SentEdit:
    """An edit of a sent announcement: pending, applied or rejected."""

    id: int
    announcement_id: int
    title: str
    body: str
    url: str | None
    by_id: int | None
    by: str
    status: str
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None


def _sent_edit(r: Any) -> SentEdit:
    return SentEdit(r.id, r.announcement_id, r.title, r.body, r.url, r.by_id, r.by, r.status,
                    r.decided_by, r.created_at, r.decided_at)


class SentEditsMixin(QueueMixin):
    def edit_sent_announcement(self, announcement_id: int, draft: Draft, user: User, *,
                               four_eyes: bool, ctx: RoutingContext,
                               now: datetime) -> SentEdit:
        """Correct a sent announcement's title, text and link (``draft``'s; the rest of it
        stays). The author or an approver may. With ``four_eyes`` it waits for another
        approver (status ``pending``); otherwise it applies now (``applied``)."""
        with self.engine.begin() as conn:
            row = self._sent_row(conn, announcement_id)
            if user.id != row.author_id and not user.can("approver"):
                raise NotAllowed("only the author or an approver may correct a sent "
                                 "announcement")
            if (draft.title, draft.body, draft.url) == (row.title, row.body, row.url):
                raise StoreError("nothing changed: the title, text and link are as sent")
            waiting = conn.execute(select(t_sent.c.id).where(
                t_sent.c.announcement_id == announcement_id,
                t_sent.c.status == "pending")).first()
            if waiting is not None:
                raise StoreError(f"a correction of announcement {announcement_id} already "
                                 "waits for approval: approve or reject it first")
            result = conn.execute(t_sent.insert().values(
                announcement_id=announcement_id, title=draft.title, body=draft.body,
                url=draft.url, by_id=user.id, by=user.email,
                status="pending" if four_eyes else "applied", created_at=now,
                decided_by=None if four_eyes else user.email,
                decided_at=None if four_eyes else now))
            edit_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if not four_eyes:
                self._apply_sent_edit(conn, row, draft, user.email, ctx, now)
            found = conn.execute(select(t_sent).where(t_sent.c.id == edit_id)).one()
        return _sent_edit(found)

    def decide_sent_edit(self, edit_id: int, user: User, *, apply: bool,
                         ctx: RoutingContext, now: datetime) -> SentEdit:
        """Apply (``apply``) or reject a pending correction: an approver who did not write
        it. Applying makes it go out everywhere."""
        with self.engine.begin() as conn:
            edit = conn.execute(select(t_sent).where(t_sent.c.id == edit_id)).first()
            if edit is None:
                raise StoreError(f"no correction with id {edit_id}")
            if not user.can("approver"):
                raise NotAllowed("only an approver may approve or reject a correction")
            if edit.by_id == user.id:
                raise NotAllowed("you wrote this correction: someone else must approve it")
            row = self._sent_row(conn, edit.announcement_id)
            done = conn.execute(update(t_sent).where(
                t_sent.c.id == edit_id, t_sent.c.status == "pending").values(
                status="applied" if apply else "rejected", decided_by=user.email,
                decided_at=now))
            if done.rowcount != 1:
                raise StoreError(f"correction {edit_id} was already {edit.status}")
            if apply:
                draft = Draft.model_construct(title=edit.title, body=edit.body, url=edit.url)
                self._apply_sent_edit(conn, row, draft, f"{edit.by}, approved by {user.email}",
                                      ctx, now)
            found = conn.execute(select(t_sent).where(t_sent.c.id == edit_id)).one()
        return _sent_edit(found)

    def sent_edits(self, announcement_id: int) -> list[SentEdit]:
        """An announcement's corrections after send, newest first."""
        with self.engine.connect() as conn:
            return [_sent_edit(r) for r in conn.execute(select(t_sent).where(
                t_sent.c.announcement_id == announcement_id).order_by(t_sent.c.id.desc()))]

    def take_back_post(self, story_id: int, target: str, by: str, now: datetime,
                       announcement_id: int | None = None) -> None:
        """Delete a story's sent message from ``target`` (the dispatcher's retraction:
        ``chat.delete`` on Slack), recorded in the story's history. Nothing more goes to
        that target for this story afterwards."""
        c = t_deliveries.c
        with self.engine.begin() as conn:
            row = conn.execute(select(t_deliveries).where(
                c.story_id == story_id, c.target == target)).first()
            if row is None or row.external_id is None or row.status != _S.SENT.value:
                raise StoreError(f"story {story_id} has no sent message in {target} to "
                                 "delete")
            done = conn.execute(update(t_deliveries).where(
                c.id == row.id, c.status == _S.SENT.value, c.retract.is_(False)).values(
                retract=True, attempts=0, next_attempt_at=now, updated_at=now))
            if done.rowcount != 1:
                raise StoreError(f"the message in {target} is already being deleted")
            record_edit(conn, story_id, f"post in {target}", row.permalink or row.external_id,
                        "deleted", by, now, announcement_id)

    def set_permalink(self, delivery_id: int, link: str) -> None:
        """Keep the address of a delivery's live post."""
        with self.engine.begin() as conn:
            conn.execute(update(t_deliveries).where(t_deliveries.c.id == delivery_id)
                         .values(permalink=link[:2000]))

    # -- helpers --------------------------------------------------------------------------

    def _sent_row(self, conn: Connection, announcement_id: int) -> Any:
        row = self._lock(conn, announcement_id)
        sent = row.story_id is not None and conn.execute(select(t_deliveries.c.id).where(
            t_deliveries.c.story_id == row.story_id,
            t_deliveries.c.status == _S.SENT.value)).first() is not None
        if row.status != "approved" or not sent:
            raise StoreError(f"announcement {announcement_id} has not been sent; edit it "
                             "in the queue instead")
        return row

    def _apply_sent_edit(self, conn: Connection, row: Any, draft: Draft, by: str,
                         ctx: RoutingContext, now: datetime) -> None:
        """Write the corrected text to the announcement and its item, compose its story
        again with a higher revision, and mark the correction due where it was sent."""
        author = conn.execute(select(t_users.c.email).where(
            t_users.c.id == row.author_id)).scalar()
        key = f"announcement-{row.id}"
        old_item = conn.execute(select(t_items).where(
            t_items.c.story_id == row.story_id, t_items.c.source_item_id == key)).first()
        if old_item is None:
            raise StoreError(f"announcement {row.id}'s story no longer carries its text")
        item = announcement_item(row.id, draft, author, old_item.published_at, now)
        conn.execute(update(t_items).where(t_items.c.id == old_item.id).values(
            title=item.title, text=item.text, html=item.html, url=item.url,
            canonical_url=item.canonical_url, links=links_to_json(item.links),
            fingerprint=fingerprint(item.title, item.text), updated_at=now,
            # the corrected Markdown, so each place draws it as it drew the first text
            raw_type=item.raw.mime_type if item.raw else None,
            raw=item.raw.content if item.raw else None))
        conn.execute(update(t_ann).where(t_ann.c.id == row.id).values(
            title=draft.title, body=draft.body, url=draft.url, updated_at=now))
        for name, before, after in (("title", row.title, draft.title),
                                    ("text", row.body, draft.body),
                                    ("link", row.url, draft.url)):
            record_edit(conn, row.story_id, name, before, after, by, now, row.id)
        c = t_deliveries.c
        conn.execute(update(t_deliveries).where(
            c.story_id == row.story_id, c.status == _S.SENT.value, c.target != DIGEST,
            c.retract.is_(False), c.correction.is_(None)).values(correction=row.title))
        self._recompose(conn, row.story_id, False, ctx, now, IngestStats(),
                        force_revision=True)
