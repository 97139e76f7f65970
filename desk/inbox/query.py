"""The inbox list: validated parameters, views, filters, search, urgency order, keyset pages.

Every request parameter goes through `parse_params` (a whitelist; anything else is a
DeskError -> 400). Pages are keyset-paginated: a cursor names the last row's sort key, so
page 400 costs what page 1 costs. A search for a rare word names its few tickets
(inbox_search); a common word is tried on tickets in list order, a window at a time, and a
page tries at most SCAN_LIMIT of them: then it stops short, says so, and its cursor goes on
from the last ticket tried. `change_stamp` is a few index lookups, so an unchanged list can
be answered without running the list query at all.
"""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import and_, func, literal_column, not_, select, true, tuple_
from sqlalchemy.orm import joinedload, selectinload

from desk.channels.accounts import KINDS, PLATFORMS, Channel
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.customers.models import Customer
from desk.inbox import search as inbox_search
from desk.inbox.snooze import asleep, awake
from desk.inbox.tickets import (
    PRIORITIES,
    RUNNING_CLOCK_SQL,
    STATUSES,
    Message,
    Tag,
    Ticket,
    ticket_tags,
)

VIEWS = ("open", "mine", "unassigned", "at_risk", "breached", "escalated", "waiting", "snoozed",
         "resolved")
