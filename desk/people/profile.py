"""The customer page's content: one person's identities, tickets and messages on every
channel in time order, satisfaction, retention, activity, notes, tags and merges. Reads only;
each list is one bounded query, so a customer with thousands of tickets costs what one with
ten does."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import contains_eager, selectinload

from desk.accounts.users import User
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerMerge, CustomerNote
from desk.feedback.activity import ActivityEvent
from desk.inbox.tickets import Message, Ticket
from desk.people.merge import merges_of
from desk.reports.retention import WINDOW_DAYS, served_select

TIMELINE_PAGE = 40
TICKETS_PAGE = 25
ACTIVITY_SHOWN = 20
NOTES_SHOWN = 50


@dataclass
class RetentionStatus:
    state: str  # none (never served), open (window running), retained, lost
    resolved_at: datetime | None = None  # the last served ticket's resolution
    window_ends: datetime | None = None


@dataclass
class CustomerFile:
    customer: Customer
    ticket_count: int
    open_count: int
    tickets: list[Ticket]
    timeline: list[Message]
    timeline_more: str | None  # cursor of the next (older) page, None at the start
    retention: RetentionStatus
    activity: list[ActivityEvent]
    activity_count: int
    notes: list[tuple[CustomerNote, User | None]]
    merges: list[CustomerMerge] = field(default_factory=list)


def timeline(customer_id: int, before: tuple[datetime, int] | None = None,
             limit: int = TIMELINE_PAGE) -> tuple[list[Message], str | None]:
    """The customer's messages on every ticket (theirs and the brand's), newest first, with
    each one's ticket and channel; the cursor of the next page or None."""
    query = (select(Message).join(Ticket, Message.ticket_id == Ticket.id)
             .where(Ticket.customer_id == customer_id)
             .options(contains_eager(Message.ticket).joinedload(Ticket.channel))
             .order_by(Message.sent_at.desc(), Message.id.desc()).limit(limit + 1))
    if before is not None:
        query = query.where(tuple_(Message.sent_at, Message.id) < tuple_(*before))
    rows = list(db.session.scalars(query).unique())
    more = None
    if len(rows) > limit:
        rows = rows[:limit]
        more = f"{rows[-1].sent_at.isoformat()}_{rows[-1].id}"
    return rows, more


def parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """A timeline cursor back to (sent_at, id); None when blank or malformed."""
    try:
        sent_at, message_id = (value or "").rsplit("_", 1)
        moment = datetime.fromisoformat(sent_at)
        return (moment, int(message_id)) if moment.tzinfo else None
    except ValueError:
        return None


def retention_status(customer_id: int, now: datetime) -> RetentionStatus:
    """Whether the customer came back within the window after their last served ticket, as
    the service report counts it (desk/reports/retention.py)."""
    served = served_select([Ticket.customer_id == customer_id]).subquery()
    last = db.session.execute(select(served.c.resolved_at, served.c.came_back)
                              .order_by(served.c.resolved_at.desc()).limit(1)).first()
    if last is None:
        return RetentionStatus("none")
    ends = last.resolved_at + timedelta(days=WINDOW_DAYS)
    state = "retained" if last.came_back else ("lost" if ends <= now else "open")
    return RetentionStatus(state, last.resolved_at, ends)


def customer_file(customer: Customer, now: datetime, *, tickets_page: int = 1) -> CustomerFile:
    """Everything the customer page shows about `customer` (a live one)."""
    counts = db.session.execute(select(func.count(), func.count().filter(Ticket.status != "resolved"))
                                .where(Ticket.customer_id == customer.id)).one()
    tickets = list(db.session.scalars(
        select(Ticket).where(Ticket.customer_id == customer.id)
        .options(selectinload(Ticket.channel), selectinload(Ticket.assignee))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .offset((max(tickets_page, 1) - 1) * TICKETS_PAGE).limit(TICKETS_PAGE)))
    messages, more = timeline(customer.id)
    activity = list(db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.customer_id == customer.id)
        .order_by(ActivityEvent.occurred_at.desc()).limit(ACTIVITY_SHOWN)))
    activity_count = db.session.scalar(select(func.count()).select_from(ActivityEvent)
                                       .where(ActivityEvent.customer_id == customer.id))
    notes = list(db.session.execute(
        select(CustomerNote, User).outerjoin(User, User.id == CustomerNote.author_id)
        .where(CustomerNote.customer_id == customer.id)
        .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc()).limit(NOTES_SHOWN)))
    return CustomerFile(customer, counts[0], counts[1], tickets, messages, more,
                        retention_status(customer.id, now), activity, activity_count, notes,
                        merges_of(customer.id))
