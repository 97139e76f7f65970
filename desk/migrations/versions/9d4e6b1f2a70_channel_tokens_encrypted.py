"""Channels keep their access tokens encrypted (Fernet, DESK_ENCRYPTION_KEYS) and show only the
last four characters; X refresh tokens and token expiry; a channel's health (failing since,
why) and its last connection test; customers' profile pictures and when their profile was
last looked up.

Existing plaintext tokens are encrypted here with the keys the desk is configured with, so set
DESK_ENCRYPTION_KEYS (or keep DESK_SECRET_KEY) before upgrading. Downgrading decrypts them back.

Revision ID: 9d4e6b1f2a70
Revises: a7c31e9f2b10
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types
from desk.core import crypto

revision = "9d4e6b1f2a70"
down_revision = "a7c31e9f2b10"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_token_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("token_last4", sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column("refresh_token_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("token_expires_at",
                                      desk.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=20), nullable=False,
                                      server_default="connected"))
        batch_op.add_column(sa.Column("failing_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("failing_since",
                                      desk.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("checked_at",
                                      desk.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_ok", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("check_detail", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("updated_at",
                                      desk.core.types.UTCDateTime(timezone=True), nullable=True))
    channel = sa.table("channel", sa.column("id", sa.Integer),
                       sa.column("access_token", sa.String),
                       sa.column("access_token_encrypted", sa.Text),
                       sa.column("token_last4", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(channel.c.id, channel.c.access_token)
                              .where(channel.c.access_token.is_not(None))).all()
    for row in rows:
        plain = row.access_token.strip()
        if plain:
            connection.execute(channel.update().where(channel.c.id == row.id).values(
                access_token_encrypted=crypto.encrypt(plain), token_last4=plain[-4:]))
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_column("access_token")

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avatar_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("profile_checked_at",
                                      desk.core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("profile_checked_at")
        batch_op.drop_column("avatar_url")

    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_token", sa.String(length=512), nullable=True))
    channel = sa.table("channel", sa.column("id", sa.Integer),
                       sa.column("access_token", sa.String),
                       sa.column("access_token_encrypted", sa.Text))
    connection = op.get_bind()
    rows = connection.execute(sa.select(channel.c.id, channel.c.access_token_encrypted)
                              .where(channel.c.access_token_encrypted.is_not(None))).all()
    for row in rows:
        connection.execute(channel.update().where(channel.c.id == row.id).values(
            access_token=crypto.decrypt(row.access_token_encrypted)[:512]))
    with op.batch_alter_table("channel", schema=None) as batch_op:
        for column in ("updated_at", "check_detail", "check_ok", "checked_at", "failing_since",
                       "failing_reason", "state", "token_expires_at", "refresh_token_encrypted",
                       "token_last4", "access_token_encrypted"):
            batch_op.drop_column(column)
