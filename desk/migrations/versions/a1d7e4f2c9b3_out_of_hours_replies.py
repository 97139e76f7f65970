"""Out-of-hours acknowledgements: each channel's setting (calendar, texts, public too) and
the conversations acknowledged per closed period.

Revision ID: a1d7e4f2c9b3
Revises: f6c9d3e1b8a2
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "a1d7e4f2c9b3"
down_revision = "f6c9d3e1b8a2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "out_of_hours_reply",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("text_es", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("public_too", sa.Boolean(), nullable=False),
        sa.Column("updated_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["business_calendar.id"],
                                name=op.f("fk_out_of_hours_reply_calendar_id_business_calendar")),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"], ondelete="CASCADE",
                                name=op.f("fk_out_of_hours_reply_channel_id_channel")),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_out_of_hours_reply")),
    )
    op.create_table(
        "out_of_hours_ack",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("opens_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="SET NULL",
                                name=op.f("fk_out_of_hours_ack_message_id_message")),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE",
                                name=op.f("fk_out_of_hours_ack_ticket_id_ticket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_out_of_hours_ack")),
        sa.UniqueConstraint("ticket_id", "opens_at", name=op.f("uq_out_of_hours_ack_ticket_id_opens_at")),
    )


def downgrade():
    op.drop_table("out_of_hours_ack")
    op.drop_table("out_of_hours_reply")