# The views agents work from: snoozed tickets leave them until they wake.
WORKING_VIEWS = ("open", "mine", "unassigned", "at_risk", "breached", "escalated", "waiting")
SORTS = ("urgency", "newest", "oldest")
PAGE_SIZE = 25
# A search that tests tickets one by one (a common word) tries at most this many per page,
# then offers to search further: the cost of a page stays bounded whatever the word.
SCAN_LIMIT = 400
FIRST_WINDOW = 150
_CURSOR = re.compile(r"^([0-2])\.(\d{1,20})\.(\d{1,12})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InboxParams(BaseModel):
    """One inbox request: a view, filters, a search, a sort and a page cursor."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    view: Literal[VIEWS] = "open"
    channel: int | None = Field(None, ge=1, le=2_000_000_000)
    platform: Literal[PLATFORMS] | None = None
    kind: Literal[KINDS] | None = None
    status: Literal[STATUSES] | None = None
    priority: Literal[PRIORITIES] | None = None
    tag: str | None = Field(None, max_length=60, pattern=r"^[\w][\w\- ]*$")
    language: str | None = Field(None, pattern=r"^[a-z]{2}$")
    assignee: str | None = Field(None, pattern=r"^(me|none|[1-9]\d{0,9})$")
    vip: bool | None = None
    q: str | None = Field(None, max_length=200)
    sort: Literal[SORTS] = "urgency"
    cursor: str | None = Field(None, max_length=50)

    @field_validator("q")
    @classmethod
    def _no_nul(cls, value):
        if value is not None and "\x00" in value:  # no database takes it in a text parameter
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor_shape(cls, value):
        if value is not None and not _CURSOR.match(value):
            raise ValueError("not a page cursor from this inbox")
        return value

    def args(self, **changes) -> dict:
        """The non-default parameters as URL arguments (for links, polls and pushed URLs)."""
        data = self.model_dump(exclude_defaults=True) | changes
        return {k: ("true" if v is True else "false" if v is False else v)
                for k, v in data.items() if v is not None}

    @property
    def filtered(self) -> bool:
        return any(getattr(self, name) is not None for name in FILTERS)


FILTERS = ("channel", "platform", "kind", "status", "priority", "tag", "language", "assignee",
           "vip", "q")
PARAM_NAMES = set(InboxParams.model_fields)


def parse_params(args, ignore=()) -> InboxParams:
    """Validate request arguments (a MultiDict); DeskError (400) names what is wrong."""
    unknown = sorted(set(args) - PARAM_NAMES - set(ignore))
    if unknown:
        raise DeskError(_("Unknown parameter: %(names)s", names=", ".join(unknown)[:100]))
    data = {}
    for key in PARAM_NAMES & set(args):
        values = args.getlist(key)
        if len(values) != 1:
            raise DeskError(_("Parameter %(name)s must be given once", name=key))
        if values[0].strip() != "":
            data[key] = values[0]
    try:
        return InboxParams.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors(include_url=False, include_input=False))
        raise DeskError(_("Invalid inbox request: %(problems)s", problems=problems)) from None


@dataclass
class Page:
    tickets: list
    next_cursor: str | None
    previews: dict  # ticket id -> (direction, text) of the last message
    partial: bool = False  # a search stopped after SCAN_LIMIT tickets: more may match further on


@dataclass
class _Segment:
    """One stretch of the order: rows matching `where`, walked along (`column`, id)."""

    where: object
    column: object
    descending: bool


def _running():
    # Same literal text as the partial index's predicate, so PostgreSQL can use the index.
    return literal_column(RUNNING_CLOCK_SQL)


def _conditions(p: InboxParams, user_id: int, now: datetime) -> list:
    live = Ticket.status.in_(("open", "pending"))
    views = {
        "open": [Ticket.status == "open"],
        "mine": [Ticket.assignee_id == user_id, live],
        "unassigned": [Ticket.assignee_id.is_(None), Ticket.status == "open"],
        "at_risk": [live, _running(), Ticket.sla_warn_at <= now, Ticket.sla_due_at > now],
        "breached": [live, _running(), Ticket.sla_due_at <= now],
        "escalated": [live, Ticket.escalated.is_(True)],
        "waiting": [Ticket.status == "pending"],
        "snoozed": [live, asleep(now)],
        "resolved": [Ticket.status == "resolved"],
    }
    where = list(views[p.view]) + ([awake(now)] if p.view in WORKING_VIEWS else [])
    simple = {"channel": Ticket.channel_id, "kind": Ticket.kind, "status": Ticket.status,
              "priority": Ticket.priority, "language": Ticket.language}
    where += [column == getattr(p, name) for name, column in simple.items()
              if getattr(p, name) is not None]
    if p.platform:
        where.append(Ticket.channel_id.in_(select(Channel.id).where(Channel.platform == p.platform)))
    if p.tag:
        where.append(Ticket.id.in_(select(ticket_tags.c.ticket_id).join(Tag).where(
            Tag.name == p.tag.lower())))
    if p.assignee == "me":
        where.append(Ticket.assignee_id == user_id)
    elif p.assignee == "none":
        where.append(Ticket.assignee_id.is_(None))
    elif p.assignee:
        where.append(Ticket.assignee_id == int(p.assignee))
    if p.vip is not None:
        vips = select(Customer.id).where(Customer.vip.is_(True))
        where.append(Ticket.customer_id.in_(vips) if p.vip else Ticket.customer_id.not_in(vips))
    return where


def _segments(p: InboxParams) -> list[_Segment]:
    if p.sort == "newest":
        return [_Segment(true(), Ticket.created_at, True)]
    if p.sort == "oldest":
        return [_Segment(true(), Ticket.created_at, False)]
    if p.view == "resolved":
        return [_Segment(Ticket.resolved_at.is_not(None), Ticket.resolved_at, True)]
    # Most urgent first: running clocks by due time (so breached ones lead), then the rest
    # (replied, waived, no clock) by their latest change.
    running = and_(_running(), Ticket.sla_due_at.is_not(None))
    segments = [_Segment(running, Ticket.sla_due_at, False)]
    if p.view not in ("at_risk", "breached"):
        segments.append(_Segment(not_(running) | Ticket.sla_state.is_(None) | Ticket.sla_due_at.is_(None),
                                 Ticket.updated_at, True))
    return segments


def encode_cursor(segment: int, at: datetime, ticket_id: int) -> str:
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return f"{segment}.{micros}.{ticket_id}"


def decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    segment, micros, ticket_id = _CURSOR.match(cursor).groups()
    try:
        at = _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        raise DeskError(_("Invalid inbox request: cursor: not a page cursor from this inbox")) from None
    return int(segment), at, int(ticket_id)


def page(p: InboxParams, user_id: int, now: datetime, limit: int = PAGE_SIZE) -> Page:
    """One page of tickets for `p`, most urgent first, with the cursor of the next page."""
    where = _conditions(p, user_id, now)
    search = inbox_search.condition(p.q) if p.q else None
    if search and search.condition is not None:
        where.append(search.condition)  # names its few tickets: one query per segment
    test = search.among if search else None
    segments = _segments(p)
    start, after = _start(p.cursor, len(segments))
    rows: list[tuple[int, int, datetime]] = []  # (segment, ticket id, sort key)
    budget, tried, stopped_at = SCAN_LIMIT, None, None
    for index in range(start, len(segments)):
        segment, bound = segments[index], after if index == start else None
        need = limit + 1 - len(rows)
        if test is None:
            found = _keys(where, segment, bound, need)
        elif budget == 0:  # a page's worth of tickets tried: go on later from the last one
            stopped_at = tried
            break
        else:
            found, bound, budget, ended = _tested(where, test, segment, bound, need, budget)
            tried = encode_cursor(index, *bound) if bound else tried
            if not ended and len(found) < need:
                stopped_at = tried
        rows += [(index, ticket_id, key) for ticket_id, key in found]
        if len(rows) > limit or stopped_at:
            break
    cursor = stopped_at
    if len(rows) > limit:
        rows = rows[:limit]
        index, ticket_id, key = rows[-1]
        cursor = encode_cursor(index, key, ticket_id)
    tickets = _load([ticket_id for _index, ticket_id, _key in rows])
    return Page(tickets, cursor, last_messages([t.id for t in tickets]), partial=stopped_at is not None)


def _start(cursor: str | None, segments: int) -> tuple[int, tuple | None]:
    """The segment a cursor points into, and the (sort key, ticket id) it continues after."""
    if not cursor:
        return 0, None
    start, at, ticket_id = decode_cursor(cursor)
    if start >= segments:
        raise DeskError(_("Invalid inbox request: cursor: not a page cursor from this inbox"))
    return start, (at, ticket_id)


def _keys(where: list, segment: _Segment, after: tuple | None, n: int) -> list:
    """The next `n` (ticket id, sort key) rows of `segment` after the key `after`."""
    query = select(Ticket.id, segment.column).where(*where, segment.where)
    if after is not None:
        key = tuple_(segment.column, Ticket.id)
        query = query.where(key < tuple_(*after) if segment.descending else key > tuple_(*after))
    order = (segment.column.desc(), Ticket.id.desc()) if segment.descending else (
        segment.column.asc(), Ticket.id.asc())
    return [tuple(row) for row in db.session.execute(query.order_by(*order).limit(n))]


def _tested(where, test, segment, after, need, budget) -> tuple[list, tuple | None, int, bool]:
    """Up to `need` rows of `segment` that `test` passes, tried in list order a window of
    tickets at a time (so no planner can pick another order). Returns (rows,
    last key tried, budget left, whether the segment ended); stops after `budget` tickets."""
    found, size = [], FIRST_WINDOW
    while len(found) < need and budget > 0:
        asked = min(size, budget)
        window = _keys(where, segment, after, asked)
        budget -= len(window)
        if window:
            passed = test([ticket_id for ticket_id, _key in window])
            found += [row for row in window if row[0] in passed][:need - len(found)]
            after = (window[-1][1], window[-1][0])
        if len(window) < asked:
            return found, after, budget, True
        # Size the next window from this one's hit rate: few wasted tests, few round trips.
        size = min(size * 4, max(FIRST_WINDOW, (need - len(found)) * len(window) // max(len(passed), 1)))
    return found, after, budget, False


def _load(ticket_ids: list[int]) -> list[Ticket]:
    """The tickets with what a row shows, in the order of `ticket_ids`."""
    if not ticket_ids:
        return []
    tickets = db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).options(
        joinedload(Ticket.channel), joinedload(Ticket.customer), joinedload(Ticket.assignee),
        selectinload(Ticket.tags))).unique().all()
    by_id = {ticket.id: ticket for ticket in tickets}
    return [by_id[ticket_id] for ticket_id in ticket_ids if ticket_id in by_id]


def last_messages(ticket_ids: list[int]) -> dict:
    """Ticket id -> (direction, text) of its latest message, in one query."""
    if not ticket_ids:
        return {}
    ranked = select(Message.ticket_id, Message.direction, Message.text,
                    func.row_number().over(partition_by=Message.ticket_id,
                                           order_by=Message.id.desc()).label("rank")
                    ).where(Message.ticket_id.in_(ticket_ids)).subquery()
    rows = db.session.execute(select(ranked.c.ticket_id, ranked.c.direction, ranked.c.text)
                              .where(ranked.c.rank == 1))
    return {ticket_id: (direction, text) for ticket_id, direction, text in rows}


def change_stamp(p: InboxParams, now: datetime, presence: str = "") -> str:
    """A short string that moves whenever the list could look different (index-only reads)."""
    ticket_at, ticket_id, message_id = db.session.execute(select(
        select(func.max(Ticket.updated_at)).scalar_subquery(),
        select(func.max(Ticket.id)).scalar_subquery(),
        select(func.max(Message.id)).scalar_subquery())).one()
    stamp = f"{ticket_at.timestamp() if ticket_at else 0:.6f}-{ticket_id or 0}-{message_id or 0}"
    if p.view in ("at_risk", "breached"):
        # Membership of these views moves with the clock alone: refresh once a minute.
        stamp += f"-{int(now.timestamp() // 60)}"
    return f"{stamp}-{presence}" if presence else stamp
