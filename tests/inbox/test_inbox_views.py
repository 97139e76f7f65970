"""Inbox and ticket pages over HTTP: roles, 400s, 404s, poll stamp, actions, reply collision, XSS."""
import re

import pytest
from sqlalchemy import select

from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from tests.factories import make_channel, make_customer, make_ticket

XSS_TEXT = "<img src=x onerror=alert(1)>"
XSS_NAME = '"><svg onload=alert(1)>'


@pytest.fixture
def cm(make_user, login):
    user = make_user("cm", name="Carla Manager")
    login(user)
    return user


def test_inbox_needs_sign_in_and_an_agent_role(client, app):
    assert client.get("/inbox").status_code == 302
    assert client.get("/tickets/1").status_code == 302


def test_inbox_page_and_fragment(client, app, cm):
    with app.app_context():
        make_ticket("¿Dónde está mi pedido? 📦")
    page = client.get("/inbox")
    assert page.status_code == 200 and "¿Dónde está mi pedido? 📦" in page.text
    assert 'id="inbox-list"' in page.text and "HX-Request" in page.headers["Vary"]
    fragment = client.get("/inbox?view=open&q=pedido", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="inbox-list"')
    assert fragment.headers["HX-Push-Url"] == "/inbox?q=pedido"


def test_the_wait_counts_from_the_first_unanswered_message_not_the_latest(client, app, cm):
    """A first response two days late, and the customer wrote again 24 minutes ago: the row
    says the customer has waited two days (it said "24 minutes" beside the late clock)."""
    from datetime import timedelta

    from desk.core.clock import now as clock_now
    from tests.factories import add_customer_message
    now = clock_now()
    with app.app_context():
        ticket = make_ticket("¿Hola?", sent_at=now - timedelta(days=2, hours=11), now=now - timedelta(days=2, hours=11))
        add_customer_message(ticket, "¿Hay alguien?", sent_at=now - timedelta(minutes=24), now=now)
        row_id = f'id="row-{ticket.id}"'
    page = client.get("/inbox").text
    row = page[page.index(row_id):]
    age = re.search(r'<span class="row-age"[^>]*>([^<]*)</span>', row).group(1)
    assert age == "2 days" and "24 minutes" not in row[:row.index("</li>")]


@pytest.mark.parametrize("query", [
    "view=nope", "sort=id;drop", "cursor=zzz", "channel=abc", "status=open'--", "page=3",
    "q=a&q=b", "priority=extreme", "vip=perhaps",
])
def test_bad_parameters_answer_400_with_a_message(client, cm, query):
    for url in ("/inbox", "/inbox/list", "/inbox/poll"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, (url, query)
        assert "Traceback" not in response.text and "SELECT" not in response.text


def test_literal_search_over_http(client, app, cm):
    with app.app_context():
        make_ticket("descuento del 100% hoy")
        make_ticket("otro mensaje cualquiera")
    body = client.get("/inbox/list?q=%25").text
    assert "100% hoy" in body and "otro mensaje" not in body
    assert "otro mensaje" not in client.get("/inbox/list?q=_").text


def test_load_more_uses_the_cursor(client, app, cm):
    with app.app_context():
        for i in range(30):
            make_ticket(f"mensaje número {i:02d}")
    first = client.get("/inbox/list").text
    assert first.count('data-ticket-id=') == 25 and 'id="load-more"' in first
    import re
    cursor_url = re.search(r'hx-get="(/inbox/list\?cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    more = client.get(cursor_url).text
    assert more.count('data-ticket-id=') == 5 and 'id="load-more"' not in more


def test_poll_answers_204_until_something_changes(client, app, cm):
    with app.app_context():
        channel_id = make_ticket("primero").channel_id
    page = client.get("/inbox/list").text
    import re
    stamp = re.search(r'data-stamp="([^"]+)"', page).group(1)
    assert client.get(f"/inbox/poll?stamp={stamp}").status_code == 204
    with app.app_context():
        make_ticket("segundo mensaje nuevo", channel=db.session.get(Channel, channel_id))
    changed = client.get(f"/inbox/poll?stamp={stamp}")
    assert changed.status_code == 200 and "segundo mensaje nuevo" in changed.text


def test_ticket_page_and_404(client, app, cm):
    with app.app_context():
        ticket = make_ticket("Hola, ¿tienen talla M?", kind="comment",
                             channel=make_channel("facebook"))
        ticket.post_text, ticket.post_url = "Nueva colección", "javascript:alert(1)"
        db.session.commit()
        ticket_id = ticket.id
    page = client.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200
    for part in ('id="composer-text" name="text"', 'id="composer-canned-reply-id" name="canned_reply_id"',
                 "Nueva colección", 'id="customer-panel"', 'value="public"', 'value="private"'):
        assert part in page.text
    assert "javascript:alert" not in page.text
    assert client.get("/tickets/999999").status_code == 404
    assert client.post("/tickets/999999/claim").status_code == 404
    assert client.post("/tickets/999999/reply", data={"text": "x", "last_seen_id": "0"}).status_code == 404


def test_actions_over_http(client, app, cm, make_user):
    other = make_user("cm", name="Otro Agente")
    with app.app_context():
        ticket_id = make_ticket("ayuda").id
    assert client.post(f"/tickets/{ticket_id}/claim").status_code == 200
    assert client.post(f"/tickets/{ticket_id}/assign", data={"assignee_id": other.id}).status_code == 403
    assert client.post(f"/tickets/{ticket_id}/priority", data={"priority": "high"}).status_code == 200
    assert client.post(f"/tickets/{ticket_id}/tags", data={"tag": "envío"}).status_code == 200
    assert client.post(f"/tickets/{ticket_id}/notes", data={"body": "nota interna"}).status_code == 200
    assert client.post(f"/tickets/{ticket_id}/resolve-no-reply", data={"reason": "spam"}).status_code == 200
    assert client.post(f"/tickets/{ticket_id}/reopen").status_code == 200
    assert client.post(f"/tickets/{ticket_id}/resolve").status_code == 200
    assert client.post(f"/tickets/{ticket_id}/resolve", csrf=False).status_code == 400
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert (ticket.status, ticket.priority, [t.name for t in ticket.tags]) == ("resolved", "high", ["envío"])
        assert ticket.assignee_id == cm.id


def test_bulk_over_http(client, app, cm):
    with app.app_context():
        ids = [make_ticket(f"t{i}").id for i in range(3)]
    response = client.post("/inbox/bulk", data={"ids": [str(i) for i in ids], "action": "assign_me"})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "inboxChanged"
    assert client.post("/inbox/bulk", data={"ids": ["1 OR 1=1"], "action": "resolve"}).status_code == 400
    assert client.post("/inbox/bulk", data={"ids": [str(ids[0])], "action": "drop"}).status_code == 400
    with app.app_context():
        assert all(db.session.get(Ticket, i).assignee_id == cm.id for i in ids)
    again = client.post("/inbox/bulk", data={"ids": [str(i) for i in ids], "action": "assign_me"})
    assert "0 tickets updated, 3 skipped: 3 already had that owner" in re.sub(r"<[^>]+>", "", again.get_data(as_text=True))


def test_reply_and_collision_warning(client, app, cm, make_user, login):
    with app.app_context():
        ticket = make_ticket("¿Hay envío a Canarias?")
        ticket_id, seen = ticket.id, ticket.messages[-1].id
    sent = client.post(f"/tickets/{ticket_id}/reply", data={
        "text": "¡Sí! Enviamos a Canarias.", "visibility": "private", "last_seen_id": seen})
    assert sent.status_code == 200 and "¡Sí! Enviamos a Canarias." in sent.text
    second = app.test_client()
    login(make_user("cm", name="Bruno Segundo"), active_client=second)
    late = second.post(f"/tickets/{ticket_id}/reply", data={
        "text": "Hola, sí", "visibility": "private", "last_seen_id": seen})
    assert late.status_code == 409 and late.headers["HX-Retarget"] == "#composer-warning"
    assert 'id="collision-warning"' in late.text and "¡Sí! Enviamos a Canarias." in late.text
    with app.app_context():
        replies = db.session.scalars(select(Message).where(
            Message.ticket_id == ticket_id, Message.direction == "out")).all()
        assert len(replies) == 1 and db.session.get(Ticket, ticket_id).assignee_id == cm.id


@pytest.mark.security
def test_customer_text_and_name_are_escaped_everywhere(client, app, cm):
    with app.app_context():
        customer = make_customer(XSS_NAME)
        customer.identities[0].handle = XSS_NAME
        db.session.commit()
        ticket = make_ticket(XSS_TEXT, customer=customer)
        ticket_id = ticket.id
    pages = [client.get("/inbox").text, client.get("/inbox/list?q=onerror").text,
             client.get(f"/tickets/{ticket_id}").text, client.get(f"/tickets/{ticket_id}/thread").text]
    for body in pages:
        assert XSS_TEXT not in body and "<svg onload" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0]
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in pages[2]
    assert "<title>&#34;&gt;&lt;svg" in pages[2]


def test_presence_heartbeat_and_typing(client, app, cm, make_user, login):
    with app.app_context():
        ticket_id = make_ticket("hola").id
    assert client.get(f"/tickets/{ticket_id}").status_code == 200
    assert client.post(f"/tickets/{ticket_id}/typing").status_code == 204
    other = app.test_client()
    login(make_user("cm", name="Bruno Segundo"), active_client=other)
    seen = other.post(f"/tickets/{ticket_id}/presence").text
    assert "Carla Manager is typing" in seen
    assert client.post(f"/tickets/{ticket_id}/typing", data={"stop": "1"}).status_code == 204
    assert "Carla Manager is viewing" in other.post(f"/tickets/{ticket_id}/presence").text
    row = other.get("/inbox/list").text
    assert 'class="avatar live' in row and "Carla Manager is viewing" in row


def test_presence_expires_and_stamp_moves(app_ctx):
    from datetime import datetime, timedelta, timezone

    from desk.inbox import presence
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
    assert presence.stamp(t0) == ""
    presence.heartbeat(7, 1, t0, typing=True)
    assert presence.on_ticket(7, t0 + timedelta(seconds=1)) == {1: True}
    viewing = presence.stamp(t0 + timedelta(seconds=1))
    assert viewing and presence.on_ticket(7, t0 + timedelta(seconds=10)) == {1: False}
    assert presence.stamp(t0 + timedelta(seconds=10)) != viewing
    assert presence.on_ticket(7, t0 + timedelta(seconds=20)) == {}


@pytest.mark.faults
def test_inbox_and_ticket_work_while_redis_is_down(client, app, cm, redis_server):
    with app.app_context():
        ticket_id = make_ticket("sin redis").id
    redis_server.stop()
    try:
        assert client.get("/inbox").status_code == 200
        assert client.get(f"/tickets/{ticket_id}").status_code == 200
        assert client.post(f"/tickets/{ticket_id}/presence").status_code == 200
        assert client.post(f"/tickets/{ticket_id}/typing").status_code == 204
        assert client.post(f"/tickets/{ticket_id}/claim").status_code == 200
    finally:
        redis_server.start()


def test_history_restore_gets_the_whole_page(client, cm):
    response = client.get("/inbox?view=mine", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert response.text.lstrip().startswith("<!doctype html>")
