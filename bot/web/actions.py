"""What the pages and the API both do: the same rules whichever way a request comes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.errors import HeraldError, StoreError
from bot.notify import announce_safely
from bot.queue import (
    Draft,
    PastSendTime,
    announcement_item,
    announcement_story,
    check_send_time,
    when_text,
)
from bot.store import Announcement, NotAllowed, Session
from bot.web.app import WebContext


class InvalidDraft(HeraldError, ValueError):
    """An announcement names a kind, domain or target this Herald does not have."""

    default_message = "invalid announcement"


def check_draft(ctx: WebContext, draft: Draft, *, allow_past: bool = False) -> Draft:
    """Raise InvalidDraft (shown to the user) for a kind, domain or target Herald lacks,
    and PastSendTime for a send time already past (unless ``allow_past``)."""
    tax = ctx.herald.taxonomy
    try:
        draft.check_against(kinds=tax.slugs("kind"), domains=tax.slugs("domain"),
                            targets=list(ctx.herald.targets))
    except ValueError as exc:
        raise InvalidDraft(str(exc)) from None
    if not allow_past:
        check_send_time(draft, ctx.now(), ctx.herald.settings.config.worker.timezone)
    return draft


def story_for(ctx: WebContext, ann_id: int | None, draft: Draft, author: str | None) -> Any:
    """The story an announcement becomes (for previews and for approval)."""
    now = ctx.now()
    when = draft.send_at_utc(ctx.herald.settings.config.worker.timezone) or now
    item = announcement_item(ann_id, draft, author, when, now)
    return announcement_story(draft, item, labels=ctx.labels(), chosen_by=author or "comms",
                              now=now)


def update(ctx: WebContext, session: Session, ann: Announcement, draft: Draft) -> Announcement:
    """Change an announcement. With approval on, only its author may: an approver who wants
    a change sends it back with a comment, so the approver never approves their own words."""
    if ctx.web.approval and ann.author_id != session.user.id:
        raise NotAllowed("only its author edits an announcement: send it back with a "
                         "comment instead")
    check_draft(ctx, draft)
    return ctx.store.update_announcement(ann.id, draft, ctx.now(),
                                         ctx.herald.settings.config.worker.timezone)


def approve(ctx: WebContext, session: Session, ann: Announcement,
            seen: datetime | None = None, *, send_now: bool = False) -> Announcement:
    """Approve (approval on: an approver who is not the author) or publish (approval off).
    ``seen``: the version the approver looked at (refused if it changed since). A send time
    that passed while it waited is refused (PastSendTime) unless ``send_now``: then it goes
    as soon as approved, and the announcement says so."""
    four_eyes = ctx.web.approval
    user = session.user
    if four_eyes and not user.can("approver"):
        raise NotAllowed("only an approver can approve announcements")
    if four_eyes and ann.author_id == user.id:
        raise NotAllowed("you wrote this announcement: someone else must approve it")
    draft = check_draft(ctx, Draft.model_validate(ann.draft.model_dump()), allow_past=True)
    now, tz = ctx.now(), ctx.herald.settings.config.worker.timezone
    due = draft.send_at_utc(tz)
    if send_now:
        draft = draft.model_copy(update={"send_at": None})
    elif due is not None and due < now:
        raise PastSendTime(f"the send time ({when_text(due, now, tz)}) passed while it "
                           "waited: approve it to send now instead, or send it back for a "
                           "new time")
    story = story_for(ctx, ann.id, draft, ann.author)
    done = ctx.store.approve_announcement(ann.id, user.id, story, ctx.now(),
                                          four_eyes=four_eyes, seen=seen,
                                          ctx=ctx.herald.routing, send_now=send_now)
    announce_safely(ctx.herald, done, "approved", user.id)
    return done


def send_back(ctx: WebContext, session: Session, ann: Announcement,
              comment: str) -> Announcement:
    if not session.user.can("approver"):
        raise NotAllowed("only an approver can send an announcement back")
    done = ctx.store.return_announcement(ann.id, session.user.id, comment, ctx.now())
    announce_safely(ctx.herald, done, "returned", session.user.id)
    return done


def _may_withdraw(ctx: WebContext, session: Session, ann: Announcement, what: str) -> None:
    """With approval on, only its author or an approver may cancel an announcement or undo
    a cancel: an editor cannot stop, or turn back into a draft, what someone else wrote and
    an approver approved. With approval off, anyone signed in publishes, and so cancels."""
    if ctx.web.approval and ann.author_id != session.user.id \
            and not session.user.can("approver"):
        raise NotAllowed(f"only its author or an approver can {what} an announcement")


def cancel(ctx: WebContext, session: Session, ann: Announcement) -> Announcement:
    _may_withdraw(ctx, session, ann, "cancel")
    return ctx.store.cancel_announcement(ann.id, ctx.now())


def restore(ctx: WebContext, session: Session, ann: Announcement) -> Announcement:
    _may_withdraw(ctx, session, ann, "restore")
    return ctx.store.restore_announcement(ann.id, ctx.now())


def submit(ctx: WebContext, session: Session, ann: Announcement) -> Announcement:
    if not ctx.web.approval:
        raise StoreError("approval is off here: publish the announcement instead")
    done = ctx.store.submit_announcement(ann.id, ctx.now())
    announce_safely(ctx.herald, done, "submitted", session.user.id)
    return done
