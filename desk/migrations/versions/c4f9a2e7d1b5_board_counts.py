"""The board's open and waiting tickets per (channel, language, assignee), kept by triggers,
and the index its lists and due-time counts read.

Revision ID: c4f9a2e7d1b5
Revises: b2e8f5a3d6c1
"""
import sqlalchemy as sa
from alembic import op

from desk.sla import board_counts

revision = "c4f9a2e7d1b5"
down_revision = "b2e8f5a3d6c1"
branch_labels = None
depends_on = None

WAITING_SQL = ("status <> 'resolved' AND sla_state IN ('on_track', 'at_risk', 'breached') "
               "AND sla_due_at IS NOT NULL")


def upgrade():
    op.create_table(
        "board_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_count")),
    )
    op.create_index("ix_ticket_waiting_due", "ticket", ["sla_due_at", "id"],
                    postgresql_where=sa.text(WAITING_SQL), sqlite_where=sa.text(WAITING_SQL))
    connection = op.get_bind()
    board_counts.install(connection)  # the same definitions db.create_all() uses
    board_counts.recount(connection)


def downgrade():
    board_counts.uninstall(op.get_bind())
    op.drop_index("ix_ticket_waiting_due", table_name="ticket")
    op.drop_table("board_count")
