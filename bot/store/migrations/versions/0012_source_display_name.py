"""Feeds like Miniflux (issue #15): ``sources.display_name``, what people call a feed
("Academy news") while its name stays the slug Herald keys it by.

Revision ID: 0012
Revises: 0011 (the integrator chains it after the other #15 migrations)
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sources")}
    if "display_name" in columns:
        return  # can run again
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sources")}
    if "display_name" in columns:
        with op.batch_alter_table("sources") as batch:
            batch.drop_column("display_name")
