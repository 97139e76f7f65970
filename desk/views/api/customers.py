"""Customers through the API: search, read one (identities, contact details, counts), update
the details agents edit, and merge two customers (the interface's services and rules)."""
from datetime import datetime

from flask import jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.types import MAX_ID
from desk.customers.models import Customer
from desk.inbox.tickets import Ticket
from desk.people import edit, merge
from desk.people.search import search_customers
from desk.views.access import audit_actor, token_required, token_scope, token_user
from desk.views.api.base import agent_post, bp, parse_body
from desk.views.api.spec import document

CUSTOMER_ID = {"name": "customer_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1}}


class IdentityOut(BaseModel):
    platform: str
    platform_user_id: str
    handle: str | None
    name: str | None
    followers: int | None


class CustomerOut(BaseModel):
    id: int
    display_name: str
    email: str | None
    phone: str | None = Field(description="E.164")
    language: str | None
    timezone: str | None
    vip: bool
    followers: int | None
    tags: list[str]
    identities: list[IdentityOut]
    tickets: int
    open_tickets: int
    created_at: datetime


class CustomerList(BaseModel):
    customers: list[CustomerOut]


class CustomerPatch(BaseModel):
    """Only the fields sent change; null clears e-mail, phone, language or time zone."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40, description="any format; stored as E.164")
    language: str | None = Field(None, max_length=5)
    timezone: str | None = Field(None, max_length=64, description="an IANA zone")
    vip: bool | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merge_id: int = Field(ge=1, le=MAX_ID, description="the customer merged into this one")


class MergeOut(BaseModel):
    merge: int = Field(description="the merge record's id (undo it on the customer page)")
    kept: CustomerOut
    moved: dict[str, int]


EXAMPLE = {"id": 12, "display_name": "María López", "email": "maria@example.com",
           "phone": "+34600111222", "language": "es", "timezone": "Europe/Madrid", "vip": True,
           "followers": 1200, "tags": ["wholesale"],
           "identities": [{"platform": "instagram", "platform_user_id": "17841400000001",
                           "handle": "maria.lopez", "name": "María López", "followers": 1200}],
           "tickets": 3, "open_tickets": 1, "created_at": "2026-11-02T09:14:00Z"}


def customer_out(customer: Customer) -> dict:
    total, open_ = db.session.execute(select(func.count(), func.count().filter(Ticket.status != "resolved"))
                                      .where(Ticket.customer_id == customer.id)).one()
    return CustomerOut(
        id=customer.id, display_name=customer.display_name, email=customer.email,
        phone=customer.phone, language=customer.language, timezone=customer.timezone,
        vip=customer.vip, followers=customer.followers, tags=[t.name for t in customer.tags],
        identities=[IdentityOut.model_validate(i, from_attributes=True) for i in customer.identities],
        tickets=total, open_tickets=open_, created_at=customer.created_at).model_dump(mode="json")


def _live(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound(f"no customer {customer_id}")
    return customer


document("/customers", "get", "Find customers by name, @handle, e-mail or phone",
         response=CustomerList, scope="read", errors=(400,),
         parameters=[{"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 100},
                      "description": "name words (prefixes), a handle, an e-mail or a phone number"}],
         response_example={"customers": [EXAMPLE]})


@bp.get("/customers")
@token_required
@token_scope("read")
def find_customers():
    return jsonify(customers=[customer_out(c) for c in search_customers(request.args.get("q", ""))])


document("/customers/{customer_id}", "get", "One customer: identities on each platform, contact "
         "details, tags and ticket counts (a merged customer is 404: use the one kept)",
         response=CustomerOut, parameters=[CUSTOMER_ID], errors=(404,), scope="read",
         response_example=EXAMPLE)


@bp.get("/customers/<int:customer_id>")
@token_required
@token_scope("read")
def get_customer(customer_id):
    return jsonify(customer_out(_live(customer_id)))


document("/customers/{customer_id}", "patch", "Change a customer's details (audited)",
         request=CustomerPatch, response=CustomerOut, parameters=[CUSTOMER_ID],
         errors=(400, 404, 422), scope="write:customers", as_user=True,
         example={"email": "maria@example.com", "phone": "600 111 222", "vip": True},
         response_example=EXAMPLE)


@bp.patch("/customers/<int:customer_id>")
@token_required
@token_scope("write:customers")
@token_user
def patch_customer(customer_id):
    changes = parse_body(CustomerPatch).model_dump(exclude_unset=True)
    if changes.get("display_name", "") is None or changes.get("vip", False) is None:
        raise DeskError("display_name and vip cannot be null")
    edit.update_customer(_live(customer_id).id, changes, by=audit_actor(), now=clock_now())
    return jsonify(customer_out(_live(customer_id)))


document("/customers/{customer_id}/merge", "post",
         "Merge another customer into this one: their tickets, messages, surveys, activity, "
         "identities and notes move here; the service report stays exact (audited, undoable)",
         request=MergeIn, response=MergeOut, parameters=[CUSTOMER_ID], errors=(400, 404, 409),
         scope="write:customers", as_user=True, example={"merge_id": 31},
         response_example={"merge": 4, "kept": EXAMPLE, "moved": {"ticket": 1, "message": 3}})


@bp.post("/customers/<int:customer_id>/merge")
@agent_post("write:customers")
def merge_customers(customer_id):
    body = parse_body(MergeIn)
    record = merge.merge(customer_id, body.merge_id, by=audit_actor(), now=clock_now())
    moved = {kind: len(ids) for kind, ids in record.moved.items() if kind in merge.MOVED}
    return jsonify(merge=record.id, kept=customer_out(_live(customer_id)), moved=moved)
