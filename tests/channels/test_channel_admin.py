"""The admins' channel page: connect with a token (encrypted at rest, shown as its last four),
edit, rotate, test the connection against the platform's identity endpoint, disconnect; every
change audited; admins only, CSRF on every form. Against tests/fakeplatform.py."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text

from desk.accounts.audit import AuditEvent
from desk.channels.accounts import Channel
from desk.core import crypto
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity
from desk.inbox.outbound import create_reply
from desk.inbox.tickets import Message, Ticket

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TOKEN = "EAAG-page-token-zq9xw-4821"


@pytest.fixture
def admin_client(client, make_user, login):
    admin = make_user("admin")
    login(admin)
    return client, admin


def _channel(app, account_id) -> Channel:
    with app.app_context():
        channel = db.session.scalar(select(Channel).where(Channel.account_id == account_id))
        db.session.expunge(channel)
        return channel


def _audit(app, prefix="channel."):
    with app.app_context():
        return [(e.action, e.user_id, e.object_id, e.source, e.data) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id))]


def _ticket_on(app, channel_id, psid="psid-77"):
    with app.app_context():
        channel = db.session.get(Channel, channel_id)
        customer = Customer(display_name="Lucía Pérez")
        customer.identities.append(CustomerIdentity(platform=channel.platform,
                                                    platform_user_id=psid))
        ticket = Ticket(channel=channel, customer=customer, kind="dm", thread_key="in-1",
                        created_at=T0, updated_at=T0)
        db.session.add(Message(ticket=ticket, channel_id=channel.id, direction="in",
                               visibility="private", platform_message_id="in-1",
                               customer=customer, text="¿Hola?", sent_at=T0, received_at=T0))
        db.session.add(ticket)
        db.session.commit()
        return ticket.id


def test_a_channel_connected_from_the_page_keeps_its_token_encrypted_and_replies(
        app, admin_client, fake_platform, make_user, run_jobs):
    client, admin = admin_client
    response = client.post("/admin/channels", data={
        "platform": "facebook", "account_id": "page-1", "name": "Tienda", "handle": "@tienda",
        "access_token": TOKEN})
    assert response.status_code == 302
    channel = _channel(app, "page-1")
    with app.app_context():
        stored = db.session.execute(text("SELECT access_token_encrypted FROM channel")).scalar()
    assert TOKEN not in stored and _decrypt(app, stored) == TOKEN
    assert channel.token_last4 == "4821"
    for page in (client.get("/admin/channels"), client.get(f"/admin/channels/{channel.id}")):
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "…4821" in body and TOKEN not in body and "zq9xw" not in body
    assert _audit(app) == [("channel.added", admin.id, channel.id, "web",
                            {"name": "Tienda (facebook)", "account_id": "page-1",
                             "token": "…4821"})]

    ticket_id = _ticket_on(app, channel.id)
    with app.app_context():
        create_reply(ticket_id, make_user("cm").id, "¡Hola! Ya lo miramos.", "private", T0)
    run_jobs()
    [call] = fake_platform.calls
    assert call["path"] == "/graph/page-1/messages"
    assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert call["json"] == {"recipient": {"id": "psid-77"}, "messaging_type": "RESPONSE",
                            "message": {"text": "¡Hola! Ya lo miramos."}}
    with app.app_context():
        assert db.session.scalar(select(Message.delivery_state).where(
            Message.direction == "out")) == "delivered"


def test_edit_rotate_test_and_disconnect_are_audited(app, admin_client, fake_platform):
    client, admin = admin_client
    client.post("/admin/channels", data={"platform": "facebook", "account_id": "page-1",
                                         "name": "Tienda", "access_token": TOKEN})
    channel_id = _channel(app, "page-1").id
    assert client.post(f"/admin/channels/{channel_id}",
                       data={"name": "Tienda Madrid", "handle": ""}).status_code == 302
    new = "EAAG-rotated-token-0007"
    assert client.post(f"/admin/channels/{channel_id}/token",
                       data={"access_token": new}).status_code == 302
    fake_platform.accounts[new] = {"id": "page-1", "name": "Tienda Madrid"}
    answer = client.post(f"/admin/channels/{channel_id}/test", follow_redirects=True)
    body = answer.get_data(as_text=True)
    assert "Tienda Madrid (id page-1)" in body and "…0007" in body and new not in body
    [call] = fake_platform.calls
    assert (call["path"], call["query"], call["headers"]["Authorization"]) == (
        "/graph/me", {"fields": "id,name"}, f"Bearer {new}")
    assert client.post(f"/admin/channels/{channel_id}/disconnect").status_code == 302
    channel = _channel(app, "page-1")
    assert (channel.active, channel.access_token_encrypted, channel.token_last4) == (
        False, None, None)
    events = _audit(app)
    assert [(e[0], e[1], e[2], e[3]) for e in events] == [
        (action, admin.id, channel_id, "web") for action in (
            "channel.added", "channel.edited", "channel.token_rotated", "channel.tested",
            "channel.disconnected")]
    assert events[1][4] == {"name": "Tienda (facebook)", "changes": {"name": "Tienda Madrid"}}
    assert events[2][4] == {"name": "Tienda Madrid (facebook)", "token": "…0007",
                            "was_failing": False}
    assert events[3][4] == {"name": "Tienda Madrid (facebook)", "ok": True,
                            "answer": "Tienda Madrid (id page-1)"}
    assert not any(TOKEN in str(e) or new in str(e) for e in events)
    # The audit page reads them as sentences.
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "saved a new access token for the channel Tienda Madrid (facebook) (ending …0007)" in page
    # Connecting the same account again reactivates it with the new token.
    assert client.post("/admin/channels", data={"platform": "facebook", "account_id": "page-1",
                                                "name": "Tienda", "access_token": "EAAG-again-1111"}
                       ).status_code == 302
    again = _channel(app, "page-1")
    assert (again.id, again.active, again.token_last4) == (channel_id, True, "1111")
    assert _audit(app)[-1][0] == "channel.reconnected"


@pytest.mark.parametrize("platform, account, owner, path, query, shown", [
    ("instagram", "ig-9", {"id": "ig-9", "username": "tienda", "name": "Tienda"},
     "/graph/ig-9", {"fields": "id,username,name"}, "@tienda (id ig-9)"),
    ("whatsapp", "1055", {"id": "1055", "name": "Tienda", "phone": "+34 600 000 000"},
     "/wa/1055", {"fields": "id,display_phone_number,verified_name"},
     "Tienda +34 600 000 000 (id 1055)"),
    ("x", "2244", {"id": "2244", "name": "Tienda", "username": "tienda"},
     "/x/users/me", {"user.fields": "username,name"}, "Tienda @tienda (id 2244)"),
])
def test_the_connection_test_asks_each_platform_who_the_token_is(
        app, admin_client, fake_platform, platform, account, owner, path, query, shown):
    client, _ = admin_client
    client.post("/admin/channels", data={"platform": platform, "account_id": account,
                                         "name": "Tienda", "access_token": "tok-abcd"})
    fake_platform.accounts["tok-abcd"] = owner
    channel_id = _channel(app, account).id
    body = client.post(f"/admin/channels/{channel_id}/test", follow_redirects=True
                       ).get_data(as_text=True)
    assert shown in body
    [call] = fake_platform.calls
    assert (call["path"], call["query"], call["headers"]["Authorization"]) == (
        path, query, "Bearer tok-abcd")
    channel = _channel(app, account)
    assert (channel.check_ok, channel.check_detail, channel.state) == (True, shown, "connected")


def test_a_token_of_another_account_fails_the_test(app, admin_client, fake_platform):
    client, _ = admin_client
    client.post("/admin/channels", data={"platform": "x", "account_id": "2244",
                                         "name": "Tienda", "access_token": "tok-other"})
    fake_platform.accounts["tok-other"] = {"id": "999", "name": "Otra", "username": "otra"}
    channel_id = _channel(app, "2244").id
    body = client.post(f"/admin/channels/{channel_id}/test", follow_redirects=True
                       ).get_data(as_text=True)
    assert "Connection test failed" in body and "not to account 2244" in body
    channel = _channel(app, "2244")
    assert (channel.check_ok, channel.state) == (False, "connected")


def test_the_page_is_for_admins_and_its_forms_need_csrf(app, client, make_user, login):
    lead = make_user("lead")
    login(lead)
    assert client.get("/admin/channels").status_code == 403
    assert client.post("/admin/channels", data={"platform": "x", "account_id": "1",
                                                "name": "n", "access_token": "t"}
                       ).status_code == 403
    admin = make_user("admin")
    login(admin)
    assert client.post("/admin/channels", data={"platform": "x", "account_id": "1", "name": "n",
                                                "access_token": "t"}, csrf=False
                       ).status_code in (400, 422)
    with app.app_context():
        assert db.session.scalar(select(Channel)) is None


def test_the_page_shows_the_webhook_address_verify_token_and_steps(app, admin_client):
    client, _ = admin_client
    body = client.get("/admin/channels").get_data(as_text=True)
    assert "http://desk.test/webhooks/meta" in body and "http://desk.test/webhooks/x" in body
    assert "meta-verify-token" in body and "meta-app-secret" not in body
    assert 'id="setup-whatsapp"' in body and 'id="setup-x"' in body
    es = client.get("/admin/channels", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Token de verificación" in es


def _decrypt(app, stored):
    with app.app_context():
        return crypto.decrypt(stored)
