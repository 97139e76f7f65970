"""The report's figures per (UTC day, channel, agent), and the per-ticket rows they add up.

`ticket_rows` turns tickets into one row each (what the ticket counts for: answered, met,
late, waived, due time if unanswered, first-response time and bucket, survey sent, rating);
the roll-up stores these rows (report_ticket) and their sums per day (report_cell). A report
adds up stored rows and live rows with the same `cells_select`, so the roll-up and a live
query cannot disagree.

Every figure is a count or an exact sum (first-response times in whole microseconds,
ratings as integers), so rows add up across days, channels and agents without rounding.
First-response percentiles come from a histogram (FRT_BUCKET_NOTE says how fine).
"""
from sqlalchemy import and_, case, func, literal, not_, or_, select

from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Ticket
from desk.reports.periods import ReportFilter
from desk.routing.models import TeamMember
from desk.reports.sql import floor_div, micros_between, utc_day

NO_AGENT = 0  # agent key of tickets nobody answered or was assigned (ids start at 1)
FRT_BUCKET_NOTE = "to the second under a minute, to the minute under a day, to the hour beyond"
CELL_SUMS = ("volume", "answered", "waived", "met", "late", "unanswered_due", "frt_count",
             "frt_micros", "surveys_sent", "surveys_answered", "positive", "rating_sum")
SUMS = (*CELL_SUMS, "breached")  # a cell's values as a report adds them, in this order
# The per-ticket row: what report_ticket stores and ticket_rows computes.
TICKET_ROW = ("ticket_id", "created_at", "day", "channel_id", "agent_id", "answered", "waived",
              "met", "late", "due_at", "frt_micros", "bucket", "sent", "rating")


def agent_column():
    """Who a ticket counts for: the agent who answered first, else the assignee, else NO_AGENT."""
    return func.coalesce(Ticket.first_responder_id, Ticket.assignee_id, NO_AGENT)


def period_conditions(f: ReportFilter) -> list:
    """SQL conditions on Ticket: opened in the period, on the channel, for the agent."""
    conditions = [Ticket.created_at >= f.start, Ticket.created_at < f.end]
    return conditions + filter_conditions(f, Ticket.channel_id, agent_column())


def filter_conditions(f: ReportFilter, channel, agent) -> list:
    """The channel, agent and team filters of `f` on the given columns."""
    return ([channel == f.channel_id] if f.channel_id else []) + \
        ([agent == f.agent_id] if f.agent_id else []) + \
        ([agent.in_(select(TeamMember.user_id).where(TeamMember.team_id == f.team_id))]
         if f.team_id else [])


def in_ranges(column, ranges: list[tuple]) -> object:
    """SQL: `column` falls in one of the half-open [low, high) ranges."""
    return or_(*[and_(column >= low, column < high) for low, high in ranges])


def answered():
    return Ticket.first_response_at.is_not(None)


def waived():
    """Resolved as "no reply needed" without a reply: left out of attainment."""
    return and_(not_(answered()), Ticket.sla_state == "waived")


def unanswered_due():
    """Not answered, not waived, with a due time: breached once the due time has passed."""
    not_waived = or_(Ticket.sla_state.is_(None), Ticket.sla_state != "waived")
    return and_(not_(answered()), not_waived, Ticket.first_response_due_at.is_not(None))


def frt_micros():
    """The first-response time in microseconds; NULL when unanswered or the clock never ran."""
    return case((and_(answered(), Ticket.first_response_started_at.is_not(None)),
                 micros_between(Ticket.first_response_at, Ticket.first_response_started_at)),
                else_=None)


def frt_bucket(us):
    """The histogram bucket of a first-response time `us` (microseconds): its lower bound
    in whole seconds."""
    return case((us < 60_000_000, floor_div(us, 1_000_000)),
                (us < 86_400_000_000, floor_div(us, 60_000_000) * 60),
                else_=floor_div(us, 3_600_000_000) * 3600)


def _flag(condition):
    return case((condition, 1), else_=0)


