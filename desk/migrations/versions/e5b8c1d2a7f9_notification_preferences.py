"""Notification preferences: what reaches each person, per topic, in the app and by e-mail
(NULL: everything, as before).

Revision ID: e5b8c1d2a7f9
Revises: d2f4b7a9c315
"""
import sqlalchemy as sa
from alembic import op

revision = "e5b8c1d2a7f9"
down_revision = "d2f4b7a9c315"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notification_prefs", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("notification_prefs")
