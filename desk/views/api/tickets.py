"""GET /api/v1/tickets (filters on SLA state, status, channel, assignee; cursor pages) and one ticket."""
from datetime import datetime
from typing import Literal

from flask import g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from desk.channels.accounts import PLATFORMS, Channel
from desk.core.clock import now as clock_now
from desk.core.errors import problem
from desk.core.extensions import db
from desk.core.types import MAX_ID
from desk.inbox.actions import last_message_id
from desk.inbox.tickets import STATUSES, Ticket
from desk.sla.board import sla_condition
from desk.sla.clocks import clocks_of, current_state
from desk.views.access import token_required, token_scope
from desk.views.api.base import bp, decode_cursor, id_page
from desk.views.api.spec import document

SlaFilter = Literal["on_track", "at_risk", "breached", "met", "late", "waived"]


def _is_id(value: str) -> bool:
    """ASCII digits that fit an id column (str.isdigit alone accepts '²' and 10**30)."""
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


class TicketQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt filter is an error, not "no filter"
    sla: SlaFilter | None = None
    status: Literal["open", "pending", "resolved"] | None = None
    channel: str | None = Field(None, description="a channel id or a platform name")
    assignee: str | None = Field(None, description="a user id, 'none' or 'me'")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value):
        if value is not None and not _is_id(value) and value not in PLATFORMS:
            raise ValueError(f"must be a channel id or one of {', '.join(PLATFORMS)}")
        return value

    @field_validator("assignee")
    @classmethod
    def _assignee(cls, value):
        if value is not None and not _is_id(value) and value not in ("none", "me"):
            raise ValueError("must be a user id, 'none' or 'me'")
        return value


class ClockOut(BaseModel):
    kind: str
    cycle: int
    state: str
    policy_id: int | None
    target_minutes: int
    business_hours: bool
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    warned_at: datetime | None
    breached_at: datetime | None
    breach_detected_at: datetime | None
    replied_at: datetime | None
    replied_by_id: int | None
    waived_at: datetime | None


class SlaOut(BaseModel):
    state: str | None = Field(description="live state at the time of the request")
    recorded_state: str | None = Field(description="state as last recorded (may lag one sweep)")
    policy_id: int | None
    due_at: datetime | None
    warn_at: datetime | None
    first_response_started_at: datetime | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    first_responder_id: int | None
    clocks: list[ClockOut] | None = None


class TicketOut(BaseModel):
    id: int
    reference: str
    status: str
    priority: str
    kind: str
    channel_id: int
    platform: str
    customer_id: int
    customer_name: str
    assignee_id: int | None
    subject: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    resolution_reason: str | None = None
    escalated: bool = False
    tags: list[str] = Field(default_factory=list)
    last_message_id: int | None = Field(None, description=(
        "one ticket only: the newest message's id; send it as last_seen_message_id with a "
        "reply (409 if someone replied after it)"))
    sla: SlaOut


class TicketPage(BaseModel):
    tickets: list[TicketOut]
    next_cursor: str | None


PARAMS = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
           "description": text} for name, text in (
    ("sla", "on_track | at_risk | breached | met | late | waived (live, at request time)"),
    ("status", " | ".join(STATUSES)), ("channel", "channel id or platform name"),
    ("assignee", "user id, none or me"), ("limit", "1-200, default 50"),
    ("cursor", "next_cursor from the previous page"))]
TICKET_EXAMPLE = {
    "id": 7, "reference": "T-000007", "status": "open", "priority": "normal", "kind": "dm",
    "channel_id": 1, "platform": "facebook", "customer_id": 3, "customer_name": "Lucía Pérez",
    "assignee_id": 5, "subject": "¿Dónde está mi pedido?", "created_at": "2026-11-02T10:00:00Z",
    "updated_at": "2026-11-02T10:03:00Z", "resolved_at": None, "resolution": None,
    "resolution_reason": None, "escalated": False, "tags": ["orders"], "last_message_id": 41,
    "sla": {"state": "on_track", "recorded_state": "on_track", "policy_id": 1,
            "due_at": "2026-11-02T11:00:00Z", "warn_at": "2026-11-02T10:45:00Z",
            "first_response_started_at": "2026-11-02T10:00:00Z",
            "first_response_due_at": "2026-11-02T11:00:00Z", "first_response_at": None,
            "first_responder_id": None, "clocks": []}}
