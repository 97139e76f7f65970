"""The audit log names its object (type and id) and where a change came from (IP, web / api /
cli / system); API tokens get scopes and an optional expiry.

Tokens made before scopes existed keep every scope (each still capped by their user's role at
every call), so no integration stops working with the upgrade.

Revision ID: 7a3c91d4e2f0
Revises: f1c7a2b9d824
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types

revision = "7a3c91d4e2f0"
down_revision = "f1c7a2b9d824"
branch_labels = None
depends_on = None

# Written out: a migration must not change when desk.accounts.tokens.SCOPES does.
ALL_SCOPES_IN_2026 = "read write:messages write:activity reports"


def upgrade():
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_type", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("object_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=10), nullable=True))
        batch_op.create_index("ix_audit_event_object", ["object_type", "object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
    audit = sa.table("audit_event", sa.column("ticket_id", sa.Integer),
                     sa.column("object_type", sa.String), sa.column("object_id", sa.Integer))
    op.execute(audit.update().where(audit.c.ticket_id.is_not(None))
               .values(object_type="ticket", object_id=audit.c.ticket_id))

    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("expires_at", desk.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
    token = sa.table("api_token", sa.column("scopes", sa.String))
    op.execute(token.update().values(scopes=ALL_SCOPES_IN_2026))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column("scopes", existing_type=sa.String(length=200), nullable=False)


def downgrade():
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))
        batch_op.drop_index(batch_op.f("ix_audit_event_user_id"))
        batch_op.drop_index("ix_audit_event_object")
        batch_op.drop_column("source")
        batch_op.drop_column("ip")
        batch_op.drop_column("object_id")
        batch_op.drop_column("object_type")
