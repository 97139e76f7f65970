"""The report roll-up: per-ticket rows, their sums per day, retention facts, and the change
marks that say which of them are out of date.

Tables (filled by desk/reports/refresh.py, read by desk/reports/sources.py and retention):
- report_ticket, report_ticket_canned: each ticket as the report counts it (the rows of
  desk/reports/cells.ticket_rows) and the canned replies its replies used;
- report_cell, report_frt, report_canned: the sums of those rows per (day, channel, agent):
  the figures, the first-response histogram, the canned replies;
- report_served: one row per resolved, not waived ticket: what retention needs, including
  whether the customer came back within 90 days (the costly part of a live report);
- report_dirty_ticket, report_dirty_customer: change marks. Triggers on ticket, survey,
  message and activity_event add one in the same transaction as any change a figure
  depends on; a report takes the stored rows of a marked ticket away and adds it live
  (a marked customer: computed live), until the next refresh. So a report never shows a
  stale figure, whichever code path (ORM, bulk UPDATE, raw SQL) made the change.

The triggers are not expressible on the models: `install` creates them; migration
b2f1a7c3d401 and `db.create_all()` (through the metadata event below) both call it.
"""
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, SmallInteger, event, text
from sqlalchemy.orm import Mapped, mapped_column

from desk.core import triggers
from desk.core.extensions import db
from desk.core.types import UTCDateTime
from desk.inbox.tickets import Message


class ReportRollup(db.Model):
    """The roll-up's state: one row (id 1) once the first full build is done."""

    __tablename__ = "report_rollup"
    id: Mapped[int] = mapped_column(primary_key=True)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReportTicket(db.Model):
    """A ticket as the report counts it (cells.TICKET_ROW) when the roll-up last saw it."""

    __tablename__ = "report_ticket"
    __table_args__ = (
        Index("ix_report_ticket_day", "day"),
        Index("ix_report_ticket_created", "created_at"),
        # Unanswered tickets, to count those past due at a report's `now`.
        Index("ix_report_ticket_due", "day", "due_at", postgresql_where=text("due_at IS NOT NULL"),
              sqlite_where=text("due_at IS NOT NULL")),
    )
    ticket_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int]
    agent_id: Mapped[int]
    answered: Mapped[int] = mapped_column(SmallInteger)
    waived: Mapped[int] = mapped_column(SmallInteger)
    met: Mapped[int] = mapped_column(SmallInteger)
    late: Mapped[int] = mapped_column(SmallInteger)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set when unanswered_due
    frt_micros: Mapped[int | None] = mapped_column(BigInteger)
    bucket: Mapped[int | None]
    sent: Mapped[int] = mapped_column(SmallInteger)
    rating: Mapped[int | None] = mapped_column(SmallInteger)


class ReportTicketCanned(db.Model):
    """A canned reply a ticket's replies used, when the roll-up last saw the ticket."""

    __tablename__ = "report_ticket_canned"
    ticket_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reply_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class CellKey:
    """The key every roll-up table of cells starts with: opening day, channel, agent (0: nobody)."""

    day: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-1)
    channel_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, sort_order=-1)
    agent_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, sort_order=-1)


class ReportCell(CellKey, db.Model):
    """Figures of the tickets opened on `day` on one channel for one agent (0: nobody)."""

    __tablename__ = "report_cell"
    volume: Mapped[int]
    answered: Mapped[int]
    waived: Mapped[int]
    met: Mapped[int]
    late: Mapped[int]
    unanswered_due: Mapped[int]
    frt_count: Mapped[int]
    frt_micros: Mapped[int] = mapped_column(BigInteger)
    surveys_sent: Mapped[int]
    surveys_answered: Mapped[int]
    positive: Mapped[int]
    rating_sum: Mapped[int]


class ReportFrt(CellKey, db.Model):
    """How many first responses of a cell fell in a bucket (lower bound in seconds)."""

    __tablename__ = "report_frt"
    bucket: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tickets: Mapped[int]


class ReportCanned(CellKey, db.Model):
    """A canned reply's use on the tickets of a cell, and those tickets' ratings."""

    __tablename__ = "report_canned"
    reply_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tickets: Mapped[int]
    ratings: Mapped[int]
    rating_sum: Mapped[int]
    positive: Mapped[int]


