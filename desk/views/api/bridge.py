"""Bridges for networks without an adapter (LinkedIn, forums, blogs): a reply there goes out
as a reply.bridge event and waits; the bridge, which brought the messages in with a
write:messages token, says here whether it was delivered (with the platform's id) or not."""
from typing import Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator

from desk.core.clock import now as clock_now
from desk.inbox.outbound import confirm_bridged
from desk.views.access import token_required, token_scope
from desk.views.api.base import bp, idempotent, parse_body
from desk.views.api.conversation import MESSAGE_EXAMPLE, TICKET_ID, MessageOut, message_out
from desk.views.api.spec import document


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["delivered", "failed"]
    platform_message_id: str | None = Field(None, min_length=1, max_length=200,
                                            description="the reply's id on the network")
    error: str | None = Field(None, min_length=1, max_length=2000,
                              description="why it could not be delivered")

    @model_validator(mode="after")
    def _fits_the_state(self):
        if self.state == "delivered" and not self.platform_message_id:
            raise ValueError("a delivered reply needs its platform_message_id")
        if self.state == "failed" and not self.error:
            raise ValueError("a failed delivery needs its error")
        return self


document("/tickets/{ticket_id}/messages/{message_id}/delivery", "post",
         "A bridge confirms a reply it was handed (reply.bridge event): delivered, with the "
         "network's id, or failed, with the error; the ticket shows it and reply.delivered or "
         "reply.failed goes out",
         request=DeliveryIn, response=MessageOut, errors=(404,), scope="write:messages",
         parameters=[TICKET_ID, {"name": "message_id", "in": "path", "required": True,
                                 "schema": {"type": "integer", "minimum": 1}}],
         description="409 when the reply is not waiting for a bridge (or the id belongs to "
                     "another message); the same confirmation again is answered as the first.",
         example={"state": "delivered", "platform_message_id": "urn:li:comment:99"},
         response_example={**MESSAGE_EXAMPLE, "delivery_state": "delivered",
                           "platform_message_id": "urn:li:comment:99",
                           "delivered_at": "2026-12-01T10:00:05Z"})


@bp.post("/tickets/<int:ticket_id>/messages/<int:message_id>/delivery")
@token_required
@token_scope("write:messages")
@idempotent
def confirm_delivery(ticket_id, message_id):
    body = parse_body(DeliveryIn)
    message = confirm_bridged(ticket_id, message_id, body.state, clock_now(),
                              platform_id=body.platform_message_id, error=body.error)
    return jsonify(message_out(message))
