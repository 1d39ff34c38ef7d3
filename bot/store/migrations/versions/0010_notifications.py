"""Notifications through the outbox (issue #15): ``users.notify`` (each person can turn
them off) and ``notices``, one row per notification and recipient, unique by its event, so
a notification goes once however often the web app or the worker retries.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "notify" not in {c["name"] for c in inspector.get_columns("users")}:
        with op.batch_alter_table("users") as batch:
            batch.add_column(sa.Column("notify", sa.Boolean(), nullable=False,
                                       server_default=sa.true()))
    if "notices" in set(inspector.get_table_names()):
        return  # can run again
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("occasion", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=16), nullable=False),
        sa.Column("slack", sa.String(length=16), nullable=False),
        sa.Column("slack_text", sa.Text(), nullable=True),
        sa.Column("slack_attempts", sa.Integer(), nullable=False),
        _when("slack_lease_until"),
        sa.Column("slack_error", sa.Text(), nullable=True),
        _when("created_at", nullable=False),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"],
                                name=op.f("fk_notices_announcement_id_announcements"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_notices_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("announcement_id", "event", "occasion", "recipient",
                            name=op.f("uq_notices_announcement_id_event_occasion_recipient")),
    )
    op.create_index(op.f("ix_notices_slack"), "notices", ["slack"])


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notices")
    inspector = sa.inspect(op.get_bind())
    if "notify" in {c["name"] for c in inspector.get_columns("users")}:
        with op.batch_alter_table("users") as batch:
            batch.drop_column("notify")