class ReportServed(db.Model):
    """A resolved, not waived ticket as retention sees it (desk/reports/retention.py)."""

    __tablename__ = "report_served"
    __table_args__ = (
        # A report reads the tickets opened in its period, every column it needs in the index.
        Index("ix_report_served_created", "created_at", postgresql_include=[
            "customer_id", "resolved_at", "channel_id", "agent_id", "cohort", "band", "came_back"]),
        Index("ix_report_served_customer", "customer_id"),
    )
    ticket_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    customer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel_id: Mapped[int]
    agent_id: Mapped[int]
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cohort: Mapped[int] = mapped_column(SmallInteger)  # index into retention.COHORTS
    band: Mapped[int] = mapped_column(SmallInteger)  # index into retention.BANDS
    came_back: Mapped[int] = mapped_column(SmallInteger)  # 1: activity within the window


# Change marks: append-only heaps without a key or an index, so a mark costs a write one row
# insert and no more; the refresh takes them all at once (DELETE ... RETURNING) and a report
# reads the few there are between two refreshes.
report_dirty_ticket = db.Table(  # a change to a ticket (or its survey or canned replies)
    "report_dirty_ticket", db.Column("ticket_id", Integer, nullable=False))
report_dirty_customer = db.Table(  # a change to what retention knows of a customer
    "report_dirty_customer", db.Column("customer_id", Integer, nullable=False))


# Which canned replies a ticket's replies used (roll-up and live part of the report): a
# small index, since most messages carry none; without it the planner scans every message.
CANNED_REPLY_INDEX = Index("ix_message_canned_reply", Message.ticket_id, Message.canned_reply_id,
                           postgresql_where=text("canned_reply_id IS NOT NULL"),
                           sqlite_where=text("canned_reply_id IS NOT NULL"))


# --- change marks ------------------------------------------------------------------------

# Columns a figure depends on; an UPDATE that changes none of them leaves no mark (the SLA
# sweep's state changes, delivery updates and the like cost nothing).
_TICKET_COLUMNS = ("created_at", "channel_id", "customer_id", "assignee_id", "first_responder_id",
                   "first_response_started_at", "first_response_due_at", "first_response_at",
                   "resolved_at")
_MESSAGE_COLUMNS = ("ticket_id", "customer_id", "direction", "automatic", "sent_at", "canned_reply_id")
_SURVEY_COLUMNS = ("ticket_id", "state", "rating")
_ACTIVITY_COLUMNS = ("customer_id", "occurred_at")
TRIGGERS = {  # name: table
    "report_mark_ticket_insert": "ticket", "report_mark_ticket_update": "ticket",
    "report_mark_ticket_delete": "ticket", "report_mark_survey_insert": "survey",
    "report_mark_survey_update": "survey", "report_mark_survey_delete": "survey",
    "report_mark_message_insert": "message", "report_mark_message_update": "message",
    "report_mark_message_delete": "message", "report_mark_activity_insert": "activity_event",
    "report_mark_activity_update": "activity_event", "report_mark_activity_delete": "activity_event",
}


