"""Notifications and rules' escalation notes keep a message id and its values, so that each
reader sees them in their own language and time zone (older rows keep showing their text).

Revision ID: f7c1d5e9a2b4
Revises: 7a3c91d4e2f0
"""
import sqlalchemy as sa
from alembic import op

revision = "f7c1d5e9a2b4"
down_revision = "7a3c91d4e2f0"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("message", sa.String(200), nullable=True))
        batch.add_column(sa.Column("params", sa.Text(), nullable=True))
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("note_message", sa.String(200), nullable=True))
        batch.add_column(sa.Column("note_params", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("note_params")
        batch.drop_column("note_message")
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("params")
        batch.drop_column("message")
