"""The default SLA policy is stored with the schema, so no page has to create it.

Revision ID: e4a9d2c7b613
Revises: c3e2b8d4e502
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from desk.core.types import UTCDateTime

revision = "e4a9d2c7b613"
down_revision = "c3e2b8d4e502"
branch_labels = None
depends_on = None

_policy = sa.table(
    "sla_policy", sa.column("name", sa.String), sa.column("position", sa.Integer),
    sa.column("first_response_minutes", sa.Integer), sa.column("next_response_minutes", sa.Integer),
    sa.column("warning_minutes", sa.Integer), sa.column("active", sa.Boolean),
    sa.column("is_default", sa.Boolean), sa.column("created_at", UTCDateTime()))


def upgrade():
    connection = op.get_bind()
    if connection.execute(sa.select(sa.func.count()).select_from(_policy)
                          .where(_policy.c.is_default.is_(True))).scalar():
        return
    # The values of desk.sla.policies.unsaved_default(), written out: a migration must not
    # change when the code does.
    connection.execute(_policy.insert().values(
        name="Default", position=10_000, first_response_minutes=60, next_response_minutes=60,
        warning_minutes=15, active=True, is_default=True,
        created_at=datetime.now(timezone.utc)))


def downgrade():
    pass  # the row is data the desk needs; leaving it is harmless
