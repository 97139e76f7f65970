"""Keep the report roll-up up to date: take in what the change marks name (idempotent).

`refresh_rollup(now)` takes the change marks, replaces the stored rows of the marked tickets
and customers, re-adds the days those tickets are on, and deletes the marks, all in one
transaction: a report sees either the old roll-up with the marks (and corrects for them
live) or the new one without them. The first run (or a run that finds a change-mark trigger
missing) builds everything.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import delete, func, insert, select, text

from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.reports import rollup
from desk.reports.cells import (
    CELL_SUMS,
    TICKET_ROW,
    canned_pairs,
    canned_select,
    cells_select,
    frt_select,
    in_ranges,
    ticket_rows,
)
from desk.reports.retention import served_select
from desk.reports.rollup import (
    ReportCanned,
    ReportCell,
    ReportFrt,
    ReportRollup,
    ReportServed,
    ReportTicket,
    ReportTicketCanned,
    report_dirty_customer,
    report_dirty_ticket,
)
from desk.reports.sql import dialect

CHUNK = 5_000  # tickets or customers replaced per statement (bind-parameter limits)
_LOCK = 0x5245504F  # pg_advisory_xact_lock key: one refresh at a time ("REPO")


@dataclass
class RefreshResult:
    full: bool
    tickets: int | None  # tickets taken in (None: all of them)
    days: int  # days whose sums were recomputed
    customers: int | None  # customers whose retention rows were recomputed (None: all)
    skipped: bool = False  # another refresh was running


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def day_ranges(days) -> list[tuple[date, date]]:
    """Sorted days as half-open [first, after last) runs of consecutive days."""
    ranges: list[list[date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] == day:
            ranges[-1][1] = day + timedelta(days=1)
        else:
            ranges.append([day, day + timedelta(days=1)])
    return [(low, high) for low, high in ranges]


def stored_rows(conditions: list):
    """report_ticket rows matching `conditions`, with the columns of cells.ticket_rows."""
    return select(*[getattr(ReportTicket, name) for name in TICKET_ROW]).where(*conditions).subquery()


def stored_pairs():
    """report_ticket_canned as a subquery, like cells.canned_pairs."""
    return select(ReportTicketCanned.ticket_id, ReportTicketCanned.reply_id).subquery()


def refresh_rollup(now: datetime, full: bool = False) -> RefreshResult:
    """Take in the marked tickets and customers (everything when `full`, before the first
    build, or when a change-mark trigger went missing); commits."""
    connection = db.session.connection()
    if dialect() == "postgresql":
        if not db.session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_LOCK})")):
            db.session.rollback()
            return RefreshResult(False, 0, 0, 0, skipped=True)
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
    if rollup.installed_triggers(connection) != set(rollup.TRIGGERS):
        rollup.install(connection)  # e.g. a table rebuilt by a later SQLite migration
        full = True
    state = db.session.get(ReportRollup, 1) or ReportRollup(id=1)
    if full or state.built_at is None:
        result = _rebuild()
        state.built_at = now
    else:
        marks = report_dirty_ticket.c.ticket_id, report_dirty_customer.c.customer_id
        tickets, customers = [sorted(set(db.session.scalars(delete(mark.table).returning(mark))))
                              for mark in marks]
        days: set[date] = set()
        for start in range(0, len(tickets), CHUNK):
            days |= _replace_tickets(tickets[start:start + CHUNK])
        _sum_days(day_ranges(days))
        for start in range(0, len(customers), CHUNK):
            _serve(customers[start:start + CHUNK])
        result = RefreshResult(False, len(tickets), len(days), len(customers))
    state.refreshed_at = now
    db.session.add(state)
    db.session.commit()
    return result


def _rebuild() -> RefreshResult:
    for table in (report_dirty_ticket, report_dirty_customer, ReportTicket.__table__,
                  ReportTicketCanned.__table__, ReportCell.__table__, ReportFrt.__table__,
                  ReportCanned.__table__, ReportServed.__table__):
        db.session.execute(delete(table))
    _insert_tickets([])
    first, last = db.session.execute(select(func.min(ReportTicket.day), func.max(ReportTicket.day))).one()
    ranges = [] if first is None else [(first, last + timedelta(days=1))]
    _sum_days(ranges, cleared=True)
    _serve(None)
    # Fresh statistics, or the planner takes the new tables for empty until autovacuum comes.
    for model in (ReportTicket, ReportTicketCanned, ReportCell, ReportFrt, ReportCanned, ReportServed):
        db.session.execute(text(f"ANALYZE {model.__tablename__}"))
    tickets = db.session.scalar(select(func.count()).select_from(ReportTicket))
    return RefreshResult(True, tickets, (last - first).days + 1 if first else 0, None)


def _insert_tickets(conditions: list) -> None:
    rows = ticket_rows(conditions)
    db.session.execute(insert(ReportTicket).from_select(list(TICKET_ROW), select(rows)))
    db.session.execute(insert(ReportTicketCanned).from_select(["ticket_id", "reply_id"],
                                                              canned_pairs(conditions)))


def _replace_tickets(ids: list[int]) -> set[date]:
    """Replace the stored rows of tickets `ids`; the days they were on or are on now."""
    def days():
        return set(db.session.scalars(
            select(ReportTicket.day).distinct().where(ReportTicket.ticket_id.in_(ids))))
    before = days()
    for model in (ReportTicket, ReportTicketCanned):
        db.session.execute(delete(model).where(model.ticket_id.in_(ids)))
    _insert_tickets([Ticket.id.in_(ids)])
    return before | days()


def _sum_days(ranges: list[tuple[date, date]], cleared: bool = False) -> None:
    """Replace the sums of the days in `ranges` by the sums of their stored ticket rows."""
    if not ranges:
        return
    if not cleared:
        for model in (ReportCell, ReportFrt, ReportCanned):
            db.session.execute(delete(model).where(in_ranges(model.day, ranges)))
    rows = stored_rows([in_ranges(ReportTicket.day, ranges)])
    pairs = stored_pairs()
    keys = ["day", "channel_id", "agent_id"]
    for model, stmt, columns in (
            (ReportCell, cells_select(rows), keys + list(CELL_SUMS)),
            (ReportFrt, frt_select(rows), keys + ["bucket", "tickets"]),
            (ReportCanned, canned_select(pairs, rows), keys + ["reply_id", "tickets", "ratings",
                                                               "rating_sum", "positive"])):
        db.session.execute(insert(model).from_select(columns, stmt))


def _serve(customers: list[int] | None) -> None:
    """Replace the report_served rows of `customers` (None: everyone) by fresh ones."""
    conditions = [] if customers is None else [Ticket.customer_id.in_(customers)]
    clear = delete(ReportServed)
    if customers is not None:
        clear = clear.where(ReportServed.customer_id.in_(customers))
    db.session.execute(clear)
    stmt = served_select(conditions)
    db.session.execute(insert(ReportServed).from_select([c.key for c in stmt.selected_columns], stmt))
