"""Merge features stored with each item, how many items each index term files, and a term
index keyed for the candidate lookup.

Items stored before this keep NULL features: they are computed from the item when it is
next a candidate, and stored then. The term counts start from the term index as it is
(word terms only: link terms are always looked up). The term index loses its story
column (an item's story is read from items) and its (term, published_at) index: the key
is now (term, published_at, item_id), which the lookup reads alone, and on SQLite the
table is that key (WITHOUT ROWID).

Each step can be run again: SQLite commits table changes one by one, so a run that stops
half-way (a full disk while the term index is copied) must be able to finish on the next
``herald db upgrade``. The rows of the old term index wait in ``item_terms_copy`` until
the new one holds them. Columns are added and dropped with ALTER TABLE, never by
rebuilding ``items``: on SQLite a rebuild drops the table, and its foreign keys' ON
DELETE CASCADE would empty item_urls and item_terms.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if "item_terms_copy" not in _tables():  # else: a run that stopped left the rows there
        op.execute("CREATE TABLE item_terms_copy AS SELECT term, published_at, item_id "
                   "FROM item_terms")
    op.execute("DROP TABLE IF EXISTS item_terms")
    op.create_table(
        "item_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        _when("published_at"),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_terms_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("term", "published_at", "item_id", name=op.f("pk_item_terms")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_item_terms_item_id"), "item_terms", ["item_id"], unique=False)
    op.execute("INSERT INTO item_terms (term, published_at, item_id) "
               "SELECT DISTINCT term, published_at, item_id FROM item_terms_copy")
    op.execute("DROP TABLE item_terms_copy")
    op.execute("DROP TABLE IF EXISTS term_counts")
    op.create_table(
        "term_counts",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_term_counts")),
    )
    op.execute("INSERT INTO term_counts (term, n) "
               "SELECT term, count(*) FROM item_terms WHERE term NOT LIKE 'u:%' GROUP BY term")
    if "features" not in _columns("items"):
        op.add_column("items", sa.Column("features", sa.Text(), nullable=True))


def downgrade() -> None:
    if "item_terms_copy" not in _tables():
        op.execute("CREATE TABLE item_terms_copy AS SELECT t.term, t.item_id, i.story_id, "
                   "t.published_at FROM item_terms t JOIN items i ON i.id = t.item_id")
    op.execute("DROP TABLE IF EXISTS item_terms")
    op.create_table(
        "item_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        _when("published_at"),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_terms_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                name=op.f("fk_item_terms_story_id_stories"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term", "item_id", name=op.f("pk_item_terms")),
    )
    op.create_index(op.f("ix_item_terms_item_id"), "item_terms", ["item_id"], unique=False)
    op.create_index(op.f("ix_item_terms_story_id"), "item_terms", ["story_id"], unique=False)
    op.create_index(op.f("ix_item_terms_term_published_at"), "item_terms",
                    ["term", "published_at"], unique=False)
    op.execute("INSERT INTO item_terms (term, item_id, story_id, published_at) "
               "SELECT term, item_id, story_id, published_at FROM item_terms_copy")
    op.execute("DROP TABLE item_terms_copy")
    op.execute("DROP TABLE IF EXISTS term_counts")
    if "features" in _columns("items"):
        op.execute("ALTER TABLE items DROP COLUMN features")
