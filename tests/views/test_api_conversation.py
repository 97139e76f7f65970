"""The conversation API (#22): a whole conversation driven only through /api/v1 (ingest,
read, claim, a reply whose Idempotency-Key is sent twice and which is delivered once,
resolve); the interface's rules (roles, collisions, crisis holds) hold for tokens too;
problem details, idempotency keys, cursor pages and rate limits."""
import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desk.accounts import idempotency
from desk.accounts.audit import AuditEvent
from desk.accounts.tokens import create_api_token
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import MAX_ID
from desk.escalation.crisis import Incident
from desk.inbox.tickets import Message, Note, Ticket
from desk.notify.webhooks import WebhookDelivery
from desk.replies.library import library_changed
from desk.replies.models import CannedReply
from desk.sla.sweep import sweep as sweep_sla
from tests.factories import add_customer_message, make_channel, make_ticket
from tests.fakeplatform import FakePlatform
from tests.notify.test_webhooks_out import SECRET, Receiver, verify
from workers.feedback import send_survey

PROBLEM = "application/problem+json"
MAX_SEEN = MAX_ID  # "I have seen everything": no collision


@pytest.fixture
def fake(app):
    platform = FakePlatform().start()
    saved = {k: app.config[k] for k in ("META_GRAPH_URL", "OUTBOUND_RETRY_INTERVALS")}
    app.config.update(META_GRAPH_URL=platform.url + "/graph", OUTBOUND_RETRY_INTERVALS="0,0,0")
    yield platform
    app.config.update(saved)
    platform.stop()


