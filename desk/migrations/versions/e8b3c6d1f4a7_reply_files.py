"""Files agents send with replies and canned replies.

Revision ID: e8b3c6d1f4a7
Revises: d5a1b8c3e6f2
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "e8b3c6d1f4a7"
down_revision = "d5a1b8c3e6f2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reply_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"],
                                name=op.f("fk_reply_file_created_by_id_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"],
                                name=op.f("fk_reply_file_message_id_message"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_file")),
    )
    op.create_index(op.f("ix_reply_file_message_id"), "reply_file", ["message_id"])
    with op.batch_alter_table("canned_reply") as batch:
        batch.add_column(sa.Column("file_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_canned_reply_file_id_reply_file"), "reply_file",
                                 ["file_id"], ["id"], ondelete="SET NULL")


def downgrade():
    with op.batch_alter_table("canned_reply") as batch:
        batch.drop_constraint(op.f("fk_canned_reply_file_id_reply_file"), type_="foreignkey")
        batch.drop_column("file_id")
    op.drop_index(op.f("ix_reply_file_message_id"), table_name="reply_file")
    op.drop_table("reply_file")