def ticket_rows(conditions: list):
    """One TICKET_ROW per ticket matching `conditions` (on Ticket), as a subquery. OFFSET 0
    keeps the planner from pulling it up, which would compute the time difference once per
    use instead of once."""
    replied_by_due = Ticket.first_response_at <= Ticket.first_response_due_at
    inner = select(
        Ticket.id.label("ticket_id"), Ticket.created_at.label("created_at"),
        utc_day(Ticket.created_at).label("day"), Ticket.channel_id.label("channel_id"),
        agent_column().label("agent_id"), _flag(answered()).label("answered"),
        _flag(waived()).label("waived"), _flag(and_(answered(), replied_by_due)).label("met"),
        _flag(and_(answered(), ~replied_by_due)).label("late"),
        case((unanswered_due(), Ticket.first_response_due_at), else_=None).label("due_at"),
        frt_micros().label("frt_micros"), _flag(Survey.state == "sent").label("sent"),
        Survey.rating.label("rating")) \
        .select_from(Ticket).outerjoin(Survey, Survey.ticket_id == Ticket.id) \
        .where(*conditions).offset(0).subquery()
    columns = [inner.c[name] if name != "bucket" else frt_bucket(inner.c.frt_micros).label("bucket")
               for name in TICKET_ROW]
    return select(*columns).subquery()


def canned_pairs(conditions: list):
    """(ticket_id, reply_id) for each canned reply a matching ticket's replies used."""
    return select(Message.ticket_id.label("ticket_id"), Message.canned_reply_id.label("reply_id")) \
        .join(Ticket, Ticket.id == Message.ticket_id) \
        .where(*conditions, Message.direction == "out", Message.canned_reply_id.is_not(None)) \
        .distinct()


def _signed(columns: list, sign: int | None) -> list:
    return columns + ([literal(sign).label("sign")] if sign is not None else [])


def cells_select(rows, now=None, by_day: bool = True, by_bucket: bool = False, sign: int | None = None):
    """Sums of the per-ticket `rows` (TICKET_ROW columns) per (day, channel, agent): the
    CELL_SUMS, and with `now` the SUMS (breached: unanswered past their due time then).
    `by_bucket` splits by first-response bucket (NULL: none), which gives the histogram
    from the same scan; `sign` is a constant column to add or take away rows by."""
    keys = ([rows.c.day] if by_day else []) + [rows.c.channel_id, rows.c.agent_id] + \
        ([rows.c.bucket] if by_bucket else [])
    sums = [func.count().label("volume"), func.sum(rows.c.answered).label("answered"),
            func.sum(rows.c.waived).label("waived"), func.sum(rows.c.met).label("met"),
            func.sum(rows.c.late).label("late"), func.count(rows.c.due_at).label("unanswered_due"),
            func.count(rows.c.frt_micros).label("frt_count"),
            func.coalesce(func.sum(rows.c.frt_micros), 0).label("frt_micros"),
            func.sum(rows.c.sent).label("surveys_sent"), func.count(rows.c.rating).label("surveys_answered"),
            func.coalesce(func.sum(_flag(rows.c.rating >= 4)), 0).label("positive"),
            func.coalesce(func.sum(rows.c.rating), 0).label("rating_sum")]
    if now is not None:
        sums.append(func.coalesce(func.sum(_flag(rows.c.due_at <= now)), 0).label("breached"))
    return select(*_signed([*keys, *sums], sign)).group_by(*keys)


def frt_select(rows, by_day: bool = True, sign: int | None = None):
    """First-response histogram of the per-ticket `rows`: (day,) channel, agent, bucket, tickets."""
    keys = ([rows.c.day] if by_day else []) + [rows.c.channel_id, rows.c.agent_id, rows.c.bucket]
    return select(*_signed([*keys, func.count().label("tickets")], sign)) \
        .where(rows.c.bucket.is_not(None)).group_by(*keys)


def canned_select(pairs, rows, by_day: bool = True, sign: int | None = None):
    """Canned replies per ((day,) channel, agent, reply): tickets that used it (a ticket once
    however often it was sent) and the ratings of those tickets, from (ticket, reply)
    `pairs` and per-ticket `rows`."""
    keys = ([rows.c.day] if by_day else []) + [rows.c.channel_id, rows.c.agent_id, pairs.c.reply_id]
    sums = [func.count().label("tickets"), func.count(rows.c.rating).label("ratings"),
            func.coalesce(func.sum(rows.c.rating), 0).label("rating_sum"),
            func.coalesce(func.sum(_flag(rows.c.rating >= 4)), 0).label("positive")]
    return select(*_signed([*keys, *sums], sign)) \
        .select_from(pairs).join(rows, rows.c.ticket_id == pairs.c.ticket_id).group_by(*keys)
