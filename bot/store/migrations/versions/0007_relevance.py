"""Relevance (issue #13): comms' tag fixes kept as labelled examples, and an event's time
and place beside its key date.

- ``tag_examples``: a story's title and text with the kind and domains a person chose,
  learned from by ``herald tags train``.
- ``story_dates.at_time`` and ``story_dates.place``: "09:30–13:00", "the Brew House,
  Preston", where the text gives them.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Each step can run again: SQLite commits each ALTER on its own.
    if "at_time" not in _columns("story_dates"):
        op.add_column("story_dates", sa.Column("at_time", sa.String(length=32), nullable=True))
    if "place" not in _columns("story_dates"):
        op.add_column("story_dates", sa.Column("place", sa.Text(), nullable=True))
    if "tag_examples" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "tag_examples",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("story_id", sa.Integer(), nullable=True),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=True),
            sa.Column("domains", sa.Text(), nullable=True),
            sa.Column("fixed_by", sa.String(length=320), nullable=True),
            sa.Column("fixed_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                    name=op.f("fk_tag_examples_story_id_stories"),
                                    ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_examples")),
        )
        op.create_index(op.f("ix_tag_examples_story_id"), "tag_examples", ["story_id"],
                        unique=False)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS tag_examples")
    for column in ("place", "at_time"):
        if column in _columns("story_dates"):
            op.execute(f"ALTER TABLE story_dates DROP COLUMN {column}")
