"""Report roll-up: per-ticket rows and their per-day sums, retention facts, change marks and
their triggers (desk/reports/rollup.py). The roll-up starts empty: reports compute everything live
until the first refresh job builds it (`desk scheduler` runs it every REPORT_ROLLUP_SECONDS).

Revision ID: b2f1a7c3d401
Revises: dac642f983ce
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types
from desk.reports import rollup

revision = "b2f1a7c3d401"
down_revision = "dac642f983ce"
branch_labels = None
depends_on = None

UTC = desk.core.types.UTCDateTime(timezone=True)


def _cell_keys(*extra):
    return [sa.Column("day", sa.Date(), nullable=False),
            sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
            *[sa.Column(name, sa.Integer(), autoincrement=False, nullable=False) for name in extra]]


def _counts(*names):
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def upgrade():
    op.create_table(
        "report_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("built_at", UTC, nullable=True),
        sa.Column("refreshed_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup")))
    op.create_table(
        "report_ticket",
        sa.Column("ticket_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.SmallInteger(), nullable=False)
          for name in ("answered", "waived", "met", "late")],
        sa.Column("due_at", UTC, nullable=True),
        sa.Column("frt_micros", sa.BigInteger(), nullable=True),
        sa.Column("bucket", sa.Integer(), nullable=True),
        sa.Column("sent", sa.SmallInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_report_ticket")))
    op.create_index("ix_report_ticket_day", "report_ticket", ["day"])
    op.create_index("ix_report_ticket_created", "report_ticket", ["created_at"])
    due = sa.text("due_at IS NOT NULL")
    op.create_index("ix_report_ticket_due", "report_ticket", ["day", "due_at"],
                    postgresql_where=due, sqlite_where=due)
    op.create_table(
        "report_ticket_canned",
        sa.Column("ticket_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reply_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "reply_id", name=op.f("pk_report_ticket_canned")))
    op.create_table(
        "report_cell", *_cell_keys(),
        *_counts("volume", "answered", "waived", "met", "late", "unanswered_due", "frt_count"),
        sa.Column("frt_micros", sa.BigInteger(), nullable=False),
        *_counts("surveys_sent", "surveys_answered", "positive", "rating_sum"),
        sa.PrimaryKeyConstraint("day", "channel_id", "agent_id", name=op.f("pk_report_cell")))
    op.create_table(
        "report_frt", *_cell_keys("bucket"), *_counts("tickets"),
        sa.PrimaryKeyConstraint("day", "channel_id", "agent_id", "bucket", name=op.f("pk_report_frt")))
    op.create_table(
        "report_canned", *_cell_keys("reply_id"), *_counts("tickets", "ratings", "rating_sum", "positive"),
        sa.PrimaryKeyConstraint("day", "channel_id", "agent_id", "reply_id", name=op.f("pk_report_canned")))
    op.create_table(
        "report_served",
        sa.Column("ticket_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("resolved_at", UTC, nullable=False),
        sa.Column("cohort", sa.SmallInteger(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("came_back", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_report_served")))
    op.create_index("ix_report_served_created", "report_served", ["created_at"], postgresql_include=[
        "customer_id", "resolved_at", "channel_id", "agent_id", "cohort", "band", "came_back"])
    op.create_index("ix_report_served_customer", "report_served", ["customer_id"])
    # Change marks: no key, no index (a mark costs the writer one row insert).
    op.create_table("report_dirty_ticket", sa.Column("ticket_id", sa.Integer(), nullable=False))
    op.create_table("report_dirty_customer", sa.Column("customer_id", sa.Integer(), nullable=False))
    canned = sa.text("canned_reply_id IS NOT NULL")
    op.create_index("ix_message_canned_reply", "message", ["ticket_id", "canned_reply_id"],
                    postgresql_where=canned, sqlite_where=canned)
    rollup.install(op.get_bind())  # the same trigger definitions db.create_all() uses


def downgrade():
    rollup.uninstall(op.get_bind())
    op.drop_index("ix_message_canned_reply", table_name="message")
    for table in ("report_dirty_customer", "report_dirty_ticket", "report_served", "report_canned",
                  "report_frt", "report_cell", "report_ticket_canned", "report_ticket", "report_rollup"):
        op.drop_table(table)
