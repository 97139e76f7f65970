"""Customer erasure and the retention purge: when a customer's data was erased, and when a
message's text was removed (by an erasure or the retention purge).

Revision ID: d2f4b7a9c315
Revises: c8a1e5d3f604
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "d2f4b7a9c315"
down_revision = "c8a1e5d3f604"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", desk.core.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("message", sa.Column("erased_at", desk.core.types.UTCDateTime(timezone=True),
                                       nullable=True))


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy of `message` would lose its search triggers.
    op.execute("ALTER TABLE message DROP COLUMN erased_at")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
