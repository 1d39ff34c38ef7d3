"""Edits with an audit trail (issue #15): comms' overrides of a collected story, the history
of every change, edits of sent announcements waiting for approval, and on each delivery the
correction due and the live post's address.

- ``story_overrides``: a story's title, summary, key dates or programmes as comms set them.
- ``story_edits``: one row per changed field: before, after, by whom, when.
- ``sent_edits``: an edit of a sent announcement, pending a second person or done.
- ``deliveries.correction``: the title first sent, while a correction is due.
- ``deliveries.permalink``: the address of the live post (Slack), where one exists.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Each step can run again: SQLite commits each statement on its own.
    for column in ("correction", "permalink"):
        if column not in _columns("deliveries"):
            op.add_column("deliveries", sa.Column(column, sa.Text(), nullable=True))
    tables = _tables()
    if "story_overrides" not in tables:
        op.create_table(
            "story_overrides",
            sa.Column("story_id", sa.Integer(), nullable=False),
            sa.Column("field", sa.String(length=32), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("set_by", sa.String(length=320), nullable=False),
            _when("set_at", nullable=False),
            sa.ForeignKeyConstraint(["story_id"], ["stories.id"], ondelete="CASCADE",
                                    name=op.f("fk_story_overrides_story_id_stories")),
            sa.PrimaryKeyConstraint("story_id", "field", name=op.f("pk_story_overrides")),
        )
    if "story_edits" not in tables:
        op.create_table(
            "story_edits",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("story_id", sa.Integer(), nullable=False),
            sa.Column("announcement_id", sa.Integer(), nullable=True),
            sa.Column("field", sa.String(length=32), nullable=False),
            sa.Column("before", sa.Text(), nullable=True),
            sa.Column("after", sa.Text(), nullable=True),
            sa.Column("by", sa.String(length=320), nullable=False),
            _when("at", nullable=False),
            sa.ForeignKeyConstraint(["story_id"], ["stories.id"], ondelete="CASCADE",
                                    name=op.f("fk_story_edits_story_id_stories")),
            sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"],
                                    ondelete="SET NULL",
                                    name=op.f("fk_story_edits_announcement_id_announcements")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_story_edits")),
        )
        op.create_index(op.f("ix_story_edits_story_id_at"), "story_edits",
                        ["story_id", "at"])
    if "sent_edits" not in tables:
        op.create_table(
            "sent_edits",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("announcement_id", sa.Integer(), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("url", sa.Text(), nullable=True),
            sa.Column("by_id", sa.Integer(), nullable=True),
            sa.Column("by", sa.String(length=320), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("decided_by", sa.String(length=320), nullable=True),
            _when("created_at", nullable=False),
            _when("decided_at"),
            sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"],
                                    ondelete="CASCADE",
                                    name=op.f("fk_sent_edits_announcement_id_announcements")),
            sa.ForeignKeyConstraint(["by_id"], ["users.id"], ondelete="SET NULL",
                                    name=op.f("fk_sent_edits_by_id_users")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_edits")),
        )
        op.create_index(op.f("ix_sent_edits_announcement_id_status"), "sent_edits",
                        ["announcement_id", "status"])


def downgrade() -> None:
    for table in ("sent_edits", "story_edits", "story_overrides"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for column in ("permalink", "correction"):
        if column in _columns("deliveries"):
            with op.batch_alter_table("deliveries") as batch:
                batch.drop_column(column)