def bearer(user=None, scopes=None) -> dict:
    person = db.session.get(User, user.id) if user is not None else None
    _token, secret = create_api_token("test", person, scopes=scopes)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api(client):
    """api(method, path, headers, json=None, key=None) -> response (no CSRF: bearer only)."""
    def call(method, path, headers, json=None, key=None):
        headers = dict(headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return client.open("/api/v1" + path, method=method, json=json, headers=headers,
                           csrf=False)
    return call


def test_a_whole_conversation_through_the_api_sends_the_reply_once(app_ctx, api, fake, run_jobs,
                                                                   make_user):
    channel = make_channel("facebook", "page-1")
    channel.access_token = "page-token"
    db.session.commit()
    integration = bearer(scopes=["write:messages"])
    agent = make_user("cm")
    token = bearer(agent)

    ingest = {"channel": {"platform": "facebook", "account_id": "page-1"}, "kind": "dm",
              "message_id": "mid-1", "author": {"id": "psid-9", "name": "Lucía Pérez"},
              "text": "¿Dónde está mi pedido 1234?", "sent_at": "2026-11-02T10:00:00Z"}
    accepted = api("POST", "/messages", integration, ingest, key="ingest-1")
    assert accepted.status_code == 202
    assert api("POST", "/messages", integration, ingest, key="ingest-1").get_json() == \
        accepted.get_json()
    run_jobs()

    tickets = api("GET", "/tickets?status=open", token).get_json()["tickets"]
    assert len(tickets) == 1
    ticket_id = tickets[0]["id"]
    page = api("GET", f"/tickets/{ticket_id}/messages", token).get_json()
    assert [m["text"] for m in page["messages"]] == ["¿Dónde está mi pedido 1234?"]
    seen = page["last_message_id"]
    assert api("GET", f"/tickets/{ticket_id}", token).get_json()["last_message_id"] == seen

    claimed = api("POST", f"/tickets/{ticket_id}/claim", token, key="claim-1")
    assert claimed.status_code == 200 and claimed.get_json()["assignee_id"] == agent.id

    reply = {"text": "¡Hola Lucía! Sale mañana.", "visibility": "private",
             "last_seen_message_id": seen}
    first = api("POST", f"/tickets/{ticket_id}/replies", token, reply, key="reply-1")
    again = api("POST", f"/tickets/{ticket_id}/replies", token, reply, key="reply-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and first.headers["Location"] == again.headers["Location"]
    run_jobs()
    sends = [call for call in fake.calls if "json" in call]  # not the customer's profile lookup
    assert len(sends) == 1  # sent once
    assert db.session.scalar(select(func.count(Message.id)).where(Message.direction == "out")) == 1
    message = api("GET", first.headers["Location"].split("/api/v1", 1)[1], token).get_json()
    assert message["delivery_state"] == "delivered" and message["platform_message_id"]

    resolved = api("POST", f"/tickets/{ticket_id}/resolve", token, key="resolve-1")
    assert resolved.get_json()["status"] == "resolved"
    assert resolved.get_json()["resolution"] == "replied"
    actions = dict(db.session.execute(select(AuditEvent.action, AuditEvent.source).where(
        AuditEvent.ticket_id == ticket_id, AuditEvent.user_id == agent.id)).all())
    assert {"ticket.claimed": "api", "reply_created": "api", "ticket.resolved": "api"
            }.items() <= actions.items()


def test_a_reply_after_someone_elses_is_a_collision_and_writes_nothing(app_ctx, api, make_user):
    ticket = make_ticket()
    first, second = make_user("cm"), make_user("cm")
    seen = api("GET", f"/tickets/{ticket.id}/messages", bearer(first)).get_json()["last_message_id"]
    body = {"text": "Lo miro", "visibility": "private", "last_seen_message_id": seen}
    assert api("POST", f"/tickets/{ticket.id}/replies", bearer(second), body).status_code == 201
    late = api("POST", f"/tickets/{ticket.id}/replies", bearer(first), body, key="late")
    assert late.status_code == 409 and late.mimetype == PROBLEM
    problem = late.get_json()
    assert problem["type"] == "urn:desk:problem:collision" and problem["status"] == 409
    assert [r["text"] for r in problem["replies"]] == ["Lo miro"]
    assert db.session.scalar(select(func.count(Message.id)).where(Message.direction == "out")) == 1
    body["last_seen_message_id"] = problem["last_message_id"]  # read it, answer anyway: new key
    assert api("POST", f"/tickets/{ticket.id}/replies", bearer(first), body,
               key="late-2").status_code == 201


def test_a_reply_during_a_crisis_is_held_for_approval(app_ctx, api, make_user):
    ticket = make_ticket(kind="comment")
    incident = Incident(title="Outage", status="open", approval_required=True,
                        created_at=clock_now())
    incident.tickets.append(ticket)
    db.session.add(incident)
    db.session.commit()
    body = {"text": "Lo estamos arreglando", "visibility": "public", "last_seen_message_id": 0}
    answer = api("POST", f"/tickets/{ticket.id}/replies", bearer(make_user("cm")), body)
    assert answer.status_code == 201 and answer.get_json()["delivery_state"] == "held"


def test_tokens_do_no_more_than_their_users(app_ctx, api, make_user):
    ticket = make_ticket()
    cm, lead = make_user("cm"), make_user("lead")
    cm_token = bearer(cm)
    refused = api("POST", f"/tickets/{ticket.id}/assign", cm_token, {"assignee_id": lead.id})
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert refused.get_json()["title"] == "Forbidden"
    assert api("POST", f"/tickets/{ticket.id}/assign", bearer(lead),
               {"assignee_id": cm.id}).get_json()["assignee_id"] == cm.id
    # a token without the scope, and an integration's token (no person to act as)
    assert api("POST", f"/tickets/{ticket.id}/notes", bearer(cm, ["read"]),
               {"body": "x"}).status_code == 403
    assert api("POST", f"/tickets/{ticket.id}/claim", bearer(scopes=["write:tickets"])
               ).status_code == 403
    escalation = api("POST", f"/tickets/{ticket.id}/escalations", cm_token,
                     {"reason": "legal", "level": 1}).get_json()
    assert api("POST", f"/escalations/{escalation['id']}/acknowledge", cm_token).status_code == 403
    acked = api("POST", f"/escalations/{escalation['id']}/acknowledge", bearer(lead)).get_json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by_id"] == lead.id
    assert db.session.get(Ticket, ticket.id).assignee_id == cm.id


def test_notes_tags_priority_reasons_and_reopening(app_ctx, api, make_user):
    ticket = make_ticket()
    cm = make_user("cm")
    token = bearer(cm)
    for text in ("uno", "dos", "tres"):
        assert api("POST", f"/tickets/{ticket.id}/notes", token, {"body": text}).status_code == 201
    pages, path = [], f"/tickets/{ticket.id}/notes?limit=2"
    while path:
        page = api("GET", path, token).get_json()
        pages.append([n["body"] for n in page["notes"]])
        path = page["next_cursor"] and f"/tickets/{ticket.id}/notes?limit=2&cursor={page['next_cursor']}"
    assert pages == [["uno", "dos"], ["tres"]]
    api("POST", f"/tickets/{ticket.id}/tags", token, {"tag": "Refund"})
    assert api("POST", f"/tickets/{ticket.id}/priority", token,
               {"priority": "high"}).get_json()["tags"] == ["refund"]
    out = api("DELETE", f"/tickets/{ticket.id}/tags/refund", token).get_json()
    assert (out["tags"], out["priority"]) == ([], "high")
    spam = api("POST", f"/tickets/{ticket.id}/resolve", token, {"no_reply_reason": "spam"}).get_json()
    assert (spam["status"], spam["resolution"], spam["resolution_reason"]) == (
        "resolved", "no_reply_needed", "spam")
    assert api("POST", f"/tickets/{ticket.id}/resolve", token,
               {"no_reply_reason": "bogus"}).status_code == 422
    assert api("POST", f"/tickets/{ticket.id}/reopen", token).get_json()["status"] == "open"
    assert api("GET", "/tickets/999999/notes", token).mimetype == PROBLEM


def test_messages_page_by_cursor_and_hostile_cursors_are_refused(app_ctx, api, make_user):
    ticket = make_ticket("uno")
    for text in ("dos", "tres"):
        add_customer_message(ticket, text)
    token = bearer(make_user("cm"))
    first = api("GET", f"/tickets/{ticket.id}/messages?limit=2", token).get_json()
    rest = api("GET", f"/tickets/{ticket.id}/messages?limit=2&cursor={first['next_cursor']}",
               token).get_json()
    assert [m["text"] for m in first["messages"] + rest["messages"]] == ["uno", "dos", "tres"]
    assert rest["next_cursor"] is None
    for bad in ("cursor=dDox", "cursor=%00", "limit=0", "limt=2"):  # another list's cursor too
        answer = api("GET", f"/tickets/{ticket.id}/messages?{bad}", token)
        assert answer.status_code in (400, 422) and answer.mimetype == PROBLEM, bad


def test_an_idempotency_key_is_for_one_request_and_expires(app_ctx, api, make_user):
    ticket = make_ticket()
    token = bearer(make_user("cm"))
    path = f"/tickets/{ticket.id}/notes"
    assert api("POST", path, token, {"body": "uno"}, key="k1").status_code == 201
    other = api("POST", path, token, {"body": "otro"}, key="k1")
    assert other.status_code == 422 and other.mimetype == PROBLEM
    assert api("POST", path, token, {"body": "uno"}, key="bad\u00e9key").status_code == 400
    assert api("POST", path, bearer(make_user("cm")), {"body": "uno"}, key="k1").status_code == 201
    assert db.session.scalar(select(func.count(Note.id))) == 2  # another token's key is its own
    # an answered key is kept 24 hours; after that the same key starts afresh
    row = db.session.scalar(select(idempotency.IdempotentRequest).where(
        idempotency.IdempotentRequest.key == "k1").limit(1))
    later = row.created_at + idempotency.EXPIRES + timedelta(seconds=1)
    assert idempotency.begin(row.token_id, "k1", row.fingerprint, later).outcome == "new"


def test_a_token_is_rate_limited_with_standard_headers(app_ctx, api, make_user, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "API_RATE_LIMIT", "2 per minute")
    token, other = bearer(make_user("cm")), bearer(make_user("cm"))
    first = api("GET", "/tickets", token)
    assert (first.headers["RateLimit-Limit"], first.headers["RateLimit-Remaining"]) == ("2", "1")
    assert api("GET", "/me", token).status_code == 200
    refused = api("GET", "/tickets", token)
    assert refused.status_code == 429 and refused.mimetype == PROBLEM
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["RateLimit-Remaining"] == "0"
    assert api("GET", "/tickets", other).status_code == 200  # each token has its own budget


def test_canned_replies_and_suggestions(app_ctx, api, make_user):
    db.session.add(CannedReply(key="order-status-es", title="Estado del pedido", language="es",
                               body="¡Hola {{customer.first_name}}! Tu pedido está en camino.",
                               triggers=["dónde está mi pedido"], tags=["orders"]))
    db.session.add(CannedReply(key="old", title="Old", language="es", body="x", active=False))
    db.session.commit()
    library_changed()
    ticket = make_ticket("¿Dónde está mi pedido?")
    token = bearer(make_user("cm"))
    listed = api("GET", "/canned-replies", token).get_json()["canned_replies"]
    assert [r["key"] for r in listed] == ["order-status-es"]
    found = api("GET", f"/tickets/{ticket.id}/suggestions", token).get_json()
    assert found["suggestions"][0]["key"] == "order-status-es"
    assert found["suggestions"][0]["text"].startswith("¡Hola Lucía!")


@pytest.fixture
def subscriber(app, monkeypatch):
    """A loopback endpoint taking the desk's signed events; events(patterns) configures them."""
    server = Receiver()

    def subscribe(patterns="*", allow_private=True):
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_URL", server.url)
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_SECRET", SECRET)
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_ALLOW_PRIVATE", allow_private)
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_RETRY_INTERVALS", "0,0,0")
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_EVENTS", patterns)
        return server
    yield subscribe
    server.close()


def events_received(server) -> list[dict]:
    return [verify(SECRET, headers, body) for headers, body in server.requests]


def test_what_happens_goes_out_as_signed_events(app_ctx, api, fake, run_jobs, make_user,
                                                subscriber):
    server = subscriber("ticket.*, message.created, reply.*, survey.*")
    channel = make_channel("facebook", "page-2")
    channel.access_token = "page-token"
    db.session.commit()
    ingest = {"channel": {"platform": "facebook", "account_id": "page-2"}, "kind": "dm",
              "message_id": "mid-7", "author": {"id": "psid-7", "name": "Lucía Pérez"},
              "text": "Hola", "sent_at": "2026-11-02T10:00:00Z"}
    api("POST", "/messages", bearer(scopes=["write:messages"]), ingest)
    run_jobs()
    ticket_id = db.session.scalar(select(Ticket.id))
    token = bearer(make_user("cm"))
    api("POST", f"/tickets/{ticket_id}/claim", token)
    api("POST", f"/tickets/{ticket_id}/replies", token,
        {"text": "¡Hola!", "visibility": "private", "last_seen_message_id": MAX_SEEN})
    run_jobs()
    api("POST", f"/tickets/{ticket_id}/resolve", token)
    run_jobs()
    assert send_survey(ticket_id) == "sent"  # the job the resolution scheduled, run now
    api("POST", "/messages", bearer(scopes=["write:messages"]), {
        **ingest, "message_id": "mid-8", "text": "5"})  # the customer's rating, by DM
    run_jobs()
    events = events_received(server)
    assert [e["type"] for e in events][:6] == [
        "ticket.created", "message.created", "ticket.assigned", "message.created",
        "reply.delivered", "ticket.resolved"]
    [answered] = [e["data"] for e in events if e["type"] == "survey.answered"]
    assert (answered["ticket_id"], answered["rating"], answered["via"]) == (ticket_id, 5, "dm")
    assert {e["data"]["ticket"]["ticket_id"] for e in events[:6]} == {ticket_id}
    assert [(e["data"]["message"]["direction"], e["data"]["message"]["automatic"])
            for e in events if e["type"] == "message.created"
            ] == [("in", False), ("out", False), ("out", True)]  # the reply, then the survey
    delivered = events[4]["data"]["message"]
    assert delivered["delivery_state"] == "delivered" and delivered["platform_message_id"]


def test_sla_events_go_out(app_ctx, run_jobs, subscriber):
    server = subscriber("sla.*")
    start = clock_now()
    ticket = make_ticket(now=start)  # the default policy: warned at 45 minutes, due at 60
    sweep_sla(start + timedelta(minutes=50))
    sweep_sla(start + timedelta(minutes=61))
    run_jobs()
    events = events_received(server)
    assert [e["type"] for e in events] == ["sla.warning", "sla.breached"]
    assert events[1]["data"]["ticket"]["ticket_id"] == ticket.id
    assert events[1]["data"]["clock"]["kind"] == "first"


def test_the_event_filter_and_private_addresses(app_ctx, api, run_jobs, make_user, subscriber):
    ticket = make_ticket()
    token = bearer(make_user("cm"))
    server = subscriber("ticket.resolved")
    api("POST", f"/tickets/{ticket.id}/claim", token)  # filtered out: not even stored
    api("POST", f"/tickets/{ticket.id}/priority", token, {"priority": "high"})
    api("POST", f"/tickets/{ticket.id}/resolve", token)
    run_jobs()
    assert [e["type"] for e in events_received(server)] == ["ticket.resolved"]
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 1
    subscriber("*", allow_private=False)  # a loopback target is refused, never contacted
    api("POST", f"/tickets/{ticket.id}/reopen", token)
    api("POST", f"/tickets/{ticket.id}/resolve", token)
    run_jobs()
    assert len(server.requests) == 1
    refused = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id > 1)
                                 .order_by(WebhookDelivery.id)).all()
    assert [(d.event_type, d.status) for d in refused] == [
        ("ticket.updated", "refused"), ("ticket.resolved", "refused")]
    assert refused[0].payload["data"]["change"] == {"status": ["resolved", "open"]}
    assert "non-public" in refused[0].last_error