def _changed(columns, distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _marks(row: str) -> dict[str, str]:
    """SQL statements (without the final semicolon) marking what a ROW (NEW or OLD) touches."""
    return {
        "ticket": f"INSERT INTO report_dirty_ticket (ticket_id) VALUES ({row}.id); "
                  f"INSERT INTO report_dirty_customer (customer_id) VALUES ({row}.customer_id)",
        "survey": f"INSERT INTO report_dirty_ticket (ticket_id) VALUES ({row}.ticket_id); "
                  f"INSERT INTO report_dirty_customer (customer_id) "
                  f"SELECT customer_id FROM ticket WHERE id = {row}.ticket_id",
        "message_in": f"INSERT INTO report_dirty_customer (customer_id) VALUES ({row}.customer_id)",
        "message_canned": f"INSERT INTO report_dirty_ticket (ticket_id) VALUES ({row}.ticket_id)",
        "activity": f"INSERT INTO report_dirty_customer (customer_id) VALUES ({row}.customer_id)",
    }


def _inbound(row: str, false: str) -> str:
    return f"{row}.direction = 'in' AND {row}.automatic = {false} AND {row}.customer_id IS NOT NULL"


def _postgresql() -> list[str]:
    old, new = _marks("OLD"), _marks("NEW")
    bodies = {
        "ticket": (old["ticket"], new["ticket"]), "survey": (old["survey"], new["survey"]),
        "activity": (old["activity"], new["activity"]),
        "message": (f"IF {_inbound('OLD', 'false')} THEN {old['message_in']}; END IF; "
                    f"IF OLD.canned_reply_id IS NOT NULL THEN {old['message_canned']}; END IF",
                    f"IF {_inbound('NEW', 'false')} THEN {new['message_in']}; END IF; "
                    f"IF NEW.canned_reply_id IS NOT NULL THEN {new['message_canned']}; END IF"),
    }
    statements = []
    for name, (on_old, on_new) in bodies.items():
        statements.append(
            f"CREATE OR REPLACE FUNCTION report_mark_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP <> 'INSERT' THEN {on_old}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {on_new}; END IF; RETURN NULL; END $$")
    inserted = {"message": f"WHEN (({_inbound('NEW', 'false')}) OR NEW.canned_reply_id IS NOT NULL)"}
    updated = {"ticket": _changed(_TICKET_COLUMNS, "IS DISTINCT FROM") +
               " OR coalesce(OLD.sla_state = 'waived', false) <> coalesce(NEW.sla_state = 'waived', false)",
               "survey": _changed(_SURVEY_COLUMNS, "IS DISTINCT FROM"),
               "message": _changed(_MESSAGE_COLUMNS, "IS DISTINCT FROM"),
               "activity": _changed(_ACTIVITY_COLUMNS, "IS DISTINCT FROM")}
    for name, table in TRIGGERS.items():
        kind, op = name.split("_")[2], name.split("_")[3]
        when = {"insert": inserted.get(kind, ""), "update": f"WHEN ({updated[kind]})", "delete": ""}[op]
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(f"CREATE TRIGGER {name} AFTER {op.upper()} ON {table} FOR EACH ROW {when} "
                          f"EXECUTE FUNCTION report_mark_{kind}()")
    return statements


def _sqlite() -> list[str]:
    old, new = _marks("OLD"), _marks("NEW")
    message = {row: (f"INSERT INTO report_dirty_customer (customer_id) SELECT {row}.customer_id "
                     f"WHERE {_inbound(row, '0')}; "
                     f"INSERT INTO report_dirty_ticket (ticket_id) SELECT {row}.ticket_id "
                     f"WHERE {row}.canned_reply_id IS NOT NULL")
               for row, marks in (("OLD", old), ("NEW", new))}
    bodies = {"ticket": (old["ticket"], new["ticket"]), "survey": (old["survey"], new["survey"]),
              "activity": (old["activity"], new["activity"]), "message": (message["OLD"], message["NEW"])}
    inserted = {"message": f"({_inbound('NEW', '0')}) OR NEW.canned_reply_id IS NOT NULL"}
    updated = {"ticket": _changed(_TICKET_COLUMNS, "IS NOT") +
               " OR coalesce(OLD.sla_state = 'waived', 0) <> coalesce(NEW.sla_state = 'waived', 0)",
               "survey": _changed(_SURVEY_COLUMNS, "IS NOT"),
               "message": _changed(_MESSAGE_COLUMNS, "IS NOT"),
               "activity": _changed(_ACTIVITY_COLUMNS, "IS NOT")}
    statements = []
    for name, table in TRIGGERS.items():
        kind, op = name.split("_")[2], name.split("_")[3]
        on_old, on_new = bodies[kind]
        body = {"insert": on_new, "delete": on_old, "update": f"{on_old}; {on_new}"}[op]
        condition = {"insert": inserted.get(kind), "update": updated[kind], "delete": None}[op]
        when = f"WHEN {condition} " if condition else ""
        statements.append(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {op.upper()} ON {table} "
                          f"FOR EACH ROW {when}BEGIN {body}; END")
    return statements


def installed_triggers(connection) -> set[str]:
    """The names of the change-mark triggers present in the database."""
    return triggers.present(connection, TRIGGERS)


def install(connection) -> None:
    """Create (or replace) the change-mark triggers; the roll-up tables must exist."""
    statements = _postgresql() if connection.dialect.name == "postgresql" else _sqlite()
    for sql in statements:
        connection.exec_driver_sql(sql)


def uninstall(connection) -> None:
    """Drop the change-mark triggers (and on PostgreSQL their functions)."""
    postgresql = connection.dialect.name == "postgresql"
    for name, table in TRIGGERS.items():
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        for kind in ("ticket", "survey", "message", "activity"):
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS report_mark_{kind}()")


@event.listens_for(db.metadata, "after_create")
def _after_create(metadata, connection, **kw):
    install(connection)
