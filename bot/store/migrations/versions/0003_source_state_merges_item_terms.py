"""Source state between polls, manual story merges, and the term index for fuzzy merging.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_terms_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_item_terms_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "item_id", name=op.f("pk_item_terms")),
    )
    with op.batch_alter_table("item_terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_terms_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_terms_story_id"), ["story_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_item_terms_term_published_at"), ["term", "published_at"], unique=False
        )

    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.Text(), nullable=True))

    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_stories_merged_into_stories"),
            "stories",
            ["merged_into"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_stories_merged_into_stories"), type_="foreignkey")
        batch_op.drop_column("merged_into")

    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("state")

    with op.batch_alter_table("item_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_terms_term_published_at"))
        batch_op.drop_index(batch_op.f("ix_item_terms_story_id"))
        batch_op.drop_index(batch_op.f("ix_item_terms_item_id"))

    op.drop_table("item_terms")