def test_a_linkedin_reply_goes_through_the_bridge_and_is_confirmed(app_ctx, api, run_jobs,
                                                                   make_user, subscriber):
    server = subscriber("reply.*")
    make_channel("linkedin", "brand-li")
    bridge = bearer(scopes=["write:messages"])  # the integration that brings LinkedIn in
    api("POST", "/messages", bridge, {
        "channel": {"platform": "linkedin", "account_id": "brand-li"}, "kind": "comment",
        "message_id": "urn:li:comment:1", "thread_id": "urn:li:share:9",
        "author": {"id": "li-42", "name": "Marta Núñez"}, "text": "¿Hay stock?"})
    run_jobs()
    ticket_id = db.session.scalar(select(Ticket.id))
    token = bearer(make_user("cm"))
    reply = api("POST", f"/tickets/{ticket_id}/replies", token,
                {"text": "¡Sí, desde el lunes!", "last_seen_message_id": MAX_SEEN}).get_json()
    run_jobs()
    message_path = f"/tickets/{ticket_id}/messages/{reply['id']}"
    assert api("GET", message_path, token).get_json()["delivery_state"] == "bridge"
    [handed] = events_received(server)
    assert handed["type"] == "reply.bridge"
    assert handed["data"]["message"]["text"] == "¡Sí, desde el lunes!"
    assert handed["data"]["message"]["parent_platform_id"] == "urn:li:comment:1"
    assert handed["data"]["channel"] == {"platform": "linkedin", "account_id": "brand-li"}
    assert handed["data"]["confirm"] == "/api/v1" + message_path + "/delivery"

    confirm = {"state": "delivered", "platform_message_id": "urn:li:comment:2"}
    assert api("POST", message_path + "/delivery", token, confirm).status_code == 403  # scope
    done = api("POST", message_path + "/delivery", bridge, confirm, key="confirm-1")
    assert done.status_code == 200 and done.get_json()["delivery_state"] == "delivered"
    assert api("POST", message_path + "/delivery", bridge, confirm).status_code == 200  # again
    late = api("POST", message_path + "/delivery", bridge, {"state": "failed", "error": "x"})
    assert late.status_code == 409 and late.mimetype == PROBLEM
    run_jobs()
    assert [e["type"] for e in events_received(server)] == ["reply.bridge", "reply.delivered"]
    shown = api("GET", message_path, token).get_json()
    assert (shown["delivery_state"], shown["platform_message_id"]) == (
        "delivered", "urn:li:comment:2")