document("/tickets", "get", "Tickets with their SLA clock fields, newest first",
         response=TicketPage, parameters=PARAMS, errors=(400, 401, 422), scope="read",
         response_example={"tickets": [{k: v for k, v in TICKET_EXAMPLE.items()
                                        if k != "last_message_id"}], "next_cursor": "dDo3"})
document("/tickets/{ticket_id}", "get", "One ticket with every SLA clock", response=TicketOut,
         parameters=[{"name": "ticket_id", "in": "path", "required": True,
                      "schema": {"type": "integer"}}], errors=(401, 404), scope="read",
         response_example=TICKET_EXAMPLE)


def ticket_out(ticket: Ticket, now: datetime, with_clocks: bool = False) -> dict:
    sla = SlaOut(state=current_state(ticket, now), recorded_state=ticket.sla_state,
                 policy_id=ticket.sla_policy_id, due_at=ticket.sla_due_at, warn_at=ticket.sla_warn_at,
                 first_response_started_at=ticket.first_response_started_at,
                 first_response_due_at=ticket.first_response_due_at,
                 first_response_at=ticket.first_response_at,
                 first_responder_id=ticket.first_responder_id,
                 clocks=[ClockOut.model_validate(c, from_attributes=True) for c in clocks_of(ticket.id)]
                 if with_clocks else None)
    return TicketOut(id=ticket.id, reference=ticket.reference, status=ticket.status,
                     priority=ticket.priority, kind=ticket.kind, channel_id=ticket.channel_id,
                     platform=ticket.channel.platform, customer_id=ticket.customer_id,
                     customer_name=ticket.customer.display_name, assignee_id=ticket.assignee_id,
                     subject=ticket.subject, created_at=ticket.created_at,
                     updated_at=ticket.updated_at, resolved_at=ticket.resolved_at,
                     resolution=ticket.resolution, resolution_reason=ticket.resolution_reason,
                     escalated=ticket.escalated, tags=[t.name for t in ticket.tags],
                     last_message_id=last_message_id(ticket.id) if with_clocks else None,
                     sla=sla).model_dump(
        mode="json", exclude=None if with_clocks else {"sla": {"clocks"}, "last_message_id": True})


def _filtered(query: TicketQuery, now: datetime):
    stmt = select(Ticket)
    if query.sla:
        stmt = stmt.where(sla_condition(query.sla, now))
    if query.status:
        stmt = stmt.where(Ticket.status == query.status)
    if query.channel:
        stmt = stmt.where(Ticket.channel_id == int(query.channel)) if _is_id(query.channel) else \
            stmt.where(Ticket.channel_id.in_(select(Channel.id).where(Channel.platform == query.channel)))
    if query.assignee == "none":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif query.assignee:
        me = g.api_token.user_id if query.assignee == "me" else int(query.assignee)
        stmt = stmt.where(Ticket.assignee_id == me)
    return stmt


@bp.get("/tickets")
@token_required
@token_scope("read")
def list_tickets():
    try:
        query = TicketQuery.model_validate(request.args.to_dict())
        after = decode_cursor("t", query.cursor)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                   for e in exc.errors(include_url=False, include_input=False)]
        return problem(422, "invalid filter", details=details)
    except ValueError as exc:
        return problem(400, str(exc))
    now = clock_now()
    stmt = _filtered(query, now)
    stmt = stmt.options(selectinload(Ticket.channel), selectinload(Ticket.customer),
                        selectinload(Ticket.tags))
    rows, cursor = id_page(stmt, Ticket.id, query.limit, after, "t", newest_first=True)
    return jsonify({"tickets": [ticket_out(t, now) for t in rows], "next_cursor": cursor})


@bp.get("/tickets/<int:ticket_id>")
@token_required
@token_scope("read")
def get_ticket(ticket_id):
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return problem(404, f"no ticket {ticket_id}")
    return jsonify(ticket_out(ticket, clock_now(), with_clocks=True))
