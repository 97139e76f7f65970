"""The API's idempotency keys: per token and key, the request's fingerprint and the answer
given, kept 24 hours (desk/accounts/idempotency.py).

Revision ID: 9d4b2e6f1a38
Revises: 9d4e6b1f2a70
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "9d4b2e6f1a38"
down_revision = "9d4e6b1f2a70"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotent_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_token.id"], ondelete="CASCADE",
                                name=op.f("fk_idempotent_request_token_id_api_token")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotent_request")),
        sa.UniqueConstraint("token_id", "key", name=op.f("uq_idempotent_request_token_id_key")),
    )
    op.create_index("ix_idempotent_request_created", "idempotent_request", ["created_at"],
                    unique=False)


def downgrade():
    op.drop_index("ix_idempotent_request_created", table_name="idempotent_request")
    op.drop_table("idempotent_request")
