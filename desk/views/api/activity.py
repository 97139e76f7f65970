"""POST /api/v1/activity: customer activity events (one, or a batch under "events")."""
from datetime import datetime

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator

from desk.core.clock import now as clock_now
from desk.feedback.activity import ActivityInput, record_events, summarize
from desk.views.access import token_required, token_scope
from desk.views.api.base import bp, idempotent, json_body, parse_body
from desk.views.api.spec import document

MAX_BATCH = 1000


class ActivityIn(BaseModel):
    """One event; the customer is found by platform + platform_user_id, email or phone."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: str = Field(min_length=1, max_length=40, examples=["purchase"])
    occurred_at: datetime
    source: str = Field("api", min_length=1, max_length=60)
    external_id: str | None = Field(None, max_length=200, description="idempotency key per source")
    platform: str | None = Field(None, max_length=20)
    platform_user_id: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40, description="any format; read as E.164")
    data: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _identified(self):
        if not ((self.platform and self.platform_user_id) or self.email or self.phone):
            raise ValueError("give platform and platform_user_id, email or phone")
        return self


class ActivityBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[ActivityIn] = Field(min_length=1, max_length=MAX_BATCH)


class ActivityResult(BaseModel):
    index: int
    status: str  # imported, duplicate, unmatched, rejected
    reason: str = ""
    event_id: int | None = None


class ActivityResponse(BaseModel):
    imported: int
    duplicate: int
    unmatched: int
    rejected: int
    results: list[ActivityResult]


document("/activity", "post",
         "Record customer activity (purchase, visit, sign-up...): one event, or {\"events\": [...]}",
         request=ActivityBatch, response=ActivityResponse, errors=(400, 401, 422),
         scope="write:activity", example={"events": [{
             "kind": "purchase", "occurred_at": "2026-11-03T18:20:00Z", "source": "shop",
             "external_id": "order-1234", "email": "lucia@example.com",
             "data": {"amount": 59.9}}]},
         response_example={"imported": 1, "duplicate": 0, "unmatched": 0, "rejected": 0,
                           "results": [{"index": 0, "status": "imported", "reason": "",
                                        "event_id": 17}]})


@bp.post("/activity")
@token_required
@token_scope("write:activity")
@idempotent
def post_activity():
    body = json_body()
    batch = isinstance(body, dict) and "events" in body
    items = parse_body(ActivityBatch).events if batch else [parse_body(ActivityIn)]
    outcomes = record_events([ActivityInput(**item.model_dump()) for item in items], clock_now())
    response = ActivityResponse(**summarize(outcomes), results=[
        ActivityResult(index=o.index, status=o.status, reason=o.reason, event_id=o.event_id)
        for o in outcomes])
    return jsonify(response.model_dump()), 200
