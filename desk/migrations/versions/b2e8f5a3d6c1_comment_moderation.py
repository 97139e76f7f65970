"""Comment moderation: when an agent hid a public comment on the platform.

Revision ID: b2e8f5a3d6c1
Revises: a1d7e4f2c9b3
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "b2e8f5a3d6c1"
down_revision = "a1d7e4f2c9b3"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("message", sa.Column("hidden_at", desk.core.types.UTCDateTime(timezone=True),
                                       nullable=True))


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy of `message` would lose its search triggers.
    op.execute("ALTER TABLE message DROP COLUMN hidden_at")
