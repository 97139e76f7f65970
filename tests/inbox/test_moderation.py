"""Moderating a public comment from its ticket, against the fake Graph API on loopback: hide,
show again and delete reach the platform and are recorded (audit too); the platform's refusal
is shown and changes nothing; a refused token marks the channel failing; DMs, replies and X
posts offer no moderation."""
import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.inbox.tickets import Message
from tests.factories import make_channel, make_ticket


@pytest.fixture
def comment(app_ctx, fake_platform):
    channel = make_channel("facebook", name="Tienda Sol")
    channel.access_token = "page-token"
    db.session.commit()
    ticket = make_ticket("Sois unos estafadores, no compréis aquí", channel=channel, kind="comment")
    message = ticket.messages[0]
    return ticket.id, message.id, message.platform_message_id


def _post(client, ticket_id, message_id, action):
    return client.post(f"/tickets/{ticket_id}/messages/{message_id}/{action}",
                       headers={"HX-Request": "true"})


def test_a_cm_hides_shows_again_and_deletes_a_comment_on_the_platform(
        comment, client, login, make_user, fake_platform):
    ticket_id, message_id, comment_id = comment
    cm = make_user("cm")
    login(cm)
    page = client.get(f"/tickets/{ticket_id}").text
    assert f'id="moderate-{message_id}"' in page
    hidden = _post(client, ticket_id, message_id, "hide")
    assert hidden.status_code == 200 and "hidden on the platform" in hidden.text
    assert fake_platform.calls[-1]["path"] == f"/graph/{comment_id}"
    assert fake_platform.calls[-1]["json"] == {"is_hidden": True}
    assert fake_platform.comments[comment_id] == "hidden"
    assert fake_platform.calls[-1]["headers"]["Authorization"] == "Bearer page-token"
    assert _post(client, ticket_id, message_id, "unhide").status_code == 200
    assert fake_platform.comments[comment_id] == "shown"
    deleted = _post(client, ticket_id, message_id, "delete")
    assert deleted.status_code == 200 and "Deleted on the platform" in deleted.text
    assert fake_platform.comments[comment_id] == "deleted"
    db.session.expire_all()
    message = db.session.get(Message, message_id)
    assert message.deleted_at is not None and message.hidden_at is None
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("message.%")).order_by(AuditEvent.id)))
    assert actions == ["message.hide", "message.unhide", "message.delete"]
    assert f'id="moderate-{message_id}"' not in client.get(f"/tickets/{ticket_id}").text
    assert _post(client, ticket_id, message_id, "hide").status_code == 409  # gone already


def test_instagram_uses_its_own_field(app_ctx, fake_platform, client, login, make_user):
    channel = make_channel("instagram", name="IG Sol")
    ticket = make_ticket("Fake", channel=channel, kind="comment")
    login(make_user("cm"))
    assert _post(client, ticket.id, ticket.messages[0].id, "hide").status_code == 200
    assert fake_platform.calls[-1]["json"] == {"hide": True}


def test_a_refusal_is_shown_and_changes_nothing(comment, client, login, make_user, fake_platform):
    ticket_id, message_id, _comment_id = comment
    login(make_user("cm"))
    fake_platform.fail(1, status=400, body={"error": {
        "message": "(#10) Permissions error", "code": 10}})
    refused = _post(client, ticket_id, message_id, "hide")
    assert refused.status_code == 422 and "Permissions error" in refused.text
    db.session.expire_all()
    assert db.session.get(Message, message_id).hidden_at is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "message.moderation_refused"))
    assert "Permissions error" in event.data["error"]


def test_a_revoked_token_marks_the_channel_failing(comment, client, login, make_user, fake_platform):
    ticket_id, message_id, _comment_id = comment
    fake_platform.revoked.add("page-token")
    login(make_user("cm"))
    assert _post(client, ticket_id, message_id, "delete").status_code == 422
    db.session.expire_all()
    channel = db.session.scalar(select(Channel).where(Channel.name == "Tienda Sol"))
    assert channel.state == "failing"
    assert db.session.get(Message, message_id).deleted_at is None


@pytest.mark.parametrize("platform,kind", [("facebook", "dm"), ("x", "mention")])
def test_nothing_else_can_be_moderated(app_ctx, fake_platform, client, login, make_user, platform, kind):
    ticket = make_ticket("Hola", channel=make_channel(platform), kind=kind)
    login(make_user("cm"))
    assert f'id="moderate-' not in client.get(f"/tickets/{ticket.id}").text
    assert _post(client, ticket.id, ticket.messages[0].id, "hide").status_code == 409
    assert fake_platform.calls == []


def test_a_message_of_another_ticket_is_a_404(comment, client, login, make_user):
    _ticket_id, message_id, _comment_id = comment
    other = make_ticket("Otro", kind="comment")
    login(make_user("cm"))
    assert _post(client, other.id, message_id, "hide").status_code == 404


def test_an_unknown_action_is_a_400(comment, client, login, make_user, fake_platform):
    ticket_id, message_id, _comment_id = comment
    login(make_user("cm"))
    assert _post(client, ticket_id, message_id, "pin").status_code == 400
    assert fake_platform.calls == []


def test_the_sandbox_records_without_asking_the_platform(comment, app, client, login, make_user,
                                                         fake_platform, monkeypatch):
    ticket_id, message_id, _comment_id = comment
    monkeypatch.setitem(app.config, "SANDBOX", True)
    login(make_user("cm"))
    assert _post(client, ticket_id, message_id, "hide").status_code == 200
    assert fake_platform.calls == []
    db.session.expire_all()
    assert db.session.get(Message, message_id).hidden_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "message.hide"))
    assert event.data["sandbox"] is True
