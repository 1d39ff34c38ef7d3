"""The release gate (issue #12): when each delivery may first go out, deliveries that take a
message back, the targets comms fixed for a story, backfill of a new source, mail sent
through an outbox, sign-in attempts counted in the database, and the collector's last
finished cycle.

- ``deliveries.release_at``: not before this time (comms' send time, a merge's embargo).
  Kept apart from ``next_attempt_at``, which retries move. Rows from before start from
  their send or creation time.
- ``deliveries.retract``: the row's message is to be taken back (its story was merged
  away): the dispatcher deletes it where the channel can.
- ``stories.targets``: JSON list of the only targets a story may reach (comms approved
  them), or NULL: routed by the rules.
- ``sources.announce_backlog``: a new source's first poll announces its old entries too.
- ``outmail``: mail the web app asks for (confirmations), sent by the worker.
- ``login_attempts``: failed sign-ins per address, shared by every web process.
- ``heartbeats.collected_at``: when this worker last finished a collect cycle.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Each step can run again: SQLite commits each ALTER on its own.
    if "release_at" not in _columns("deliveries"):
        op.add_column("deliveries", _when("release_at"))
        op.execute("UPDATE deliveries SET release_at = "
                   "COALESCE(sent_at, next_attempt_at, created_at)")
    if "retract" not in _columns("deliveries"):
        op.add_column("deliveries", sa.Column("retract", sa.Boolean(), nullable=False,
                                              server_default=sa.false()))
    if "targets" not in _columns("stories"):
        op.add_column("stories", sa.Column("targets", sa.Text(), nullable=True))
        # Comms' approved announcements keep the targets they were approved for.
        op.execute("UPDATE stories SET targets = (SELECT a.targets FROM announcements a "
                   "WHERE a.story_id = stories.id AND a.status = 'approved' LIMIT 1) "
                   "WHERE EXISTS (SELECT 1 FROM announcements a WHERE a.story_id = stories.id "
                   "AND a.status = 'approved')")
    if "announce_backlog" not in _columns("sources"):
        op.add_column("sources", sa.Column("announce_backlog", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    if "collected_at" not in _columns("heartbeats"):
        op.add_column("heartbeats", _when("collected_at"))
    if "outmail" not in _tables():
        op.create_table(
            "outmail",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("recipient", sa.String(length=320), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            _when("next_attempt_at"),
            sa.Column("lease_owner", sa.String(length=64), nullable=True),
            _when("lease_until"),
            sa.Column("last_error", sa.Text(), nullable=True),
            _when("created_at", nullable=False),
            _when("sent_at"),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_outmail")),
        )
        op.create_index(op.f("ix_outmail_status_next_attempt_at"), "outmail",
                        ["status", "next_attempt_at"], unique=False)
        op.create_index(op.f("ix_outmail_recipient_created_at"), "outmail",
                        ["recipient", "created_at"], unique=False)
    if "login_attempts" not in _tables():
        op.create_table(
            "login_attempts",
            sa.Column("address", sa.String(length=320), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            _when("first_failed_at"),
            _when("last_failed_at"),
            _when("locked_until"),
            sa.PrimaryKeyConstraint("address", name=op.f("pk_login_attempts")),
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS login_attempts")
    op.execute("DROP TABLE IF EXISTS outmail")
    for table, column in (("heartbeats", "collected_at"), ("sources", "announce_backlog"),
                          ("stories", "targets"), ("deliveries", "retract"),
                          ("deliveries", "release_at")):
        if column in _columns(table):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
