"""Key dates for people (issue #17): ``stories.reminders`` (comms switch a story's
reminders off), ``reminders`` (one row per story, target, key date and days before it, sent through
the outbox like a delivery) and ``calendar_events`` (each calendar event's fingerprint and
SEQUENCE, raised when what it shows changes).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "reminders" not in {c["name"] for c in inspector.get_columns("stories")}:
        # In place, not in batch mode: on SQLite a batch copies stories into a new table
        # and drops the old one, and with foreign keys on that drop deletes every story's
        # items, tags, dates and deliveries (ON DELETE CASCADE).
        op.add_column("stories", sa.Column("reminders", sa.Boolean(), nullable=False,
                                           server_default=sa.true()))
    tables = set(inspector.get_table_names())
    if "reminders" not in tables:
        op.create_table(
            "reminders",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("story_id", sa.Integer(), nullable=False),
            sa.Column("target", sa.String(length=64), nullable=False),
            sa.Column("what", sa.String(length=32), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("days_before", sa.Integer(), nullable=False),
            _when("due_at", nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            _when("next_attempt_at"),
            sa.Column("lease_owner", sa.String(length=64), nullable=True),
            _when("lease_until"),
            sa.Column("external_id", sa.Text(), nullable=True),
            sa.Column("last_error", sa.Text(), nullable=True),
            _when("created_at", nullable=False),
            _when("updated_at", nullable=False),
            _when("sent_at"),
            sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                    name=op.f("fk_reminders_story_id_stories"),
                                    ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
            sa.UniqueConstraint("story_id", "target", "what", "day", "days_before",
                                name=op.f("uq_reminders_story_id_target_what_day_days_before")),
        )
        op.create_index(op.f("ix_reminders_status_due_at"), "reminders",
                        ["status", "due_at"])
    if "calendar_events" not in tables:
        op.create_table(
            "calendar_events",
            sa.Column("uid", sa.String(length=200), nullable=False),
            sa.Column("story_id", sa.Integer(), nullable=False),
            sa.Column("fingerprint", sa.String(length=64), nullable=False),
            sa.Column("sequence", sa.Integer(), nullable=False),
            _when("changed_at", nullable=False),
            sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                    name=op.f("fk_calendar_events_story_id_stories"),
                                    ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("uid", name=op.f("pk_calendar_events")),
        )
        op.create_index(op.f("ix_calendar_events_story_id"), "calendar_events", ["story_id"])


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS calendar_events")
    op.execute("DROP TABLE IF EXISTS reminders")
    inspector = sa.inspect(op.get_bind())
    if "reminders" in {c["name"] for c in inspector.get_columns("stories")}:
        # Not batch mode: on SQLite it would copy stories into a new table and drop the
        # old one, and the drop cascades to every story's items and deliveries. SQLite
        # (3.35 and later) and PostgreSQL both drop a plain column in place.
        op.execute("ALTER TABLE stories DROP COLUMN reminders")