def test_a_bridge_can_say_a_reply_failed_and_without_one_replies_are_recorded(
        app_ctx, api, run_jobs, make_user, subscriber):
    ticket = make_ticket(channel=make_channel("linkedin", "li-2"), kind="comment")
    token = bearer(make_user("cm"))
    body = {"text": "Hola", "last_seen_message_id": MAX_SEEN}
    unbridged = api("POST", f"/tickets/{ticket.id}/replies", token, body).get_json()
    run_jobs()
    assert db.session.get(Message, unbridged["id"]).delivery_state == "recorded"
    subscriber("reply.bridge")
    bridged = api("POST", f"/tickets/{ticket.id}/replies", token, body).get_json()
    run_jobs()
    failed = api("POST", f"/tickets/{ticket.id}/messages/{bridged['id']}/delivery",
                 bearer(scopes=["write:messages"]),
                 {"state": "failed", "error": "LinkedIn: comment thread locked"}).get_json()
    assert (failed["delivery_state"], failed["delivery_error"]) == (
        "failed", "LinkedIn: comment thread locked")


def test_the_example_client_in_the_docs_drives_a_conversation(app_ctx, live_server, make_user):
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "desk_client.py"
    spec = importlib.util.spec_from_file_location("desk_client", path)
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    for text in ("uno", "dos", "tres"):
        make_ticket(text)
    agent = make_user("cm")
    desk = client.Desk(live_server, bearer(agent)["Authorization"].split()[1], retries=0)
    tickets = list(desk.pages("/tickets", "tickets", limit=2))
    assert [t["subject"] for t in tickets] == ["tres", "dos", "uno"]
    ticket_id = tickets[0]["id"]
    seen = desk.messages(ticket_id)[-1]["id"]
    desk.post(f"/tickets/{ticket_id}/claim")
    sent = desk.reply(ticket_id, "¡Hola!", last_seen=seen, visibility="private", key="once")
    assert desk.reply(ticket_id, "¡Hola!", last_seen=seen, visibility="private",
                      key="once") == sent
    with pytest.raises(client.DeskProblem) as collision:
        desk.reply(ticket_id, "¿Otra?", last_seen=seen, visibility="private")
    assert collision.value.problem["status"] == 409
    assert db.session.scalar(select(func.count(Message.id)).where(Message.direction == "out")) == 1


