"""Subscribers choose kinds as well as domains (issue #15): ``subscribers.kinds``, a JSON
list of kind slugs; NULL means every kind, as ``domains`` NULL means every domain.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("subscribers")}
    if "kinds" in columns:
        return  # can run again
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("kinds", sa.Text(), nullable=True))


def downgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("subscribers")}
    if "kinds" not in columns:
        return
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("kinds")
