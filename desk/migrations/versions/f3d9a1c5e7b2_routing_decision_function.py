"""The assignment decision as one PostgreSQL function (desk/routing/decision.py).

Revision ID: f3d9a1c5e7b2
Revises: e8b3c6d1f4a7
"""
from alembic import op

from desk.routing import decision

revision = "f3d9a1c5e7b2"
down_revision = "e8b3c6d1f4a7"
branch_labels = None
depends_on = None


def upgrade():
    decision.install(op.get_bind())  # the definition the code calls (and db.create_all makes)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DO $$ DECLARE f record; BEGIN FOR f IN SELECT oid::regprocedure AS name "
                   "FROM pg_proc WHERE proname LIKE 'routing\\_next\\_%' LOOP "
                   "EXECUTE 'DROP FUNCTION ' || f.name; END LOOP; END $$")
