"""Customers through /api/v1: search, read, update (audited as the token's user), merge."""
import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.accounts.tokens import create_api_token
from desk.core.extensions import db
from desk.customers.models import Customer
from tests.factories import make_channel, make_customer, make_ticket


@pytest.fixture
def agent_token(app_ctx, make_user):
    user = make_user("cm")
    _token, raw = create_api_token("crm sync", user=db.session.get(type(user), user.id),
                                   scopes=["read", "write:customers"])
    return {"Authorization": f"Bearer {raw}"}, user


def test_search_read_update_and_merge(client, agent_token):
    headers, user = agent_token
    channel = make_channel("instagram")
    maria = make_customer(name="María López", platform="instagram")
    twin = make_customer(name="Maria Lopez", platform="facebook", email="maria@example.com")
    make_ticket(channel=channel, customer=maria)
    found = client.get("/api/v1/customers?q=mar lop", headers=headers).json["customers"]
    assert sorted(c["id"] for c in found) == sorted([maria.id, twin.id])

    one = client.get(f"/api/v1/customers/{maria.id}", headers=headers).json
    assert (one["tickets"], one["open_tickets"], one["identities"][0]["platform"]) == (1, 1, "instagram")

    patched = client.patch(f"/api/v1/customers/{maria.id}", headers=headers,
                           json={"phone": "600 111 222", "vip": True})
    assert patched.status_code == 200 and patched.json["phone"] == "+34600111222" and patched.json["vip"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.updated"))
    assert (event.user_id, event.source, sorted(event.data["changed"])) == (user.id, "api", ["phone", "vip"])

    merged = client.post(f"/api/v1/customers/{maria.id}/merge", headers=headers, json={"merge_id": twin.id})
    assert merged.status_code == 200
    assert merged.json["kept"]["email"] == "maria@example.com" and merged.json["moved"]["identity"] == 1
    assert client.get(f"/api/v1/customers/{twin.id}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/customers/{maria.id}/merge", headers=headers,
                       json={"merge_id": twin.id}).status_code == 404


def test_bad_bodies_and_missing_scopes(client, agent_token, app_ctx):
    headers, _user = agent_token
    customer = make_customer(name="Ana")
    assert client.patch(f"/api/v1/customers/{customer.id}", headers=headers,
                        json={"email": "nope"}).status_code == 400
    assert client.patch(f"/api/v1/customers/{customer.id}", headers=headers,
                        json={"followers": 5}).status_code == 422
    assert client.patch(f"/api/v1/customers/{customer.id}", headers=headers,
                        json={"display_name": None}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).email is None
    _token, read_only = create_api_token("reader", scopes=["read"])
    denied = client.patch(f"/api/v1/customers/{customer.id}",
                          headers={"Authorization": f"Bearer {read_only}"}, json={"vip": True})
    assert denied.status_code == 403
    spec = client.get("/api/v1/openapi.json").json
    assert {"get", "patch"} <= set(spec["paths"]["/api/v1/customers/{customer_id}"])
    assert "write:customers" in str(spec["paths"]["/api/v1/customers/{customer_id}/merge"])
