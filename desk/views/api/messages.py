"""POST /api/v1/messages: messages from any other network, one at a time or in batches."""
from typing import Union

from flask import jsonify
from pydantic import BaseModel, RootModel

from desk.channels.generic import MessageBatch, MessageIn
from desk.core.clock import now as clock_now
from desk.core.errors import problem
from desk.intake.events import accept_messages, unknown_channels
from desk.views.access import token_required, token_scope
from desk.views.api.base import bp, idempotent, json_body, parse_body
from desk.views.api.spec import document


class IngestBody(RootModel[Union[MessageIn, MessageBatch]]):
    """One message, or {"messages": [...]} with up to 1,000."""


class IngestResult(BaseModel):
    accepted: int
    new: int
    duplicates: int
    event_ids: list[int]


document("/messages", "post",
         "Ingest comments, DMs or mentions from any network (one message or a batch of up to "
         "1,000); processed asynchronously, duplicates (same channel and message id) ignored",
         request=IngestBody, response=IngestResult, status=202, errors=(400, 401, 413, 422),
         scope="write:messages", example={
             "channel": {"platform": "linkedin", "account_id": "brand-li"}, "kind": "comment",
             "message_id": "urn:li:comment:7", "thread_id": "urn:li:share:3",
             "author": {"id": "li-42", "name": "Marta Núñez"},
             "text": "¿Cuándo vuelve a haber stock?", "sent_at": "2026-11-02T10:00:00Z"},
         response_example={"accepted": 1, "new": 1, "duplicates": 0, "event_ids": [981]})


@bp.post("/messages")
@token_required
@token_scope("write:messages")
@idempotent
def ingest_messages():
    data = json_body()
    batch = isinstance(data, dict) and "messages" in data
    body = parse_body(MessageBatch if batch else MessageIn)
    messages = body.messages if batch else [body]
    unknown = unknown_channels(messages)
    if unknown:
        return problem(422, "the body does not match the schema", details=[
            {"field": f"{'messages.' + str(i) + '.' if batch else ''}channel",
             "message": "no connected channel with this platform and account_id"} for i in unknown])
    ids = accept_messages(messages, clock_now())
    return jsonify(IngestResult(accepted=len(messages), new=len(ids),
                                duplicates=len(messages) - len(ids), event_ids=ids).model_dump()), 202
