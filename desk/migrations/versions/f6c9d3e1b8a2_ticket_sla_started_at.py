"""The running clock's start on the ticket (sla_started_at), beside its due and warning
times, filled from each ticket's latest clock: the inbox shows how long the customer has
waited for an answer from it.

Revision ID: f6c9d3e1b8a2
Revises: e5b8c1d2a7f9
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "f6c9d3e1b8a2"
down_revision = "e5b8c1d2a7f9"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("ticket", sa.Column("sla_started_at", desk.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
    op.execute("""
        UPDATE ticket SET sla_started_at = (
            SELECT c.started_at FROM sla_clock c WHERE c.ticket_id = ticket.id
            ORDER BY c.started_at DESC, c.id DESC LIMIT 1)
        WHERE sla_due_at IS NOT NULL""")


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy of `ticket` would trip the report triggers.
    op.execute("ALTER TABLE ticket DROP COLUMN sla_started_at")
