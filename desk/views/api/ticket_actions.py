"""What an agent does to a ticket, through the API as the token's user: claim, assign,
unassign, resolve (with a reason when no reply was needed), reopen, priority, tags,
escalations and their acknowledgement. Thin: the inbox and escalation services decide."""
from datetime import datetime
from typing import Literal

from flask import g, jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator

from desk.core.clock import now as clock_now
from desk.core.errors import NotFound
from desk.core.extensions import db
from desk.core.types import MAX_ID
from desk.escalation import escalations as escalation_service
from desk.inbox import actions as ticket_actions
from desk.inbox.tickets import PRIORITIES, Ticket
from desk.views.access import audit_actor, token_required, token_scope, token_user
from desk.views.api.base import agent_post, bp, optional_body, parse_body
from desk.views.api.conversation import TICKET_ID
from desk.views.api.spec import document
from desk.views.api.tickets import TICKET_EXAMPLE, TicketOut, ticket_out

SCOPE = "write:tickets"


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee_id: int | None = Field(ge=1, le=MAX_ID, description=(
        "a user id (team leads and above), the token's own user (a free ticket), or null"))


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    no_reply_reason: Literal[ticket_actions.NO_REPLY_REASONS] | None = Field(  # type: ignore[valid-type]
        None, description="resolve without a reply, and why (the SLA clock is waived); "
                          "omit when the customer was answered")
    detail: str = Field("", max_length=150, description="required with the reason 'other'")

    @model_validator(mode="after")
    def _detail(self):
        if self.detail and not self.no_reply_reason:
            raise ValueError("a detail goes with a no_reply_reason")
        return self


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: Literal[PRIORITIES]  # type: ignore[valid-type]


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = Field(min_length=1, max_length=60, description="letters, digits, spaces, dashes")


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal[escalation_service.MANUAL_REASONS]  # type: ignore[valid-type]
    level: Literal[1, 2] = Field(2, description="1: the team lead, 2: the SMM")
    note: str = Field("", max_length=2000)


class EscalationResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="how it was resolved")


class EscalationOut(BaseModel):
    id: int
    ticket_id: int
    reason: str
    level: int
    state: Literal["open", "acknowledged", "resolved"]
    note: str
    raised_by_id: int | None
    rule: str | None
    created_at: datetime
    ack_due_at: datetime
    acknowledged_by_id: int | None
    acknowledged_at: datetime | None
    resolved_by_id: int | None
    resolved_at: datetime | None
    resolution_note: str | None


class EscalationList(BaseModel):
    escalations: list[EscalationOut]


ESCALATION_EXAMPLE = {
    "id": 3, "ticket_id": 7, "reason": "legal", "level": 2, "state": "open",
    "note": "mentions a lawyer", "raised_by_id": 5, "rule": None,
    "created_at": "2026-11-02T10:06:00Z", "ack_due_at": "2026-11-02T10:21:00Z",
    "acknowledged_by_id": None, "acknowledged_at": None, "resolved_by_id": None,
    "resolved_at": None, "resolution_note": None}
