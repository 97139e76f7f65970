"""Endpoints subscribed to the outgoing events, each with its own secret (encrypted), event
filter and private-address allowance; a delivery names its endpoint (NULL: the one configured
by DESK_OUTGOING_WEBHOOK_URL, as every delivery before this revision).

Revision ID: b6e1f0c2d947
Revises: 9d4b2e6f1a38
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "b6e1f0c2d947"
down_revision = "9d4b2e6f1a38"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", sa.String(length=500), nullable=False),
        sa.Column("allow_private", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoint")),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("endpoint_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_webhook_delivery_endpoint_id_webhook_endpoint"),
                                    "webhook_endpoint", ["endpoint_id"], ["id"])


def downgrade():
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_webhook_delivery_endpoint_id_webhook_endpoint"),
                                 type_="foreignkey")
        batch_op.drop_column("endpoint_id")
    op.drop_table("webhook_endpoint")
