"""WhatsApp: message templates per channel, the business account they belong to, and the
template a reply went as.

Revision ID: d5a1b8c3e6f2
Revises: c4f9a2e7d1b5
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "d5a1b8c3e6f2"
down_revision = "c4f9a2e7d1b5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "whatsapp_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=15), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("params", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("for_surveys", sa.Boolean(), nullable=False),
        sa.Column("updated_at", desk.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"],
                                name=op.f("fk_whatsapp_template_channel_id_channel"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_template")),
        sa.UniqueConstraint("channel_id", "name", "language",
                            name=op.f("uq_whatsapp_template_channel_id_name_language")),
    )
    op.create_index(op.f("ix_whatsapp_template_channel_id"), "whatsapp_template", ["channel_id"])
    with op.batch_alter_table("channel") as batch:
        batch.add_column(sa.Column("business_account_id", sa.String(length=100), nullable=True))
    op.add_column("message", sa.Column("template", sa.JSON(), nullable=True))


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy of `message` would lose its search triggers.
    op.execute("ALTER TABLE message DROP COLUMN template")
    with op.batch_alter_table("channel") as batch:
        batch.drop_column("business_account_id")
    op.drop_index(op.f("ix_whatsapp_template_channel_id"), table_name="whatsapp_template")
    op.drop_table("whatsapp_template")