def test_admins_read_the_delivery_log_and_replay_a_failed_delivery(app_ctx, api, run_jobs,
                                                                   make_user, subscriber):
    server = subscriber("ticket.resolved")
    server.statuses[:] = [404]  # the receiver refuses it: failed, not retried
    ticket = make_ticket()
    agent = bearer(make_user("cm"))
    api("POST", f"/tickets/{ticket.id}/resolve", agent)
    run_jobs()
    admin = bearer(make_user("admin"))
    assert api("GET", "/webhooks/deliveries", agent).status_code == 403  # admins only
    [failed] = api("GET", "/webhooks/deliveries?status=failed", admin).get_json()["deliveries"]
    assert (failed["event_type"], failed["last_error"]) == ("ticket.resolved", "HTTP 404")
    server.statuses[:] = [204]
    replayed = api("POST", f"/webhooks/deliveries/{failed['id']}/replay", admin)
    assert replayed.status_code == 200 and replayed.get_json()["status"] == "pending"
    run_jobs()
    [done] = api("GET", "/webhooks/deliveries", admin).get_json()["deliveries"]
    assert done["status"] == "delivered"
    ids = [headers["webhook-id"] for headers, _body in server.requests]
    assert ids == [failed["msg_id"]] * 2  # the same webhook-id: receivers drop a duplicate
    assert db.session.scalar(select(AuditEvent.source).where(
        AuditEvent.action == "webhook.replayed")) == "api"


