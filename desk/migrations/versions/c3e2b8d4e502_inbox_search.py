"""Inbox search: FTS5 tables and triggers on SQLite; accent-blind full text and list
statistics on PostgreSQL.

Revision ID: c3e2b8d4e502
Revises: b2f1a7c3d401
"""
from alembic import op

from desk.inbox import search_schema as inbox_search_schema

revision = "c3e2b8d4e502"
down_revision = "b2f1a7c3d401"
branch_labels = None
depends_on = None

_INDEXES = (("ix_message_text_fts", "message", "text"), ("ix_customer_name_fts", "customer", "display_name"))


def _full_text_indexes(config: str) -> None:
    # The expressions must read exactly as on the models (desk/inbox/tickets.py, desk/customers/models.py).
    for name, table, column in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (to_tsvector('{config}', {column}))")


def upgrade():
    connection = op.get_bind()
    inbox_search_schema.install(connection)  # the same definitions db.create_all() uses
    if connection.dialect.name == "postgresql":
        _full_text_indexes(inbox_search_schema.CONFIG)
        op.execute("ANALYZE ticket")  # the new statistics object is empty until then


def downgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        _full_text_indexes("simple")
    inbox_search_schema.uninstall(connection)
