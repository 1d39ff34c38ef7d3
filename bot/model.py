"""The frozen shapes that cross Herald's boundaries.

Every source emits :class:`Item`; the pipeline groups items into a :class:`Story`
with :class:`Tag` and :class:`KeyDate` values; the store hands out
:class:`Delivery` rows to the dispatcher. Sequence fields are tuples so that the
values stay hashable and cannot be changed behind a caller's back. All datetimes
are timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Link:
    """A link found in an item: as written (e.g. a t.co short link) and expanded."""

    url: str
    expanded_url: str | None = None
    #: "about" when the item is about that page (a JSON Feed external_url, a tweet's
    #: article link), "repost" when the item reposts or quotes that post of the same
    #: account (it joins that post's story, and is never announced on its own),
    #: "mention" when the link merely appears in the text.
    rel: str = "mention"

    @property
    def target(self) -> str:
        """The best known destination of the link."""
        return self.expanded_url or self.url


@dataclass(frozen=True)
class RawRef:
    """The original vendor payload of an item, kept opaque (e.g. one feed entry as JSON)."""

    mime_type: str
    content: str


@dataclass(frozen=True)
class Item:
    """One entry as a source saw it: a feed entry, a post, a queued announcement."""

    source: str
    source_item_id: str
    url: str | None
    canonical_url: str | None
    title: str
    text: str
    html: str
    author: str | None
    published_at: datetime
    collected_at: datetime
    links: tuple[Link, ...] = ()
    source_kind: str = "feed"
    raw: RawRef | None = field(default=None, compare=False, repr=False)
    #: False when the source gave no publication date (``published_at`` is then the time
    #: it was collected). Not a column: a stored item is undated when the two are equal.
    dated: bool = field(default=True, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        """The identity of the entry within its source."""
        return self.source, self.source_item_id


class TagGroup(enum.StrEnum):
    """What a tag says about a story."""

    DOMAIN = "domain"
    KIND = "kind"
    PROGRAMME = "programme"


@dataclass(frozen=True)
class Tag:
    """A tag on a story with the reason it was given (the words or rule that matched)."""

    group: TagGroup
    slug: str
    reason: str
    manual: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.group.value, self.slug


@dataclass(frozen=True)
class KeyDate:
    """A date that matters to a reader, with what it marks (e.g. applications-open), and for
    an event, when in the day and where, if the text says: ``at_time`` "09:30–13:00" or
    "14:00" (24-hour, local as written), ``place`` "the Brew House, Preston" or
    "Online (Teams)". Both are read from untrusted text: escape them where shown."""

    what: str
    date: date
    evidence: str = ""
    at_time: str | None = None
    place: str | None = None


@dataclass(frozen=True)
class Story:
    """One announcement, made of one or more items from any sources."""

    id: int | None
    title: str
    summary: str
    url: str | None
    kind: str
    tags: tuple[Tag, ...]
    dates: tuple[KeyDate, ...]
    items: tuple[Item, ...]
    first_seen: datetime
    updated_at: datetime
    revision: int = 1
    #: An https image comms chose for their own announcement (None for collected stories).
    image_url: str | None = None
    #: True when comms stopped the story from being posted.
    hold: bool = False
    #: The only targets it may reach (comms approved them; empty: a new source's old entry,
    #: not announced), or None: routed by the rules. See bot/release.py.
    targets: tuple[str, ...] | None = None
    #: False when comms switched off reminders before its key dates (issue #17).
    reminders: bool = True

    @property
    def key(self) -> int | None:
        return self.id

    def slugs(self, group: TagGroup) -> tuple[str, ...]:
        """The slugs of this story's tags in one group, in stored order."""
        return tuple(t.slug for t in self.tags if t.group is group)

    @property
    def domains(self) -> tuple[str, ...]:
        return self.slugs(TagGroup.DOMAIN)

    @property
    def programmes(self) -> tuple[str, ...]:
        return self.slugs(TagGroup.PROGRAMME)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.source for i in self.items))


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands in the outbox."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    #: A merged-away story's message, taken back (deleted) from its target.
    RETRACTED = "retracted"
    #: A merged-away story's message that its target cannot take back (no delete).
    LEFT = "left"


@dataclass(frozen=True)
class Delivery:
    """One story to one target: the outbox row the dispatcher claims and sends."""

    id: int
    story_id: int
    target: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    external_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    #: Not before this time (comms' send time, a merge's embargo): see bot/release.py.
    release_at: datetime | None = None
    #: The message is to be taken back (its story was merged into another).
    retract: bool = False
    sent_revision: int | None = None
    #: The title first sent, when comms corrected the message after it went out.
    correction: str | None = None
    #: The live post's address (Slack), when the channel gives one.
    permalink: str | None = None

    @property
    def key(self) -> tuple[int, str]:
        return self.story_id, self.target


class ReminderStatus(enum.StrEnum):
    """Where a reminder stands: planned (waiting for its time), in_flight (claimed), sent,
    failed (tried, will be tried again), dead (given up) or cancelled (with why)."""

    PLANNED = "planned"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Reminder:
    """One reminder before a story's key date at one target (issue #17): due at
    ``due_at``, ``days_before`` the date ``day`` that ``what`` names ("applications-close").
    Sent through the outbox like a delivery; ``last_error`` says why one was cancelled."""

    id: int
    story_id: int
    target: str
    what: str
    day: date
    days_before: int
    due_at: datetime
    status: ReminderStatus
    attempts: int = 0
    next_attempt_at: datetime | None = None
    external_id: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