def test_endpoints_subscribe_with_their_own_filter_and_secret(app_ctx, api, run_jobs, make_user,
                                                             monkeypatch):
    monkeypatch.setitem(app_ctx.config, "OUTGOING_WEBHOOK_RETRY_INTERVALS", "0,0,0")
    first, second = Receiver(), Receiver()
    try:
        admin = bearer(make_user("admin"))
        refused = api("POST", "/webhooks/endpoints", admin, {"url": first.url, "events": "*"})
        assert refused.status_code == 400 and "non-public" in refused.get_json()["detail"]
        made = [api("POST", "/webhooks/endpoints", admin, {
            "url": server.url, "events": events, "allow_private": True}).get_json()
            for server, events in ((first, "ticket.resolved"), (second, "ticket.*"))]
        assert api("GET", "/webhooks/endpoints", bearer(make_user("lead"))).status_code == 403
        ticket = make_ticket()
        agent = bearer(make_user("cm"))
        api("POST", f"/tickets/{ticket.id}/claim", agent)
        api("POST", f"/tickets/{ticket.id}/resolve", agent)
        run_jobs()
        got = [[verify(made[i]["secret"], h, b)["type"] for h, b in server.requests]
               for i, server in enumerate((first, second))]
        assert got == [["ticket.resolved"], ["ticket.assigned", "ticket.resolved"]]
        assert api("DELETE", f"/webhooks/endpoints/{made[1]['id']}", admin).get_json()["active"] \
            is False
        api("POST", f"/tickets/{ticket.id}/reopen", agent)
        api("POST", f"/tickets/{ticket.id}/resolve", agent)
        run_jobs()
        assert (len(first.requests), len(second.requests)) == (2, 2)
        logged = api("GET", "/webhooks/deliveries", admin).get_json()["deliveries"]
        assert {d["endpoint_id"] for d in logged} == {made[0]["id"], made[1]["id"]}
    finally:
        first.close()
        second.close()


def test_a_date_a_validator_cannot_move_is_a_422_not_a_500(app_ctx, api):
    make_channel("tiktok", "tt-1")
    answer = api("POST", "/messages", bearer(scopes=["write:messages"]), {
        "channel": {"platform": "tiktok", "account_id": "tt-1"}, "kind": "dm",
        "message_id": "m-1", "author": {"id": "u-1"}, "sent_at": "0001-01-01T00:00:00+01:00"},
        key="old-date")
    assert answer.status_code == 422 and answer.mimetype == PROBLEM
