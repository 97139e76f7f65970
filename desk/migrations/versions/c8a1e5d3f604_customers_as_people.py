"""Customers as people: phone, time zone, folded name and handle keys for duplicate
suggestions (filled here for existing rows), merges (merged_into_id and the merge record),
notes and tags on a customer.

Revision ID: c8a1e5d3f604
Revises: b6e1f0c2d947
"""
import sqlalchemy as sa
from alembic import op

import desk.core.types
from desk.customers.models import KEY, match_key

revision = "c8a1e5d3f604"
down_revision = "b6e1f0c2d947"
branch_labels = None
depends_on = None

BATCH = 5_000


def _fill_keys(table: str, source: str, target: str) -> None:
    """Fill `target` with match_key(`source`) for every row, a batch at a time."""
    connection = op.get_bind()
    rows = sa.table(table, sa.column("id"), sa.column(source), sa.column(target))
    last = 0
    while True:
        batch = connection.execute(sa.select(rows.c.id, rows.c[source]).where(
            rows.c.id > last, rows.c[source].is_not(None)).order_by(rows.c.id).limit(BATCH)).all()
        if not batch:
            return
        connection.execute(rows.update().where(rows.c.id == sa.bindparam("row_id"))
                           .values({target: sa.bindparam("key")}),
                           [{"row_id": i, "key": match_key(v)} for i, v in batch])
        last = batch[-1][0]


def upgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("name_key", KEY, nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", desk.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_merged_into_id"), ["merged_into_id"],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_customer_merged_into_id_customer"),
                                    "customer", ["merged_into_id"], ["id"])
    with op.batch_alter_table("customer_identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handle_key", KEY, nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_identity_handle_key"), ["handle_key"],
                              unique=False)
    op.create_table(
        "customer_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["user.id"],
                                name=op.f("fk_customer_note_author_id_user")),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_customer_note_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_note")),
    )
    op.create_index(op.f("ix_customer_note_customer_id"), "customer_note", ["customer_id"])
    op.create_table(
        "customer_tag",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_customer_tag_customer_id_customer")),
        sa.PrimaryKeyConstraint("customer_id", "name", name=op.f("pk_customer_tag")),
    )
    op.create_table(
        "customer_merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kept_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("kept_before", sa.JSON(), nullable=False),
        sa.Column("created_at", desk.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", desk.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"],
                                name=op.f("fk_customer_merge_actor_id_user")),
        sa.ForeignKeyConstraint(["kept_id"], ["customer.id"],
                                name=op.f("fk_customer_merge_kept_id_customer")),
        sa.ForeignKeyConstraint(["merged_id"], ["customer.id"],
                                name=op.f("fk_customer_merge_merged_id_customer")),
        sa.ForeignKeyConstraint(["undone_by_id"], ["user.id"],
                                name=op.f("fk_customer_merge_undone_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merge")),
    )
    op.create_index(op.f("ix_customer_merge_kept_id"), "customer_merge", ["kept_id"])
    op.create_index(op.f("ix_customer_merge_merged_id"), "customer_merge", ["merged_id"])
    _fill_keys("customer", "display_name", "name_key")
    _fill_keys("customer_identity", "handle", "handle_key")
    # E-mail addresses are matched as stored: lower case from now on.
    op.execute("UPDATE customer SET email = lower(email) WHERE email IS NOT NULL")


def downgrade():
    op.drop_index(op.f("ix_customer_merge_merged_id"), table_name="customer_merge")
    op.drop_index(op.f("ix_customer_merge_kept_id"), table_name="customer_merge")
    op.drop_table("customer_merge")
    op.drop_table("customer_tag")
    op.drop_index(op.f("ix_customer_note_customer_id"), table_name="customer_note")
    op.drop_table("customer_note")
    with op.batch_alter_table("customer_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_identity_handle_key"))
        batch_op.drop_column("handle_key")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_customer_merged_into_id_customer"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_customer_merged_into_id"))
        batch_op.drop_index(batch_op.f("ix_customer_name_key"))
        batch_op.drop_index(batch_op.f("ix_customer_phone"))
        for column in ("updated_at", "merged_into_id", "name_key", "timezone", "phone"):
            batch_op.drop_column(column)
