"""The outgoing events for admins: endpoints subscribed with an event filter (a private or
loopback address only when the admin allows it), the delivery log (what was sent where with
which outcome) and a replay of a delivery (same webhook-id, fresh retries)."""
from datetime import datetime
from typing import Literal

from flask import jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.errors import problem
from desk.core.extensions import db
from desk.notify.webhooks import (
    WebhookDelivery,
    WebhookEndpoint,
    add_endpoint,
    remove_endpoint,
    replay,
)
from desk.views.access import audit_actor, token_required, token_scope
from desk.views.api.base import PAGE_PARAMS, bp, decode_cursor, id_page, idempotent, parse_body
from desk.views.api.spec import document

SCOPE = "admin:webhooks"


class DeliveryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "delivered", "failed", "refused"] | None = None
    type: str | None = Field(None, max_length=60, description="an event type")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=100)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=500, description="http(s); checked now and at "
                                                               "every delivery")
    events: str = Field("*", min_length=1, max_length=500, description=(
        "comma-separated event types or patterns: ticket.*, message.created, reply.*, sla.*, "
        "survey.answered, escalation.*, incident.opened, reply.bridge; * for all"))
    allow_private: bool = Field(False, description="let it be a private or loopback address")
    description: str = Field("", max_length=120)


class EndpointOut(BaseModel):
    id: int
    url: str
    events: str
    allow_private: bool
    description: str
    active: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_...: verifies the webhook-signature; shown once")


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]


class WebhookDeliveryOut(BaseModel):
    id: int
    endpoint_id: int | None = Field(description="null: DESK_OUTGOING_WEBHOOK_URL")
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


EXAMPLE = {"id": 12, "endpoint_id": 2, "msg_id": "msg_6f1c0e2b9a4d4f0c8e1b2a3c4d5e6f70", "event_type":
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


ENDPOINT_EXAMPLE = {"id": 2, "url": "https://bridge.example.com/desk-events",
                    "events": "ticket.*, reply.bridge", "allow_private": False,
                    "description": "LinkedIn bridge", "active": True,
                    "created_at": "2026-12-01T09:00:00Z"}
ENDPOINT_ID = {"name": "endpoint_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1}}


def _endpoint_out(endpoint: WebhookEndpoint) -> dict:
    return EndpointOut.model_validate(endpoint, from_attributes=True).model_dump(mode="json")


document("/webhooks/endpoints", "get", "The endpoints subscribed to events",
         response=EndpointList, scope=SCOPE, response_example={"endpoints": [ENDPOINT_EXAMPLE]})


@bp.get("/webhooks/endpoints")
@token_required
@token_scope(SCOPE)
def list_endpoints():
    rows = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
                              .order_by(WebhookEndpoint.id))
    return jsonify(endpoints=[_endpoint_out(e) for e in rows])


document("/webhooks/endpoints", "post",
         "Subscribe an endpoint to events (signed per Standard Webhooks with its own secret, "
         "shown once); a private or loopback address is refused unless allow_private",
         request=EndpointIn, response=EndpointCreated, status=201, scope=SCOPE,
         example={"url": "https://bridge.example.com/desk-events",
                  "events": "ticket.*, reply.bridge", "description": "LinkedIn bridge"},
         response_example={**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})


@bp.post("/webhooks/endpoints")
@token_required
@token_scope(SCOPE)
@idempotent
def create_endpoint():
    body = parse_body(EndpointIn)
    endpoint, secret = add_endpoint(body.url, body.events, clock_now(),
                                    allow_private=body.allow_private,
                                    description=body.description, by=audit_actor())
    return jsonify({**_endpoint_out(endpoint), "secret": secret}), 201


document("/webhooks/endpoints/{endpoint_id}", "delete",
         "Unsubscribe an endpoint (its deliveries stay in the log)", response=EndpointOut,
         parameters=[ENDPOINT_ID], errors=(404,), scope=SCOPE, response_example={
             **ENDPOINT_EXAMPLE, "active": False})


@bp.delete("/webhooks/endpoints/<int:endpoint_id>")
@token_required
@token_scope(SCOPE)
def delete_endpoint(endpoint_id):
    remove_endpoint(endpoint_id, clock_now(), by=audit_actor())
    return jsonify(_endpoint_out(db.session.get(WebhookEndpoint, endpoint_id)))
