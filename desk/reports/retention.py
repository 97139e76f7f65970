"""Retention (docs/architecture.md, Retention): did the customers we served come back within 90 days?

A customer counts once per report, through their last resolved ticket in the scope. They are
retained if they show any activity in the 90 days after that resolution: a new message on
any channel or an activity event. While those 90 days are not over and nothing happened
yet, the customer is "open": shown apart, never counted as lost. Rates use closed windows
only, so a recent period is not flattered by the early returners.

Whether a customer came back after a ticket is the costly part (a look-up per ticket in the
messages and the activity events): the roll-up keeps it per ticket in report_served, and a
report reads it from there for every customer without a change since the last refresh
(desk/reports/rollup.py); the others, and every customer before the first refresh, are
computed here live by the same `served_select`.
"""
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on

from desk.core.extensions import db
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Ticket
from desk.reports.cells import agent_column, answered, filter_conditions, period_conditions, waived
from desk.reports.periods import ReportFilter
from desk.reports.rollup import ReportServed, report_dirty_customer
from desk.reports.sql import dialect, window_closed, within_days

WINDOW_DAYS = 90
COHORTS = ("within_target", "late", "never_answered")
BANDS = ("promoter", "neutral", "detractor", "no_rating")  # 4-5, 3, 1-2, not answered


@dataclass
class RetentionRow:
    group: str
    customers: int = 0
    retained: int = 0  # window closed, came back
    lost: int = 0  # window closed, no activity
    open: int = 0  # window still open, no activity yet
    open_returned: int = 0  # window still open, already came back
    rate: float | None = None  # retained / (retained + lost)


@dataclass
class Retention:
    window_days: int
    total: RetentionRow
    cohorts: list[RetentionRow] = field(default_factory=list)
    bands: list[RetentionRow] = field(default_factory=list)


def served_select(conditions: list):
    """Every resolved, not waived ticket matching `conditions` (on Ticket), as report_served
    stores it: cohort and band as indexes into COHORTS and BANDS, came_back 1 or 0."""
    cohort = case((~answered(), 2), (Ticket.first_response_at <= Ticket.first_response_due_at, 0),
                  else_=1)
    band = case((Survey.rating >= 4, 0), (Survey.rating == 3, 1), (Survey.rating.is_not(None), 2),
                else_=3)
    came_back = or_(
        # Automatic messages (a survey rating) are not a customer coming back.
        exists().where(Message.customer_id == Ticket.customer_id, Message.direction == "in",
                       Message.automatic.is_(False),
                       within_days(Message.sent_at, Ticket.resolved_at, WINDOW_DAYS)),
        exists().where(ActivityEvent.customer_id == Ticket.customer_id,
                       within_days(ActivityEvent.occurred_at, Ticket.resolved_at, WINDOW_DAYS)))
    return select(Ticket.id.label("ticket_id"), Ticket.customer_id.label("customer_id"),
                  Ticket.created_at.label("created_at"), Ticket.channel_id.label("channel_id"),
                  agent_column().label("agent_id"), Ticket.resolved_at.label("resolved_at"),
                  cohort.label("cohort"), band.label("band"),
                  case((came_back, 1), else_=0).label("came_back")) \
        .outerjoin(Survey, Survey.ticket_id == Ticket.id) \
        .where(*conditions, Ticket.resolved_at.is_not(None), ~waived())


_SERVED = ("customer_id", "ticket_id", "resolved_at", "cohort", "band", "came_back")


def _served_in_scope(f: ReportFilter, live: bool) -> list:
    """The scope's served tickets, as subqueries over disjoint sets of customers: from
    report_served, except customers changed since the last refresh (computed live); all live
    when `live` or before the first refresh. Disjoint, so their counts simply add up."""
    def fresh(conditions):
        rows = served_select(period_conditions(f) + conditions).subquery()
        return select(*[rows.c[name] for name in _SERVED]).subquery()
    if live:
        return [fresh([])]
    changed = select(report_dirty_customer.c.customer_id)
    stored = select(*[getattr(ReportServed, name) for name in _SERVED]).where(
        ReportServed.created_at >= f.start, ReportServed.created_at < f.end,
        *filter_conditions(f, ReportServed.channel_id, ReportServed.agent_id),
        ReportServed.customer_id.not_in(changed)).subquery()
    return [stored, fresh([Ticket.customer_id.in_(changed)])]


def _last_per_customer(served, now: datetime):
    """(cohort, band, came_back, window closed at `now`) of each customer's last served
    ticket in `served` (by resolution, then id)."""
    order = (served.c.resolved_at.desc(), served.c.ticket_id.desc())
    columns = (served.c.cohort, served.c.band, served.c.came_back,
               case((window_closed(served.c.resolved_at, now, WINDOW_DAYS), 1), else_=0).label("closed"))
    if dialect() == "postgresql":  # DISTINCT ON sorts once and keeps the first row: half the work
        return select(*columns).ext(distinct_on(served.c.customer_id)) \
            .order_by(served.c.customer_id, *order).subquery()
    rank = func.row_number().over(partition_by=served.c.customer_id, order_by=order)
    ranked = select(*columns, rank.label("rn")).subquery()
    return select(ranked).where(ranked.c.rn == 1).subquery()


def _counts(served, now: datetime) -> list[tuple]:
    """(cohort, band, customers, retained, lost, open, open_returned) per cohort and band."""
    last = _last_per_customer(served, now)
    keys = (last.c.cohort, last.c.band, last.c.closed, last.c.came_back)
    counts: dict[tuple, list[int]] = {}
    for cohort, band, closed, back, customers in db.session.execute(
            select(*keys, func.count()).group_by(*keys)):
        row = counts.setdefault((cohort, band), [0] * 5)
        row[0] += customers
        row[{(1, 1): 1, (1, 0): 2, (0, 0): 3, (0, 1): 4}[(closed, back)]] += customers
    return [(cohort, band, *row) for (cohort, band), row in counts.items()]


def _add(rows: dict, key: str, counts: tuple) -> None:
    row = rows.setdefault(key, RetentionRow(key))
    for name, value in zip(("customers", "retained", "lost", "open", "open_returned"), counts):
        setattr(row, name, getattr(row, name) + value)


def _rate(row: RetentionRow) -> RetentionRow:
    judged = row.retained + row.lost
    row.rate = round(row.retained / judged, 4) if judged else None
    return row


def retention(f: ReportFilter, now: datetime, live: bool = False) -> Retention:
    """Retention of the scope's served customers, by response cohort and by CSAT band
    (`live`: ignore the roll-up; the figures are the same)."""
    cohorts: dict = {}
    bands: dict = {}
    total = RetentionRow("all")
    rows = [row for served in _served_in_scope(f, live) for row in _counts(served, now)]
    for cohort, band, *counts in rows:
        _add(cohorts, COHORTS[cohort], counts)
        _add(bands, BANDS[band], counts)
        _add({"all": total}, "all", counts)
    return Retention(WINDOW_DAYS, _rate(total),
                     [_rate(cohorts.get(name, RetentionRow(name))) for name in COHORTS],
                     [_rate(bands.get(name, RetentionRow(name))) for name in BANDS])


def retention_dict(value: Retention) -> dict:
    return asdict(value)
