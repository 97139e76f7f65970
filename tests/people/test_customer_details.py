"""Agents keep a customer's details: e-mail and phone stored as matched (lower case, E.164),
every change audited by field name, bad input a 4xx that changes nothing; notes, tags, the
VIP list import, search, and activity matched by phone."""
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from desk.accounts.audit import Actor, AuditEvent
from desk.accounts.tokens import create_api_token
from desk.core.extensions import db
from desk.customers.models import Customer
from desk.feedback.activity import ActivityEvent
from desk.people import merge
from desk.people.search import search_customers
from tests.factories import make_customer

NOW = datetime(2026, 9, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def lucia(app_ctx):
    customer = make_customer(name="Lucía Pérez", platform="whatsapp")
    customer.identities[0].platform_user_id = "34611222333"
    customer.identities[0].handle = None
    db.session.commit()
    return customer.id


def test_an_agent_edits_the_details_and_the_audit_names_the_fields(lucia, client, login, make_user):
    cm = make_user("cm")
    login(cm)
    response = client.post(f"/customers/{lucia}", data={
        "display_name": "Lucía Pérez Gil", "email": " Lucia@Example.COM ", "phone": "600 111 222",
        "language": "es", "timezone": "Europe/Madrid", "vip": "on"})
    assert response.status_code == 302
    customer = db.session.get(Customer, lucia)
    assert (customer.display_name, customer.email, customer.phone, customer.timezone, customer.vip) == (
        "Lucía Pérez Gil", "lucia@example.com", "+34600111222", "Europe/Madrid", True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.updated"))
    assert (event.object_type, event.object_id, event.user_id) == ("customer", lucia, cm.id)
    assert sorted(event.data["changed"]) == ["display_name", "email", "phone", "timezone", "vip"]
    assert "lucia@example.com" not in str(event.data)  # values stay out of the audit trail


@pytest.mark.parametrize("field,value", [("email", "not-an-address"), ("phone", "12"),
                                         ("timezone", "Mars/Olympus"), ("language", "xx"),
                                         ("display_name", "   ")])
def test_bad_details_are_a_400_and_change_nothing(lucia, client, login, make_user, field, value):
    login(make_user("cm"))
    form = {"display_name": "Lucía", "email": "ok@example.com", "phone": "", "language": "",
            "timezone": "", field: value}
    response = client.post(f"/customers/{lucia}", data=form)
    assert response.status_code == 400 and 'id="customer-error"' in response.text
    db.session.expire_all()
    customer = db.session.get(Customer, lucia)
    assert customer.email is None and customer.display_name == "Lucía Pérez"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.object_type == "customer")) == 0


def test_notes_and_tags(lucia, client, login, make_user):
    login(make_user("cm", name="Ana Agent"))
    assert client.post(f"/customers/{lucia}/notes", data={"body": "<b>Llama</b> por la tarde"}).status_code == 302
    assert client.post(f"/customers/{lucia}/tags", data={"tags": "Mayorista, prensa, mayorista"}).status_code == 302
    page = client.get(f"/customers/{lucia}").text
    assert "&lt;b&gt;Llama&lt;/b&gt; por la tarde" in page and "<b>Llama" not in page
    assert [t.name for t in db.session.get(Customer, lucia).tags] == ["mayorista", "prensa"]
    assert client.post(f"/customers/{lucia}/tags", data={"tags": "<script>"}).status_code == 400
    assert client.post(f"/customers/{lucia}/notes", data={"body": " "}).status_code == 400


def test_the_vip_list_import_is_for_leads_and_above(client, login, make_user):
    login(make_user("cm"))
    assert client.get("/customers/import").status_code == 403
    assert client.post("/customers/import", data={}).status_code == 403


def test_the_vip_list_import_marks_matches_and_reports_the_rest(app_ctx, client, login, make_user):
    by_mail = make_customer(name="Ana", email="ana@example.com")
    by_handle = make_customer(name="Bruno Díaz", platform="instagram")
    by_handle.identities[0].handle = "bruno.diaz"
    by_phone = make_customer(name="Carla")
    by_phone.phone = "+34600111222"
    db.session.commit()
    csv_text = ("email,phone,platform,handle\nANA@example.com,,,\n,+34 600 11 12 22,,\n"
                ",,instagram,@Bruno.Diaz\nnadie@example.com,,,\n,12,,\n")
    login(make_user("lead"))
    response = client.post("/customers/import", data={"file": (io.BytesIO(csv_text.encode()), "vip.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert sorted(c.id for c in db.session.scalars(select(Customer).where(Customer.vip))) == sorted(
        [by_mail.id, by_handle.id, by_phone.id])
    assert "5" in response.text and "6" in response.text  # unmatched line 5, rejected line 6
    bad = client.post("/customers/import", data={"file": (io.BytesIO(b"name\nx\n"), "vip.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and 'id="import-error"' in bad.text


def test_search_by_name_prefix_handle_email_phone_and_whatsapp_number(lucia, app_ctx):
    other = make_customer(name="Pedro Gómez", platform="instagram", email="pedro@example.com")
    other.identities[0].handle = "pedrog_88"
    other.phone = "+525512345678"
    db.session.commit()
    assert [c.id for c in search_customers("luc pere")] == [lucia]
    assert [c.id for c in search_customers("LUCIA")] == [lucia]
    assert [c.id for c in search_customers("@pedrog")] == [other.id]
    assert [c.id for c in search_customers("Pedro@Example.com")] == [other.id]
    assert [c.id for c in search_customers("+52 55 1234 5678")] == [other.id]
    assert [c.id for c in search_customers("34611222333")] == [lucia]
    assert search_customers("%") == [] and search_customers("") == []


def test_activity_is_matched_by_phone_and_follows_a_merge(lucia, client):
    _token, raw = create_api_token("shop", scopes=["write:activity"])
    twin = make_customer(name="Lucía P.", platform="instagram", email="lucia@example.com")
    twin.phone = "+34600111222"
    db.session.commit()
    merge.merge(lucia, twin.id, by=Actor(), now=NOW)  # the kept customer takes the phone
    response = client.post("/api/v1/activity", headers={"Authorization": f"Bearer {raw}"}, json={
        "kind": "purchase", "occurred_at": "2026-06-01T10:00:00Z", "phone": "600 111 222",
        "external_id": "o-1"})
    assert response.status_code == 200 and response.json["imported"] == 1
    assert db.session.scalar(select(ActivityEvent.customer_id)) == lucia
    by_mail = client.post("/api/v1/activity", headers={"Authorization": f"Bearer {raw}"}, json={
        "kind": "visit", "occurred_at": "2026-06-02T10:00:00Z", "email": "LUCIA@example.com",
        "external_id": "v-1"})
    assert by_mail.json["imported"] == 1
    assert set(db.session.scalars(select(ActivityEvent.customer_id))) == {lucia}
