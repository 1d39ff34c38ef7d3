"""Sent deliveries at rest (issue #16): the claim reads a sent delivery only once something
woke it (``next_attempt_at`` set: its story's revision rose past the one it showed, or it is
to be taken back), so it no longer reads every message ever sent on every claim. This wakes
the sent deliveries that were already behind their story or marked for retraction before
the change, with their own ``updated_at`` (in the past: due at once).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE deliveries SET next_attempt_at = updated_at "
        "WHERE status = 'sent' AND next_attempt_at IS NULL AND (retract = TRUE OR "
        "sent_revision < (SELECT s.revision FROM stories s WHERE s.id = deliveries.story_id))")


def downgrade() -> None:
    # Waking is harmless to the old claim, which read every sent row anyway.
    pass
