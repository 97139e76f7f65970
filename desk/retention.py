"""Retention (DESIGN.md): did the customers we served come back within 90 days?

A customer counts once per report, through their last resolved ticket in the scope. They are
retained if they show any activity in the 90 days after that resolution: a new message on
any channel or an activity event. While those 90 days are not over and nothing happened
yet, the customer is "open": shown apart, never counted as lost. Rates use closed windows
only, so a recent period is not flattered by the early returners.
"""
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, exists, func, or_, select

from desk.activity import ActivityEvent
from desk.extensions import db
from desk.feedback import Survey
from desk.reports.periods import ReportFilter
from desk.reports.sql import window_closed, within_days
from desk.tickets import Message, Ticket

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


def _served(f: ReportFilter):
    """Each customer's last resolved ticket in the scope, with its cohort and CSAT band."""
    from desk.reports.service import scope
    answered = Ticket.first_response_at.is_not(None)
    waived = and_(~answered, Ticket.sla_state == "waived")
    cohort = case((~answered, "never_answered"),
                  (Ticket.first_response_at <= Ticket.first_response_due_at, "within_target"),
                  else_="late")
    band = case((Survey.rating >= 4, "promoter"), (Survey.rating == 3, "neutral"),
                (Survey.rating.is_not(None), "detractor"), else_="no_rating")
    rank = func.row_number().over(partition_by=Ticket.customer_id,
                                  order_by=(Ticket.resolved_at.desc(), Ticket.id.desc()))
    ranked = select(Ticket.customer_id.label("customer_id"), Ticket.resolved_at.label("resolved_at"),
                    cohort.label("cohort"), band.label("band"), rank.label("rn")) \
        .outerjoin(Survey, Survey.ticket_id == Ticket.id) \
        .where(*scope(f), Ticket.resolved_at.is_not(None), ~waived).subquery()
    return select(ranked).where(ranked.c.rn == 1).subquery()


def _counts(served, now: datetime) -> list[tuple]:
    """(cohort, band, customers, retained, lost, open, open_returned): at most 12 rows."""
    came_back = or_(
        # Automatic messages (a survey rating) are not a customer coming back.
        exists().where(Message.customer_id == served.c.customer_id, Message.direction == "in",
                       Message.automatic.is_(False),
                       within_days(Message.sent_at, served.c.resolved_at, WINDOW_DAYS)),
        exists().where(ActivityEvent.customer_id == served.c.customer_id,
                       within_days(ActivityEvent.occurred_at, served.c.resolved_at, WINDOW_DAYS)))
    closed = window_closed(served.c.resolved_at, now, WINDOW_DAYS)
    # Materialized, so each customer's look-ups run once, not once per aggregate below.
    flags = select(served.c.cohort, served.c.band, case((came_back, 1), else_=0).label("back"),
                   case((closed, 1), else_=0).label("closed")).cte("retention_flags") \
        .prefix_with("MATERIALIZED", dialect="postgresql")
    total = lambda cond: func.coalesce(func.sum(case((cond, 1), else_=0)), 0)  # noqa: E731
    stmt = select(flags.c.cohort, flags.c.band, func.count(),
                  total((flags.c.closed == 1) & (flags.c.back == 1)),
                  total((flags.c.closed == 1) & (flags.c.back == 0)),
                  total((flags.c.closed == 0) & (flags.c.back == 0)),
                  total((flags.c.closed == 0) & (flags.c.back == 1))).group_by(flags.c.cohort, flags.c.band)
    return [tuple(row) for row in db.session.execute(stmt)]


def _add(rows: dict, key: str, counts: tuple) -> None:
    row = rows.setdefault(key, RetentionRow(key))
    for name, value in zip(("customers", "retained", "lost", "open", "open_returned"), counts):
        setattr(row, name, getattr(row, name) + value)


def _rate(row: RetentionRow) -> RetentionRow:
    judged = row.retained + row.lost
    row.rate = round(row.retained / judged, 4) if judged else None
    return row


def retention(f: ReportFilter, now: datetime) -> Retention:
    """Retention of the scope's served customers, by response cohort and by CSAT band."""
    cohorts: dict = {}
    bands: dict = {}
    total = RetentionRow("all")
    for cohort, band, *counts in _counts(_served(f), now):
        _add(cohorts, cohort, counts)
        _add(bands, band, counts)
        _add({"all": total}, "all", counts)
    return Retention(WINDOW_DAYS, _rate(total),
                     [_rate(cohorts.get(name, RetentionRow(name))) for name in COHORTS],
                     [_rate(bands.get(name, RetentionRow(name))) for name in BANDS])


def retention_dict(value: Retention) -> dict:
    return asdict(value)
