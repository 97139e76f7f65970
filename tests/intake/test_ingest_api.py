"""POST /api/v1/messages: the generic ingest shape, single and batch, validation, dedupe."""
import pytest
from sqlalchemy import select

from desk.accounts.tokens import create_api_token
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from tests.factories import make_channel
from tests.webhook_helpers import counts, message_by


@pytest.fixture
def auth(app_ctx):
    make_channel("tiktok", "brand-tt")
    make_channel("youtube", "UC123")
    _token, raw = create_api_token("integration")
    return {"Authorization": f"Bearer {raw}"}


def msg(i=1, **extra):
    base = {"channel": {"platform": "tiktok", "account_id": "brand-tt"}, "kind": "comment",
            "message_id": f"c-{i}", "thread_id": "video-9", "author": {
                "id": "u-77", "handle": "@marta", "name": "Marta Núñez", "followers": 5400},
            "text": "¿Cuándo vuelve a haber stock? 🙏", "sent_at": "2026-11-02T10:00:00Z",
            "post_url": "https://www.tiktok.com/@brand/video/9", "post_text": "Nueva colección"}
    return {**base, **extra}


def post(client, body, headers):
    return client.post("/api/v1/messages", json=body, headers=headers, csrf=False)


def test_one_message_opens_a_ticket_field_by_field(client, auth, run_jobs):
    response = post(client, msg(attachments=[{"type": "image", "url": "https://cdn.example/i.jpg"}]), auth)
    assert response.status_code == 202
    assert response.get_json()["accepted"] == 1 and response.get_json()["new"] == 1
    run_jobs()
    message = message_by("c-1")
    ticket = message.ticket
    assert (ticket.kind, ticket.thread_key, ticket.language) == ("comment", "video-9", "es")
    assert ticket.post_url == "https://www.tiktok.com/@brand/video/9" and ticket.post_text == "Nueva colección"
    assert message.text == "¿Cuándo vuelve a haber stock? 🙏"
    assert message.attachments == [{"type": "image", "url": "https://cdn.example/i.jpg"}]
    assert message.sent_at.isoformat() == "2026-11-02T10:00:00+00:00"
    identity = ticket.customer.identities[0]
    assert (identity.platform, identity.platform_user_id, identity.handle, identity.followers) == (
        "tiktok", "u-77", "@marta", 5400)
    assert ticket.customer.display_name == "Marta Núñez"


def test_batch_threads_by_thread_id_and_dms_by_author(client, auth, run_jobs):
    body = {"messages": [msg(1), msg(2, text="Yo también quiero saberlo"),
                         msg(3, kind="dm", thread_id=None, text="hola"),
                         msg(4, kind="dm", thread_id=None, text="¿sigues ahí?"),
                         msg(5, channel={"platform": "youtube", "account_id": "UC123"}, thread_id=None)]}
    assert post(client, body, auth).status_code == 202
    run_jobs()
    tickets = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert sorted((t.kind, t.thread_key, len(t.messages)) for t in tickets) == [
        ("comment", "c-5", 1), ("comment", "video-9", 2), ("dm", "u-77", 2)]


def test_batch_of_1000_is_accepted_in_one_request(client, auth, run_jobs):
    body = {"messages": [msg(i, thread_id=f"t-{i % 100}") for i in range(1000)]}
    response = post(client, body, auth)
    assert response.status_code == 202 and response.get_json()["new"] == 1000
    run_jobs()
    assert counts() == (1000, 100, 1000)


def test_duplicates_are_reported_and_ignored(client, auth, run_jobs):
    assert post(client, msg(), auth).get_json()["new"] == 1
    again = post(client, {"messages": [msg(), msg(), msg(2)]}, auth).get_json()
    assert (again["accepted"], again["new"], again["duplicates"]) == (3, 1, 2)
    run_jobs()
    assert counts() == (2, 1, 2)


def test_edit_and_delete_verbs(client, auth, run_jobs):
    post(client, msg(), auth)
    post(client, msg(verb="edit", text="¿Cuándo hay stock?"), auth)
    run_jobs()
    assert message_by("c-1").text == "¿Cuándo hay stock?" and message_by("c-1").edited_at is not None
    post(client, msg(verb="delete"), auth)
    run_jobs()
    assert message_by("c-1").deleted_at is not None


def test_validation_errors_are_422_with_fields(client, auth):
    bad = msg(kind="tweet", author={"id": ""}, extra=1)
    response = post(client, bad, auth)
    assert response.status_code == 422
    fields = {d["field"] for d in response.get_json()["details"]}
    assert {"kind", "author.id", "extra"} <= fields
    response = post(client, {"messages": [msg(), msg(sent_at="yesterday")]}, auth)
    assert response.status_code == 422
    assert response.get_json()["details"][0]["field"] == "messages.1.sent_at"
    assert post(client, {"messages": [msg(i) for i in range(1001)]}, auth).status_code == 422
    assert counts()[0] == 0


def test_unknown_channel_is_422_and_nothing_stored(client, auth):
    body = {"messages": [msg(), msg(2, channel={"platform": "linkedin", "account_id": "nope"})]}
    response = post(client, body, auth)
    assert response.status_code == 422
    assert response.get_json()["details"] == [
        {"field": "messages.1.channel", "message": "no connected channel with this platform and account_id"}]
    assert counts()[0] == 0


@pytest.mark.security
def test_token_is_required(client, auth):
    assert post(client, msg(), {}).status_code == 401
    assert post(client, msg(), {"Authorization": "Bearer desk_wrong"}).status_code == 401
    assert counts()[0] == 0


def test_not_json_is_400(client, auth):
    response = client.post("/api/v1/messages", data="nope", headers=auth, csrf=False,
                           content_type="application/json")
    assert response.status_code == 400 and "valid JSON" in response.get_json()["error"]


def test_documented_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/messages"]["post"]
    assert "202" in operation["responses"] and "422" in operation["responses"]
    assert "MessageIn" in spec["components"]["schemas"]
