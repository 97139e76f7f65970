"""The outgoing events' delivery log for admins: what was sent where with which outcome, and
a replay of a delivery (same webhook-id, fresh retries)."""
from datetime import datetime
from typing import Literal

from flask import jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.errors import problem
from desk.notify.webhooks import WebhookDelivery, replay
from desk.views.access import audit_actor, token_required, token_scope
from desk.views.api.base import PAGE_PARAMS, bp, decode_cursor, id_page, idempotent
from desk.views.api.spec import document

SCOPE = "admin:webhooks"


class DeliveryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "delivered", "failed", "refused"] | None = None
    type: str | None = Field(None, max_length=60, description="an event type")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=100)


class WebhookDeliveryOut(BaseModel):
    id: int
    msg_id: str = Field(description="the webhook-id header, the same on every attempt")
    event_type: str
    status: str
    attempts: int
    last_error: str | None
    response_status: int | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict


class WebhookDeliveryPage(BaseModel):
    deliveries: list[WebhookDeliveryOut]
    next_cursor: str | None


EXAMPLE = {"id": 12, "msg_id": "msg_6f1c0e2b9a4d4f0c8e1b2a3c4d5e6f70", "event_type":
           "ticket.resolved", "status": "failed", "attempts": 5, "last_error": "HTTP 503",
           "response_status": 503, "created_at": "2026-12-01T10:00:00Z", "delivered_at": None,
           "payload": {"type": "ticket.resolved", "timestamp": "2026-12-01T10:00:00+00:00",
                       "data": {"ticket": {"ticket_id": 7}, "resolution": "replied"}}}
DELIVERY_ID = {"name": "delivery_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1}}


def _out(delivery: WebhookDelivery) -> dict:
    return WebhookDeliveryOut.model_validate(delivery, from_attributes=True).model_dump(mode="json")


document("/webhooks/deliveries", "get", "The outgoing events' delivery log, newest first",
         response=WebhookDeliveryPage, errors=(400, 422), scope=SCOPE, parameters=[
             {"name": "status", "in": "query", "required": False, "schema": {
                 "type": "string", "enum": ["pending", "delivered", "failed", "refused"]}},
             {"name": "type", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "an event type, e.g. ticket.resolved"}, *PAGE_PARAMS],
         response_example={"deliveries": [EXAMPLE], "next_cursor": None})


@bp.get("/webhooks/deliveries")
@token_required
@token_scope(SCOPE)
def list_deliveries():
    try:
        query = DeliveryQuery.model_validate(request.args.to_dict())
        after = decode_cursor("w", query.cursor)
    except ValidationError as exc:
        return problem(422, "invalid query parameters", details=[
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)])
    except ValueError as exc:
        return problem(400, str(exc))
    stmt = select(WebhookDelivery)
    if query.status:
        stmt = stmt.where(WebhookDelivery.status == query.status)
    if query.type:
        stmt = stmt.where(WebhookDelivery.event_type == query.type)
    rows, cursor = id_page(stmt, WebhookDelivery.id, query.limit, after, "w", newest_first=True)
    return jsonify(deliveries=[_out(d) for d in rows], next_cursor=cursor)


document("/webhooks/deliveries/{delivery_id}/replay", "post",
         "Send a delivery again (its webhook-id kept, retries afresh); 409 while it is pending",
         response=WebhookDeliveryOut, parameters=[DELIVERY_ID], errors=(404,), scope=SCOPE,
         response_example={**EXAMPLE, "status": "pending", "attempts": 0, "last_error": None,
                           "response_status": None})


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
@token_required
@token_scope(SCOPE)
@idempotent
def replay_delivery(delivery_id):
    return jsonify(_out(replay(delivery_id, clock_now(), by=audit_actor())))