ESCALATION_ID = {"name": "escalation_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 1}}


def _ticket_answer(ticket_id: int):
    ticket = db.session.get(Ticket, ticket_id)
    db.session.refresh(ticket)
    return jsonify(ticket_out(ticket, clock_now(), with_clocks=True))


def _action(path: str, summary: str, request=None, example=None, errors=(404,)):
    document(path, "post", summary, request=request, response=TicketOut,
             parameters=[TICKET_ID], errors=errors, scope=SCOPE, as_user=True, example=example,
             response_example=TICKET_EXAMPLE)


_action("/tickets/{ticket_id}/claim", "Take a free ticket (409 if someone else has it)")


@bp.post("/tickets/<int:ticket_id>/claim")
@agent_post(SCOPE)
def claim(ticket_id):
    ticket_actions.claim(ticket_id, g.api_token.user, clock_now(), by=audit_actor())
    return _ticket_answer(ticket_id)


_action("/tickets/{ticket_id}/assign", "Assign the ticket: team leads to anyone; an agent "
        "only takes a free ticket (403 otherwise)", AssignIn, {"assignee_id": 3})


@bp.post("/tickets/<int:ticket_id>/assign")
@agent_post(SCOPE)
def assign(ticket_id):
    body = parse_body(AssignIn)
    ticket_actions.assign(ticket_id, g.api_token.user, body.assignee_id, clock_now(),
                          by=audit_actor())
    return _ticket_answer(ticket_id)


_action("/tickets/{ticket_id}/unassign", "Unassign: team leads any ticket, an agent their own")


@bp.post("/tickets/<int:ticket_id>/unassign")
@agent_post(SCOPE)
def unassign(ticket_id):
    ticket_actions.assign(ticket_id, g.api_token.user, None, clock_now(), by=audit_actor())
    return _ticket_answer(ticket_id)


_action("/tickets/{ticket_id}/resolve", "Resolve: answered (no body), or without a reply "
        "and why (no_reply_reason; the SLA clock is waived)", ResolveIn,
        {"no_reply_reason": "spam"})


@bp.post("/tickets/<int:ticket_id>/resolve")
@agent_post(SCOPE)
def resolve(ticket_id):
    body = optional_body(ResolveIn)
    if body.no_reply_reason:
        ticket_actions.resolve_no_reply(ticket_id, g.api_token.user, body.no_reply_reason,
                                        clock_now(), detail=body.detail, by=audit_actor())
    else:
        ticket_actions.resolve(ticket_id, g.api_token.user, clock_now(), by=audit_actor())
    return _ticket_answer(ticket_id)


_action("/tickets/{ticket_id}/reopen", "Open a resolved ticket again")


@bp.post("/tickets/<int:ticket_id>/reopen")
@agent_post(SCOPE)
def reopen(ticket_id):
    ticket_actions.reopen(ticket_id, g.api_token.user, clock_now(), by=audit_actor())
    return _ticket_answer(ticket_id)


_action("/tickets/{ticket_id}/priority", "Set the priority", PriorityIn, {"priority": "high"})


@bp.post("/tickets/<int:ticket_id>/priority")
@agent_post(SCOPE)
def priority(ticket_id):
    body = parse_body(PriorityIn)
    ticket_actions.set_priority(ticket_id, g.api_token.user, body.priority, clock_now(),
                                by=audit_actor())
    return _ticket_answer(ticket_id)


_action("/tickets/{ticket_id}/tags", "Add a tag (made if new; lower-cased)", TagIn,
        {"tag": "refund"})


@bp.post("/tickets/<int:ticket_id>/tags")
@agent_post(SCOPE)
def add_tag(ticket_id):
    body = parse_body(TagIn)
    ticket_actions.add_tag(ticket_id, g.api_token.user, body.tag, clock_now(), by=audit_actor())
    return _ticket_answer(ticket_id)


document("/tickets/{ticket_id}/tags/{tag}", "delete", "Remove a tag (by name) from the ticket",
         response=TicketOut, parameters=[TICKET_ID, {
             "name": "tag", "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 60}}],
         errors=(404,), scope=SCOPE, as_user=True, response_example=TICKET_EXAMPLE)


@bp.delete("/tickets/<int:ticket_id>/tags/<tag>")
@token_required
@token_scope(SCOPE)
@token_user
def remove_tag(ticket_id, tag):
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    wanted = " ".join(tag.strip().lower().split())
    found = next((t for t in ticket.tags if t.name == wanted), None)
    if found is not None:
        ticket_actions.remove_tag(ticket_id, g.api_token.user, found.id, clock_now(),
                                  by=audit_actor())
    return _ticket_answer(ticket_id)


def escalation_out(escalation) -> dict:
    return EscalationOut.model_validate(escalation, from_attributes=True).model_dump(mode="json")


document("/tickets/{ticket_id}/escalations", "get", "The ticket's escalations, newest first",
         response=EscalationList, parameters=[TICKET_ID], errors=(404,), scope="read",
         response_example={"escalations": [ESCALATION_EXAMPLE]})


@bp.get("/tickets/<int:ticket_id>/escalations")
@token_required
@token_scope("read")
def list_escalations(ticket_id):
    if db.session.get(Ticket, ticket_id) is None:
        raise NotFound(f"no ticket {ticket_id}")
    return jsonify(escalations=[escalation_out(e)
                                for e in escalation_service.for_ticket(ticket_id)])


document("/tickets/{ticket_id}/escalations", "post",
         "Escalate to the team lead (level 1) or the SMM (level 2); once per reason and level "
         "(a repeat answers the first)", request=EscalateIn, response=EscalationOut, status=201,
         parameters=[TICKET_ID], errors=(404,), scope=SCOPE, as_user=True,
         example={"reason": "legal", "level": 2, "note": "mentions a lawyer"},
         response_example=ESCALATION_EXAMPLE)


@bp.post("/tickets/<int:ticket_id>/escalations")
@agent_post(SCOPE)
def escalate(ticket_id):
    body = parse_body(EscalateIn)
    escalation = escalation_service.escalate(ticket_id, body.reason, body.level, body.note,
                                             clock_now(), user_id=g.api_token.user.id)
    return jsonify(escalation_out(escalation)), 201


document("/escalations/{escalation_id}/acknowledge", "post",
         "Acknowledge an escalation (stops the reminders): team leads level 1, SMMs both",
         response=EscalationOut, parameters=[ESCALATION_ID], errors=(404,), scope=SCOPE,
         as_user=True, response_example=ESCALATION_EXAMPLE)


@bp.post("/escalations/<int:escalation_id>/acknowledge")
@agent_post(SCOPE)
def acknowledge(escalation_id):
    escalation = escalation_service.acknowledge(escalation_id, g.api_token.user, clock_now())
    return jsonify(escalation_out(escalation))


document("/escalations/{escalation_id}/resolve", "post",
         "Resolve an escalation with a note: team leads level 1, SMMs both",
         request=EscalationResolveIn, response=EscalationOut, parameters=[ESCALATION_ID],
         errors=(404,), scope=SCOPE, as_user=True, example={"note": "refund sent"},
         response_example=ESCALATION_EXAMPLE)


@bp.post("/escalations/<int:escalation_id>/resolve")
@agent_post(SCOPE)
def resolve_escalation(escalation_id):
    body = parse_body(EscalationResolveIn)
    escalation = escalation_service.resolve(escalation_id, g.api_token.user, body.note,
                                            clock_now())
    return jsonify(escalation_out(escalation))
