"""A token the platform refuses (Meta code 190, X 401) marks the channel failing: leads and
admins see a banner, replies wait ("waiting", not failed) without calling the platform again,
and they go once a new token is saved. Against tests/fakeplatform.py."""
import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.inbox.outbound import create_reply
from desk.inbox.tickets import Message
from desk.notify.notifications import Notification
from tests.channels.test_channel_admin import _ticket_on

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
OLD, NEW = "EAAG-revoked-token-1234", "EAAG-fresh-token-5678"


def _connect(app, platform, account, token):
    with app.app_context():
        channel = Channel(platform=platform, account_id=account, name="Tienda", created_at=T0)
        channel.access_token = token
        db.session.add(channel)
        db.session.commit()
        return channel.id


def _replies(app):
    with app.app_context():
        return [(m.delivery_state, m.delivery_error) for m in db.session.scalars(
            select(Message).where(Message.direction == "out").order_by(Message.id))]


def _state(app, channel_id):
    with app.app_context():
        channel = db.session.get(Channel, channel_id)
        return channel.state, channel.failing_reason, channel.failing_since


def test_a_revoked_meta_token_fails_the_channel_and_the_reply_goes_with_the_new_one(
        app, client, make_user, login, fake_platform, run_jobs, caplog):
    caplog.set_level(logging.DEBUG)
    channel_id = _connect(app, "facebook", "page-1", OLD)
    fake_platform.revoked.add(OLD)
    ticket_id = _ticket_on(app, channel_id)
    cm = make_user("cm")
    with app.app_context():
        create_reply(ticket_id, cm.id, "Primera respuesta", "private", T0)
    run_jobs()
    [call] = fake_platform.calls
    assert call["headers"]["Authorization"] == f"Bearer {OLD}"
    [(state, error)] = _replies(app)
    assert state == "waiting" and "code 190" in error and OLD not in error
    state, reason, since = _state(app, channel_id)
    assert state == "failing" and "code 190" in reason and since is not None
    # A second reply waits too, without another call with the refused token.
    with app.app_context():
        create_reply(ticket_id, cm.id, "Segunda respuesta", "private", T0)
    run_jobs()
    assert len(fake_platform.calls) == 1
    assert [s for s, _ in _replies(app)] == ["waiting", "waiting"]
    # Leads and admins see the banner; CMs do not; the ticket says why its replies wait.
    admin, lead = make_user("admin"), make_user("lead")
    login(cm)
    assert 'id="channel-banner-' not in client.get("/", follow_redirects=True).get_data(as_text=True)
    ticket_page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert ticket_page.count("Waiting for the channel") == 2
    assert "goes once an admin saves a new one" in ticket_page
    lead_client = app.test_client()
    login(lead, active_client=lead_client)
    page = lead_client.get("/", follow_redirects=True).get_data(as_text=True)
    assert f'id="channel-banner-{channel_id}"' in page and "Tienda (facebook)" in page
    client = app.test_client()
    login(admin, active_client=client)
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert f'href="/admin/channels/{channel_id}"' in page
    # A new token saved on the page: the channel is connected again, both replies go, once.
    assert client.post(f"/admin/channels/{channel_id}/token",
                       data={"access_token": NEW}).status_code == 302
    assert _state(app, channel_id) == ("connected", None, None)
    run_jobs()
    sends = fake_platform.calls[1:]
    assert [(c["path"], c["headers"]["Authorization"], c["json"]["message"]["text"])
            for c in sends] == [("/graph/page-1/messages", f"Bearer {NEW}", "Primera respuesta"),
                                ("/graph/page-1/messages", f"Bearer {NEW}", "Segunda respuesta")]
    assert [s for s, _ in _replies(app)] == ["delivered", "delivered"]
    assert 'id="channel-banner-' not in client.get("/", follow_redirects=True).get_data(as_text=True)
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "channel").order_by(AuditEvent.id)).all()
    assert actions == ["channel.failing", "channel.token_rotated"]
    assert OLD not in caplog.text and NEW not in caplog.text


def test_leads_smms_and_admins_are_notified_once(app, make_user, fake_platform, run_jobs):
    people = {role: make_user(role) for role in ("cm", "lead", "smm", "admin")}
    channel_id = _connect(app, "facebook", "page-1", OLD)
    fake_platform.revoked.add(OLD)
    ticket_id = _ticket_on(app, channel_id)
    with app.app_context():
        for text in ("uno", "dos"):
            create_reply(ticket_id, people["cm"].id, text, "private", T0)
    run_jobs()
    with app.app_context():
        rows = db.session.execute(select(Notification.user_id, Notification.kind, Notification.text)
                                  .order_by(Notification.user_id)).all()
    assert [(r[0], r[1]) for r in rows] == [(people[r].id, "channel_failing")
                                            for r in ("lead", "smm", "admin")]
    assert rows[0][2].startswith("Tienda (facebook) stopped working")


def test_an_x_401_fails_the_channel_and_a_transient_error_does_not(
        app, make_user, fake_platform, run_jobs):
    channel_id = _connect(app, "x", "2244", OLD)
    ticket_id = _ticket_on(app, channel_id, psid="9001")
    cm = make_user("cm")
    fake_platform.fail(1, 503, {"title": "Service Unavailable"})
    fake_platform.revoked.add(OLD)
    with app.app_context():
        create_reply(ticket_id, cm.id, "Hola", "private", T0)
    run_jobs()
    assert [c["path"] for c in fake_platform.calls] == ["/x/dm_conversations/with/9001/messages"] * 2
    assert _replies(app)[0][0] == "waiting"
    state, reason, _ = _state(app, channel_id)
    assert state == "failing" and reason.startswith("x refused the reply: Unauthorized")


def test_a_passing_connection_test_lets_waiting_replies_go(app, make_user, fake_platform,
                                                           run_jobs, client, login):
    channel_id = _connect(app, "facebook", "page-1", OLD)
    fake_platform.revoked.add(OLD)
    ticket_id = _ticket_on(app, channel_id)
    with app.app_context():
        create_reply(ticket_id, make_user("cm").id, "Hola", "private", T0)
    run_jobs()
    assert _state(app, channel_id)[0] == "failing"
    fake_platform.revoked.clear()  # the platform accepts the token again (a glitch passed)
    fake_platform.accounts[OLD] = {"id": "page-1", "name": "Tienda"}
    login(make_user("admin"))
    client.post(f"/admin/channels/{channel_id}/test")
    assert _state(app, channel_id)[0] == "connected"
    run_jobs()
    assert _replies(app) == [("delivered", None)]


@pytest.mark.parametrize("platform, path", [("facebook", "/graph/me"), ("x", "/x/users/me")])
def test_a_connection_test_with_a_revoked_token_marks_the_channel_failing(
        app, client, make_user, login, fake_platform, platform, path):
    channel_id = _connect(app, platform, "acct-1", OLD)
    fake_platform.revoked.add(OLD)
    login(make_user("admin"))
    body = client.post(f"/admin/channels/{channel_id}/test", follow_redirects=True
                       ).get_data(as_text=True)
    assert [c["path"] for c in fake_platform.calls] == [path]
    assert "Connection test failed" in body and OLD not in body
    assert _state(app, channel_id)[0] == "failing"
