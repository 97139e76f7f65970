"""X OAuth 2.0 user tokens: refreshed before they expire (at a send and by the periodic
sweep) and once more when X refuses one; the rotated pair is stored encrypted in one
transaction; two workers never refresh the same token at once. Against tests/fakeplatform.py."""
import base64
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.channels.accounts import Channel, set_token
from desk.channels.tokens import refresh_due_tokens, refresh_token
from desk.core.extensions import db
from desk.inbox.outbound import create_reply
from desk.inbox.tickets import Message
from tests.channels.test_channel_admin import _ticket_on

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
OLD, NEW = ("x-access-old-1111", "x-refresh-old-2222"), ("x-access-new-3333", "x-refresh-new-4444")


@pytest.fixture
def x_app(app, fake_platform):
    saved = {k: app.config[k] for k in ("X_CLIENT_ID", "X_CLIENT_SECRET")}
    app.config.update(X_CLIENT_ID="desk-client", X_CLIENT_SECRET="desk-client-secret")
    fake_platform.x_refresh[OLD[1]] = {"access_token": NEW[0], "refresh_token": NEW[1]}
    yield app
    app.config.update(saved)


def _x_channel(app, expires_at):
    with app.app_context():
        channel = Channel(platform="x", account_id="2244", name="Tienda", created_at=T0)
        channel.access_token, channel.refresh_token = OLD
        channel.token_expires_at = expires_at
        db.session.add(channel)
        db.session.commit()
        return channel.id


def _stored(app, channel_id):
    with app.app_context():
        channel = db.session.get(Channel, channel_id)
        return (channel.access_token, channel.refresh_token, channel.token_expires_at,
                channel.token_last4, channel.state)


def _token_calls(fake):
    return [c for c in fake.calls if c["path"] == "/x/oauth2/token"]


def test_an_expired_x_token_is_refreshed_and_the_reply_goes(x_app, fake_platform, make_user,
                                                            run_jobs):
    app = x_app
    channel_id = _x_channel(app, T0 - timedelta(minutes=1))
    ticket_id = _ticket_on(app, channel_id, psid="9001")
    with app.app_context():
        create_reply(ticket_id, make_user("cm").id, "Hola", "private", T0)
    run_jobs()
    token_call, send = fake_platform.calls
    assert token_call["path"] == "/x/oauth2/token"
    assert token_call["json"] == {"grant_type": "refresh_token", "refresh_token": OLD[1],
                                  "client_id": "desk-client"}
    assert token_call["headers"]["Authorization"] == "Basic " + base64.b64encode(
        b"desk-client:desk-client-secret").decode()
    assert token_call["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert send["path"] == "/x/dm_conversations/with/9001/messages"
    assert send["headers"]["Authorization"] == f"Bearer {NEW[0]}"
    assert send["json"] == {"text": "Hola"}
    access, refresh, expires_at, last4, state = _stored(app, channel_id)
    assert (access, refresh, last4, state) == (NEW[0], NEW[1], "3333", "connected")
    assert expires_at - datetime.now(UTC) > timedelta(minutes=110)  # now + 7200 s
    with app.app_context():
        assert db.session.scalar(select(Message.delivery_state).where(
            Message.direction == "out")) == "delivered"
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "channel.token_refreshed"))
        assert (event.object_id, event.data) == (channel_id, {"name": "Tienda (x)",
                                                              "token": "…3333"})


def test_a_refused_token_is_refreshed_once_and_the_send_tried_again(x_app, fake_platform,
                                                                    make_user, run_jobs):
    app = x_app
    channel_id = _x_channel(app, None)  # expiry unknown: refreshed when X refuses it
    fake_platform.revoked.add(OLD[0])
    ticket_id = _ticket_on(app, channel_id, psid="9001")
    with app.app_context():
        create_reply(ticket_id, make_user("cm").id, "Hola", "private", T0)
    run_jobs()
    basic = "Basic " + base64.b64encode(b"desk-client:desk-client-secret").decode()
    assert [(c["path"], c["headers"]["Authorization"]) for c in fake_platform.calls] == [
        ("/x/dm_conversations/with/9001/messages", f"Bearer {OLD[0]}"),
        ("/x/oauth2/token", basic),
        ("/x/dm_conversations/with/9001/messages", f"Bearer {NEW[0]}")]
    assert _stored(app, channel_id)[:2] == NEW


def test_a_refused_refresh_token_marks_the_channel_failing_and_the_reply_waits(
        x_app, fake_platform, make_user, run_jobs):
    app = x_app
    fake_platform.x_refresh.clear()
    channel_id = _x_channel(app, T0 - timedelta(minutes=1))
    fake_platform.revoked.add(OLD[0])
    ticket_id = _ticket_on(app, channel_id, psid="9001")
    with app.app_context():
        create_reply(ticket_id, make_user("cm").id, "Hola", "private", T0)
    run_jobs()
    access, refresh, _, _, state = _stored(app, channel_id)
    assert state == "failing" and (access, refresh) == OLD
    with app.app_context():
        assert db.session.scalar(select(Message.delivery_state).where(
            Message.direction == "out")) == "waiting"
        # An admin pastes a new pair: the reply goes with it.
        fake_platform.revoked.clear()
        set_token(channel_id, "x-access-pasted-5555", None, T0, refresh_token="x-refresh-p-6666")
        fake_platform.x_refresh["x-refresh-p-6666"] = {"access_token": "x-access-r-7777",
                                                       "refresh_token": "x-refresh-r-8888"}
    run_jobs()
    sends = [c for c in fake_platform.calls if c["path"].startswith("/x/dm_")]
    assert sends[-1]["headers"]["Authorization"] == "Bearer x-access-r-7777"
    assert _stored(app, channel_id)[:2] == ("x-access-r-7777", "x-refresh-r-8888")


def test_the_sweep_refreshes_due_tokens_only(x_app, fake_platform):
    app = x_app
    now = datetime.now(UTC)
    due = _x_channel(app, now + timedelta(minutes=5))
    with app.app_context():
        later = Channel(platform="x", account_id="3355", name="Otra", created_at=T0,
                        token_expires_at=now + timedelta(hours=1))
        later.access_token, later.refresh_token = "x-access-later", "x-refresh-later"
        db.session.add(later)
        db.session.commit()
        assert refresh_due_tokens(now, app.config) == 1
        assert refresh_due_tokens(now, app.config) == 0  # fresh now: nothing more to do
    assert len(_token_calls(fake_platform)) == 1
    assert _stored(app, due)[:2] == NEW


def test_two_workers_never_refresh_the_same_token_at_once(x_app, fake_platform):
    app = x_app
    channel_id = _x_channel(app, T0 - timedelta(minutes=1))
    fake_platform.delay = 0.3  # the first refresh is still on the wire when the second starts
    outcomes, start = [], threading.Barrier(2)

    def worker():
        with app.app_context():
            start.wait()
            outcomes.append(refresh_token(channel_id, T0, app.config))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["fresh", "refreshed"]
    assert len(_token_calls(fake_platform)) == 1
    assert _stored(app, channel_id)[:2] == NEW
