"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations under ``migrations/versions`` build exactly this; a test
compares the two. Times are stored as UTC (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

sources = Table(
    "sources", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("origin", String(16), nullable=False),  # "config" or "database"
    Column("kind", String(16), nullable=False, default="rss"),
    Column("url", Text, nullable=False),
    Column("every_seconds", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("last_polled_at", UTCDateTime),
    Column("last_ok_at", UTCDateTime),
    Column("next_poll_at", UTCDateTime),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", Text),  # JSON: what a source remembers between polls (X: user id, since_id)
    # Paused by comms in the web app; kept apart from ``enabled``, which the config sets.
    Column("paused", Boolean, nullable=False, default=False, server_default="0"),
    # The first poll announces old entries too (else they are stored, not announced).
    Column("announce_backlog", Boolean, nullable=False, default=False, server_default="0"),
    # What people call the feed ("Academy news"); its name stays the slug (issue #15).
    Column("display_name", String(200)),
)

stories = Table(
    "stories", metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("url", Text),
    Column("kind", String(32), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("revision", Integer, nullable=False, default=1),
    Column("hold", Boolean, nullable=False, default=False),
    # Set when comms merged this story into another: its items moved there.
    Column("merged_into", Integer, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("image_url", Text),  # set by comms on their own announcements
    # JSON list: the only targets this story may reach (comms approved them); NULL: routes.
    Column("targets", Text),
    # Reminders before its key dates (issue #17): comms can switch them off per story.
    Column("reminders", Boolean, nullable=False, default=True, server_default=true()),
    Index(None, "updated_at"),
)

items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(64), nullable=False),
    Column("source_item_id", String(1000), nullable=False),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("source_kind", String(16), nullable=False),
    Column("url", Text),
    Column("canonical_url", Text),
    Column("fingerprint", String(32)),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("author", Text),
    Column("links", Text, nullable=False),  # JSON list of [url, expanded_url, rel]
    Column("published_at", UTCDateTime, nullable=False),
    Column("collected_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("raw_type", String(100)),
    Column("raw", Text),
    # The item's merge features, encoded by bot.store._features (NULL: compute them).
    Column("features", Text),
    UniqueConstraint("source", "source_item_id"),
    Index(None, "story_id"),
    Index(None, "fingerprint"),
    # Each story's publication date and the source filter of the Stories page (0014).
    Index(None, "story_id", "source", "published_at"),
)

item_urls = Table(
    "item_urls", metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("url", String(2000), primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Index(None, "url"),
    Index(None, "story_id"),
)

story_tags = Table(
    "story_tags", metadata,
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("grp", String(16), primary_key=True),
    Column("slug", String(100), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("manual", Boolean, nullable=False, default=False),
    Column("position", Integer, nullable=False, default=0),
    Index(None, "slug"),
)

story_dates = Table(
    "story_dates", metadata,
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("what", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("evidence", Text, nullable=False),
    # When in the day and where, if the text says ("09:30–13:00", "the Brew House, Preston").
    Column("at_time", String(32)),
    Column("place", Text),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("target", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("external_id", Text),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("sent_revision", Integer),
    # Not before this time (comms' send time, a merge's embargo): see bot/release.py.
    Column("release_at", UTCDateTime),
    # The message is to be taken back (its story was merged away).
    Column("retract", Boolean, nullable=False, default=False, server_default="0"),
    # Edits after send (issue #15): the title of the message as first sent, set when comms
    # correct a sent announcement and a correction is due (edited in place where the channel
    # can, a correction naming it elsewhere); and the live post's address, where one exists.
    Column("correction", Text),
    Column("permalink", Text),
    UniqueConstraint("story_id", "target"),
    Index(None, "status", "next_attempt_at"),
)

subscribers = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("domains", Text),  # JSON list of domain slugs; NULL means every domain
    Column("frequency", String(16), nullable=False, default="weekly"),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kinds", Text),  # JSON list of kind slugs; NULL means every kind (0013)
)

digests = Table(
    "digests", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"),
           nullable=False),
    Column("period", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # pending, in_flight, sent, empty, failed, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("message_id", Text),
    Column("stories", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("subscriber_id", "period"),
    Index(None, "period", "status"),
)

item_terms = Table(
    "item_terms", metadata,
    # Keyed for the candidate lookup (term, then a window of publication times): the
    # lookup reads the key alone. No story here: an item's story is read from items.
    Column("term", String(64), primary_key=True),
    Column("published_at", UTCDateTime, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "item_id"),
    sqlite_with_rowid=False,
)

# How many items are filed under each term: candidate lookups read the rare terms first
# and skip the ones whose posting lists would cost more than they tell (issue #6).
term_counts = Table(
    "term_counts", metadata,
    Column("term", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
)

# -- the web app (issue #5) ------------------------------------------------------------------

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # editor, approver, admin
    Column("password_hash", Text, nullable=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("last_login_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # False: this person gets no notifications (``/account/notifications``).
    Column("notify", Boolean, nullable=False, default=True, server_default=true()),
)

# Server-side sessions: the cookie carries a random token, the table its SHA-256, so a
# stolen database cannot be replayed as cookies, and signing out ends the session.
sessions = Table(
    "sessions", metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "user_id"),
)

announcements = Table(
    "announcements", metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),  # Markdown
    Column("url", Text),
    Column("image_url", Text),
    Column("kind", String(32), nullable=False),
    Column("domains", Text, nullable=False),  # JSON list of domain slugs
    Column("targets", Text, nullable=False),  # JSON list of target names
    Column("send_at", UTCDateTime),  # NULL: as soon as it is approved
    # draft, submitted, returned, approved, sent, cancelled
    Column("status", String(16), nullable=False),
    Column("author_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("approver_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("comment", Text),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("submitted_at", UTCDateTime),
    Column("approved_at", UTCDateTime),
    Index(None, "status"),
)

heartbeats = Table(
    "heartbeats", metadata,
    Column("worker", String(100), primary_key=True),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("collected_at", UTCDateTime),  # the worker's last finished collect cycle
)

# -- the release gate (issue #12) -------------------------------------------------------------

# Mail the web app asks for (subscription confirmations), sent by the worker like any
# delivery: claimed with a lease, retried, never lost.
outmail = Table(
    "outmail", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("message", Text, nullable=False),  # the whole message, as RFC 5322 text
    Column("status", String(16), nullable=False),  # pending, in_flight, sent, failed, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index(None, "status", "next_attempt_at"),
    Index(None, "recipient", "created_at"),
)

# Failed sign-ins per (casefolded) address, counted atomically so that every web process
# counts together; kept for addresses with no account too, so a lock reveals nothing.
login_attempts = Table(
    "login_attempts", metadata,
    Column("address", String(320), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("first_failed_at", UTCDateTime),
    Column("last_failed_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
)

# Comms' tag fixes, kept as labelled examples that `herald tags train` learns from: the story's
# text as it was fixed, and the kind and domains a person chose (JSON list; NULL: not fixed).
tag_examples = Table(
    "tag_examples", metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("kind", String(32)),
    Column("domains", Text),
    Column("fixed_by", String(320)),
    Column("fixed_at", UTCDateTime, nullable=False),
    Index(None, "story_id"),
)

# -- failures that pause a target (issue #14) -------------------------------------------------

# A target whose credentials were refused (a revoked Slack token, a Teams webhook answering
# 401, a wrong SMTP password): while ``paused_at`` is set no delivery to it is tried, save
# one probe at ``next_probe_at``; ``probes`` counts the probes that failed since the pause.
target_state = Table(
    "target_state", metadata,
    Column("target", String(100), primary_key=True),
    Column("paused_at", UTCDateTime),
    Column("reason", Text),
    Column("probes", Integer, nullable=False, default=0),
    Column("next_probe_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

# -- accounts in the browser (issue #15) -------------------------------------------------------

# Invitation and password-reset links. The link carries a random token; the table keeps only
# its SHA-256, so the table alone opens no account. A row is used once (``used_at``).
account_links = Table(
    "account_links", metadata,
    Column("id", Integer, primary_key=True),
    Column("purpose", String(16), nullable=False),  # invite, reset
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("role", String(16)),  # the invited role (invitations only)
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),  # resets only
    Column("created_by", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Index(None, "purpose", "email"),
)


# Notifications (``bot.notify``): one row per event and recipient (an address, or "#" and
# a Slack channel), unique, so each goes once. ``email``: queued, bounded (the address had
# its share, see ``[web] mails_per_address``), off or none; ``slack``: pending, in_flight,
# sent, dead, off or none (sent by the worker).
notices = Table(
    "notices", metadata,
    Column("id", Integer, primary_key=True),
    Column("announcement_id", Integer, ForeignKey("announcements.id", ondelete="CASCADE"),
           nullable=False),
    Column("event", String(16), nullable=False),  # submitted, returned, approved, sent, failed
    Column("occasion", String(40), nullable=False),  # which submit/approval it was about
    Column("recipient", String(320), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("email", String(16), nullable=False),
    Column("slack", String(16), nullable=False),
    Column("slack_text", Text),
    Column("slack_attempts", Integer, nullable=False, default=0),
    Column("slack_lease_until", UTCDateTime),
    Column("slack_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("announcement_id", "event", "occasion", "recipient"),
    Index(None, "slack"),
)


# -- edits with an audit trail (issue #15) ----------------------------------------------------

# Comms' overrides of a collected story, applied at every compose so a later poll never undoes
# them: field "title", "summary" (text), "dates" (JSON list of key dates), "programmes" (JSON
# list of slugs). Kind and domains stay manual tags in story_tags.
story_overrides = Table(
    "story_overrides", metadata,
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("field", String(32), primary_key=True),
    Column("value", Text, nullable=False),
    Column("set_by", String(320), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

# Who changed what and when: one row per changed field (before and after as shown text).
story_edits = Table(
    "story_edits", metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("announcement_id", Integer, ForeignKey("announcements.id", ondelete="SET NULL")),
    Column("field", String(32), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("by", String(320), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "story_id", "at"),
)

# An edit of a sent announcement waiting for a second person (four eyes), or done.
# status: pending, applied, rejected.
sent_edits = Table(
    "sent_edits", metadata,
    Column("id", Integer, primary_key=True),
    Column("announcement_id", Integer, ForeignKey("announcements.id", ondelete="CASCADE"),
           nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text),
    Column("by_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("by", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(320)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Index(None, "announcement_id", "status"),
)

# Reminders before a story's key dates (issue #17): one row per (story, target, date,
# days before), planned by bot.reminders and sent through the outbox like a delivery (claimed
# with a lease, marked sent, failed or dead), or cancelled with why.
# status: planned, in_flight, sent, failed, dead, cancelled.
reminders = Table(
    "reminders", metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("target", String(64), nullable=False),
    Column("what", String(32), nullable=False),  # the key date's meaning (story_dates.what)
    Column("day", Date, nullable=False),         # the key date itself
    Column("days_before", Integer, nullable=False),  # 7, 1, 0 (that day)
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("external_id", Text),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("story_id", "target", "what", "day", "days_before"),
    Index(None, "status", "due_at"),
)

# What a calendar feed last said of each event (issue #17): an event's UID, a fingerprint
# of what it shows and its SEQUENCE, raised when the fingerprint changes (RFC 5545).
calendar_events = Table(
    "calendar_events", metadata,
    Column("uid", String(200), primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("sequence", Integer, nullable=False, default=0),
    Column("changed_at", UTCDateTime, nullable=False),
    Index(None, "story_id"),
)
