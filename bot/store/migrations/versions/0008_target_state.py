"""Failures that pause a target (issue #14): ``target_state`` records a target whose
credentials were refused, paused until someone resumes it or a probe gets through.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "target_state" in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # can run again
    op.create_table(
        "target_state",
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.Column("next_probe_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_target_state")),
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS target_state")
