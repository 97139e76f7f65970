"""Meta webhooks replayed from the documented payloads (tests/fixtures/webhooks/), through the
real endpoint with real signatures and the real inbound worker, checked field by field."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.core import signals
from desk.core.extensions import db
from desk.customers.models import CustomerIdentity
from desk.inbox.tickets import Message, Ticket
from tests.factories import make_channel
from tests.webhook_helpers import (
    counts,
    fixture,
    fixture_bytes,
    message_by,
    post_meta,
    statuses,
    wire,
)

FB_PAGE, PAGE, IG, WA = "137542570280222", "1122334455", "17841405726653026", "106540352242922"
UTC = timezone.utc


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def sec(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@pytest.fixture
def channels(app_ctx):
    return {key: make_channel(platform, account) for key, platform, account in [
        ("restfb", "facebook", "123456789"), ("fb", "facebook", FB_PAGE),
        ("messenger", "facebook", PAGE), ("haskell", "facebook", "111111"),
        ("ig", "instagram", IG), ("wa", "whatsapp", WA)]}


@pytest.fixture
def replay(client, run_jobs):
    """replay(*fixture names): post each signed, then run the inbound worker."""
    def run(*names):
        for name in names:
            response = post_meta(client, fixture_bytes(name))
            assert response.status_code == 200, (name, response.get_json())
        run_jobs()
        db.session.expire_all()
    return run


@pytest.fixture
def published():
    """Signals published during the test, as (signal name, ticket id, message id)."""
    seen = []

    def receiver(name):
        def receive(ticket, **kwargs):
            message = kwargs.get("message")
            seen.append((name, ticket.id, message.platform_message_id if message else None))
        return receive
    receivers = {name: receiver(name) for name in ("customer_message", "reply_released",
                                                    "ticket_reopened")}
    for name, func in receivers.items():
        getattr(signals, name).connect(func)
    yield seen
    for name, func in receivers.items():
        getattr(signals, name).disconnect(func)


def test_facebook_comment_opens_a_ticket_field_by_field(channels, replay, published):
    replay("fb_feed_comment_add.json")
    message = message_by("987654321_1491873277575158")
    ticket = message.ticket
    assert (message.direction, message.visibility, message.text) == ("in", "public", "more attachments more fun")
    assert message.parent_platform_id == "123456789_987654321"
    assert message.sent_at == sec(1510092431) and message.channel_id == channels["restfb"].id
    assert (ticket.kind, ticket.thread_key, ticket.status) == ("comment", "987654321_1491873277575158", "open")
    assert ticket.subject == "more attachments more fun"
    assert ticket.post_url == "https://www.facebook.com/123456789_987654321"
    assert ticket.first_response_started_at == sec(1510092431)
    identity = ticket.customer.identities[0]
    assert (identity.platform, identity.platform_user_id, identity.name) == (
        "facebook", "123456789098764", "Test User or Page")
    assert ticket.customer.display_name == "Test User or Page"
    assert message.customer_id == ticket.customer_id
    assert published == [("customer_message", ticket.id, "987654321_1491873277575158")]


def test_comment_thread_reply_and_page_reply_share_one_ticket(channels, replay, published):
    replay("fb_feed_comment_top_level.json", "fb_feed_comment_reply.json",
           "fb_feed_page_own_comment.json")
    tickets = db.session.scalars(select(Ticket)).all()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket.thread_key == "139560936744456_139562213411528"
    assert ticket.subject == "Hola, ¿mi pedido llegó roto? 😞" and ticket.language == "es"
    texts = [(m.direction, m.text) for m in ticket.messages]
    assert texts == [("in", "Hola, ¿mi pedido llegó roto? 😞"), ("in", "Good"),
                     ("out", "Sentimos mucho lo ocurrido, te escribimos por privado.")]
    own = ticket.messages[2]
    assert own.customer_id is None and own.author_id is None and own.delivery_state == "delivered"
    assert ticket.messages[1].parent_platform_id == "139560936744456_139562213411528"
    assert [p[0] for p in published] == ["customer_message", "customer_message", "reply_released"]
    assert ticket.first_response_at == sec(1511952000)


def test_edit_updates_and_remove_marks_deleted(channels, replay):
    top = fixture("fb_feed_comment_edited.json")
    top["entry"][0]["changes"][0]["value"].update(verb="add", message="Grat", created_time=1511948800)
    post = post_meta  # the original comment first, then the documented edit and remove
    from flask import current_app
    with current_app.test_client() as client:
        assert post(client, wire(top)).status_code == 200
    replay("fb_feed_comment_edited.json")
    message = message_by("139560936744456_139597043408045")
    assert message.text == "Great" and message.edited_at == sec(1511948891)
    assert message.sent_at == sec(1511948800) and message.deleted_at is None
    replay("fb_feed_comment_removed.json")
    message = message_by("139560936744456_139597043408045")
    assert message.deleted_at is not None and message.text == "Great"
    assert message.ticket.status == "open"
    assert counts()[1:] == (1, 1)


def test_reactions_and_legacy_likes_are_recorded_not_ticketed(channels, replay):
    replay("fb_feed_reaction.json", "fb_feed_legacy_like.json", "messenger_reaction.json",
           "ig_reaction.json")
    assert counts() == (4, 0, 0)
    assert statuses() == {"dropped": 4}


def test_comment_on_video_keeps_the_post_permalink(channels, replay):
    replay("fb_feed_comment_on_video.json")
    ticket = message_by("139560936744999_139560936745000").ticket
    assert ticket.post_url == "https://www.facebook.com/137542570280222/videos/139560936744999/"
    assert ticket.customer.display_name == "Video Fan" and ticket.language == "en"


def test_visitor_post_is_its_own_thread(channels, replay):
    replay("fb_feed_visitor_post.json")
    message = message_by("137542570280222_139560936745555")
    assert message.ticket.kind == "comment" and message.ticket.thread_key == "137542570280222_139560936745555"
    assert message.text.startswith("Nobody answers the phone") and message.ticket.language == "en"


def test_messenger_conversation_is_one_dm_ticket(channels, replay, published):
    replay("messenger_quick_reply.json", "messenger_reply_to.json", "messenger_attachment.json",
           "messenger_fallback_no_payload.json")
    tickets = db.session.scalars(select(Ticket)).all()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert (ticket.kind, ticket.thread_key, ticket.channel_id) == ("dm", "2233445566", channels["messenger"].id)
    first, reply_to, image, fallback = sorted(ticket.messages, key=lambda m: m.sent_at)
    assert first.visibility == "private" and first.sent_at == ms(1458692752478)
    assert reply_to.parent_platform_id == "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"
    assert image.text == "" and image.attachments == [
        {"type": "image", "url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}]
    assert fallback.attachments == [{"type": "fallback"}]
    assert ticket.subject == "hello, world!"
    assert len([p for p in published if p[0] == "customer_message"]) == 4


def test_messenger_echoes_are_outbound_and_edits_update(channels, replay):
    replay("messenger_quick_reply.json", "messenger_echo.json", "messenger_echo_standby.json",
           "messenger_edit.json")
    ticket = db.session.scalars(select(Ticket)).one()
    echo = message_by("mid.1457764197618:echo0001")
    standby = message_by("qT7ywaKpO9kkQR7Gv-nM8LIfLZDamVrALniheUYEDdHJXjDXEAyaS1xxONzb2Iv-DFzmTihfWJV012P5pK0AhQ")
    assert echo.ticket_id == standby.ticket_id == ticket.id
    assert echo.direction == "out" and echo.text.startswith("Hi! This is the brand")
    assert standby.attachments == [{"type": "template", "url": "https://www.facebook.com/commerce/update/"}]
    edited = message_by("mid.1457764197618:41d102a3e1ae206a38")
    assert edited.text == "hello, world! (edited)" and edited.edited_at == ms(1458668856463)


def test_echo_without_a_conversation_is_dropped(channels, replay):
    replay("messenger_echo.json")
    assert counts() == (1, 0, 0) and statuses() == {"dropped": 1}


def test_read_and_delivery_receipts_store_nothing(channels, client):
    for name in ("messenger_read.json", "messenger_delivery.json", "ig_seen.json"):
        response = post_meta(client, fixture_bytes(name))
        assert response.status_code == 200 and response.get_json() == {"events": 0, "new": 0}
    assert counts() == (0, 0, 0)


def test_haskell_sdk_envelope_with_placeholder_ids(channels, replay):
    replay("messenger_text.json")
    message = message_by("mid.1457764197618:41d102a3e1ae206a38")
    assert message.ticket.channel_id == channels["haskell"].id and message.text == "hello, world!"
    assert message.ticket.customer.identities[0].platform_user_id == "USER_ID"


def test_instagram_comments_mentions_and_own_replies(channels, replay):
    replay("ig_comment.json", "ig_comment_fb_login.json", "ig_comment_own.json", "ig_mention.json")
    comment = message_by("17865799348089039")
    ticket = comment.ticket
    assert (ticket.kind, ticket.thread_key) == ("comment", "17865799348089039")
    assert comment.text == "¿Tenéis la talla M en azul? 💙" and comment.parent_platform_id == "17918195224117851"
    identity = db.session.scalar(select(CustomerIdentity).where(CustomerIdentity.platform_user_id == "5566778899"))
    assert identity.handle == "lucia.perez" and identity.customer_id == ticket.customer_id
    reply = message_by("17865799348089040")
    assert reply.ticket_id == ticket.id and reply.text == "Also in green?"
    own = message_by("17865799348089041")
    assert own.ticket_id == ticket.id and own.direction == "out"
    mention = message_by("17894227972186120")
    assert mention.ticket.kind == "mention" and mention.ticket_id != ticket.id
    assert mention.ticket.post_text == "media 17918195224117851"


def test_instagram_dms_echo_and_unsend(channels, replay):
    replay("ig_dm_text.json", "ig_dm_attachment.json", "ig_dm_story_reply.json",
           "ig_dm_unsupported.json", "ig_dm_echo.json")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.thread_key, ticket.language) == ("dm", "5566778899", "es")
    by_id = {m.platform_message_id: m for m in ticket.messages}
    assert by_id["aWdfZAG1faXRlbTox"].text == "Hola! Mi pedido #4521 no ha llegado todavía"
    assert by_id["aWdfZAG1faXRlbToy"].attachments[0]["type"] == "image"
    assert by_id["aWdfZAG1faXRlbToz"].attachments == [
        {"type": "story_reply", "url": "https://lookaside.fbsbx.com/story.jpg"}]
    assert by_id["aWdfZAG1faXRlbTo0"].attachments == [{"type": "unsupported"}]
    assert by_id["aWdfZAG1faXRlbTo1"].direction == "out"
    replay("ig_dm_deleted.json")
    assert message_by("aWdfZAG1faXRlbTox").deleted_at is not None
    assert counts()[1:] == (1, 5)


def test_instagram_dashboard_test_event_is_acknowledged_and_dropped(channels, replay):
    replay("ig_dashboard_test.json")
    assert counts() == (1, 0, 0) and statuses() == {"dropped": 1}


def test_whatsapp_message_and_statuses(channels, replay, make_user):
    replay("wa_text.json", "wa_image.json")
    ticket = db.session.scalars(select(Ticket)).one()
    text, image = sorted(ticket.messages, key=lambda m: m.sent_at)
    assert text.text == "Does it come in another color?" and text.sent_at == sec(1749416383)
    assert image.text == "This one" and image.attachments == [
        {"type": "image", "media_id": "1234567890", "mime_type": "image/jpeg"}]
    identity = ticket.customer.identities[0]
    assert (identity.platform_user_id, identity.handle, identity.name) == (
        "16505551234", "+16505551234", "Sheena Nelson")
    assert ticket.customer.display_name == "Sheena Nelson" and ticket.thread_key == "16505551234"
    agent = make_user("cm")
    reply = Message(ticket=ticket, channel_id=ticket.channel_id, direction="out", visibility="private",
                    author_id=agent.id, text="Yes, in blue.", sent_at=sec(1749416450),
                    platform_message_id="wamid.OUT0001", delivery_state="sending")
    db.session.add(reply)
    db.session.commit()
    replay("wa_status_delivered.json")
    assert message_by("wamid.OUT0001").delivery_state == "delivered"
    replay("wa_status_failed.json")
    failed = message_by("wamid.OUT0001")
    assert failed.delivery_state == "failed" and "131047: Re-engagement message" in failed.delivery_error


def test_whatsapp_status_for_an_unknown_message_is_dropped(channels, replay):
    replay("wa_status_delivered.json")
    assert statuses() == {"dropped": 1} and counts()[1:] == (0, 0)


def test_unknown_account_is_acknowledged_logged_and_dropped(app_ctx, replay, caplog):
    replay("fb_feed_comment_add.json", "wa_text.json")
    assert statuses() == {"dropped": 2} and counts()[1:] == (0, 0)
    from desk.channels.accounts import Channel
    assert db.session.scalars(select(Channel)).all() == []
    assert "unknown facebook account 123456789" in caplog.text


def test_one_delivery_with_many_entries_and_changes(channels, replay):
    body = fixture("fb_feed_comment_top_level.json")
    entry = body["entry"][0]
    reply = fixture("fb_feed_comment_reply.json")["entry"][0]["changes"][0]
    entry["changes"].append(reply)
    body["entry"].append(fixture("messenger_quick_reply.json")["entry"][0])
    from flask import current_app
    response = post_meta(current_app.test_client(), wire(body))
    assert response.get_json() == {"events": 3, "new": 3}
    replay()
    assert counts() == (3, 2, 3)


def test_batch_of_1000_entries_in_one_post(channels, client, run_jobs):
    entries = [{"id": PAGE, "time": 1700000000000 + i, "messaging": [{
        "sender": {"id": f"psid-{i % 50}"}, "recipient": {"id": PAGE},
        "timestamp": 1700000000000 + i, "message": {"mid": f"m_{i}", "text": f"mensaje {i}"}}]}
        for i in range(1000)]
    response = post_meta(client, wire({"object": "page", "entry": entries}))
    assert response.status_code == 200 and response.get_json() == {"events": 1000, "new": 1000}
    run_jobs()
    assert counts() == (1000, 50, 1000)
    assert statuses() == {"processed": 1000}


# --- Verification handshake, signatures and bad input --------------------------------------

def test_handshake_echoes_the_challenge_as_plain_text(client):
    response = client.get("/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444"
                          "&hub.verify_token=meta-verify-token")
    assert response.status_code == 200 and response.data == b"1158201444"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.security
@pytest.mark.parametrize("query", [
    "hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
    "hub.mode=subscribe&hub.challenge=1&hub.verify_token=",
    "hub.mode=subscribe&hub.challenge=1",
    "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meta-verify-token",
])
def test_handshake_with_a_wrong_or_empty_token_is_403(client, query):
    response = client.get("/webhooks/meta?" + query)
    assert response.status_code == 403 and b"1" != response.data


@pytest.mark.security
def test_handshake_with_no_token_configured_refuses_an_empty_token(app, client):
    app.config["META_VERIFY_TOKEN"] = ""
    try:
        response = client.get("/webhooks/meta?hub.mode=subscribe&hub.challenge=7&hub.verify_token=")
        assert response.status_code == 403
    finally:
        app.config["META_VERIFY_TOKEN"] = "meta-verify-token"


@pytest.mark.security
@pytest.mark.parametrize("case", ["missing", "wrong_secret", "tampered", "sha1_only", "not_sha256",
                                  "empty"])
def test_bad_signatures_are_refused_and_nothing_is_stored(channels, client, case):
    import hashlib
    import hmac
    body = fixture_bytes("fb_feed_comment_add.json")
    from tests.webhook_helpers import meta_signature
    headers, signature = {}, None
    if case == "wrong_secret":
        signature = meta_signature(body, "another-app-secret")
    elif case == "tampered":
        signature = meta_signature(body)
        body = body.replace(b"more attachments", b"more attachmentz")
    elif case == "sha1_only":
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(b"meta-app-secret", body, hashlib.sha1).hexdigest()
    elif case == "not_sha256":
        signature = meta_signature(body).replace("sha256=", "sha512=")
    elif case == "empty":
        signature = ""
    response = post_meta(client, body, signature=signature, **headers)
    assert response.status_code == 401 and "X-Hub-Signature-256" in response.get_json()["error"]
    assert counts() == (0, 0, 0)


@pytest.mark.security
def test_signature_check_is_not_inverted_and_accepts_uppercase_hex(channels, client):
    from tests.webhook_helpers import meta_signature
    body = fixture_bytes("fb_feed_comment_add.json")
    assert post_meta(client, body, signature=meta_signature(body).upper().replace("SHA256=", "sha256=")).status_code == 200
    other = fixture_bytes("wa_text.json")
    assert post_meta(client, other, signature=meta_signature(body)).status_code == 401
    assert counts()[0] == 1


@pytest.mark.security
def test_instagram_app_secret_is_accepted_when_configured(app, channels, client):
    from tests.webhook_helpers import meta_signature
    body = fixture_bytes("ig_comment.json")
    assert post_meta(client, body, signature=meta_signature(body, "ig-secret")).status_code == 401
    app.config["INSTAGRAM_APP_SECRET"] = "ig-secret"
    try:
        assert post_meta(client, body, signature=meta_signature(body, "ig-secret")).status_code == 200
    finally:
        app.config["INSTAGRAM_APP_SECRET"] = ""


@pytest.mark.security
def test_signature_is_checked_on_the_raw_escaped_unicode_bytes(channels, client, run_jobs):
    body = (b'{"object":"page","entry":[{"id":"1122334455","time":1458692752500,"messaging":[{'
            b'"sender":{"id":"2233445566"},"recipient":{"id":"1122334455"},"timestamp":1458692752478,'
            b'"message":{"mid":"m_unicode","text":"caf\\u00e9 \\ud83d\\ude00 \\/path \\u0645\\u062d\\u0645\\u062f"}}]}]}')
    assert post_meta(client, body).status_code == 200
    run_jobs()
    assert message_by("m_unicode").text == "café 😀 /path محمد"


def test_malformed_json_is_400_with_a_message(channels, client):
    response = post_meta(client, b'{"object": "page", "entry": [')
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["error"]
    response = post_meta(client, b'{"object": "page"}')
    assert response.status_code == 400 and "entry" in response.get_json()["error"]
    response = post_meta(client, b"\xff\xfe")
    assert response.status_code == 400 and "UTF-8" in response.get_json()["error"]
    assert counts() == (0, 0, 0)


@pytest.mark.security
def test_deeply_nested_json_is_400_without_recursion(channels, client):
    body = b'{"object":"page","entry":' + b"[" * 10000 + b"]" * 10000 + b"}"
    response = post_meta(client, body)
    assert response.status_code == 400 and "nested" in response.get_json()["error"]


@pytest.mark.security
def test_oversize_body_is_413_before_any_work(channels, client, monkeypatch):
    from desk.channels import meta
    called = []
    monkeypatch.setattr(meta, "signature_ok", lambda *a: called.append(1) or True)
    body = b'{"object":"page","entry":[],"pad":"' + b"x" * (20 * 1024 * 1024) + b'"}'
    response = post_meta(client, body, signature="sha256=00")
    assert response.status_code == 413 and called == [] and counts() == (0, 0, 0)


def test_deliveries_skip_flask_but_keep_its_headers_and_json_errors(app, channels, client,
                                                                    monkeypatch):
    """Deliveries are answered in front of Flask (desk.views.hooks.WebhookIngress): the same
    security headers, no session cookie, and a failure is a JSON 500 the platform retries."""
    ok = post_meta(client, fixture_bytes("fb_feed_comment_add.json"))
    assert ok.status_code == 200 and ok.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src" in ok.headers["Content-Security-Policy"] and "Set-Cookie" not in ok.headers
    from desk.views import hooks

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(hooks, "record_events", broken)
    monkeypatch.setattr(app, "testing", False)  # testing apps raise instead of answering 500
    failed = post_meta(client, fixture_bytes("fb_feed_comment_add.json").replace(b"1234", b"4321"))
    assert failed.status_code == 500 and "retry" in failed.get_json()["error"]
    assert client.get("/webhooks/meta", query_string={"hub.mode": "subscribe"}).status_code == 403


def test_unknown_object_is_acknowledged_and_ignored(channels, client):
    response = post_meta(client, fixture_bytes("fb_feed_comment_add.json").replace(b'"page"', b'"user"'))
    assert response.status_code == 200 and response.get_json() == {"events": 0, "new": 0}


@pytest.fixture
def graph(app):
    """The Graph API on loopback (tests/fakeplatform.py) for what ingest looks up."""
    from tests.fakeplatform import FakePlatform
    platform, saved = FakePlatform().start(), app.config["META_GRAPH_URL"]
    app.config["META_GRAPH_URL"] = platform.url + "/graph"
    yield platform
    app.config["META_GRAPH_URL"] = saved
    platform.stop()


def test_an_instagram_mention_gets_its_text_from_the_graph_api(channels, replay, graph):
    channels["ig"].access_token = "ig-token-1"
    db.session.commit()
    graph.mentioned_comments["17894227972186120"] = {
        "id": "17894227972186120", "text": "@tienda ¿esto sigue en stock? <b>urgente</b>",
        "timestamp": "2026-11-02T09:30:00+0000",
        "media": {"id": "17918195224117851", "permalink": "https://www.instagram.com/p/Bx1/"}}
    replay("ig_mention.json")
    mention = message_by("17894227972186120")
    assert mention.text == "@tienda ¿esto sigue en stock? <b>urgente</b>"
    assert mention.sent_at == datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
    assert mention.ticket.kind == "mention" and mention.ticket.post_url == "https://www.instagram.com/p/Bx1/"
    assert mention.ticket.language == "es"
    lookup = graph.calls[0]
    assert lookup["path"] == f"/graph/{IG}" and lookup["headers"]["Authorization"] == "Bearer ig-token-1"
    assert lookup["query"]["fields"].startswith("mentioned_comment.comment_id(17894227972186120)")


def test_a_mention_the_graph_api_refuses_is_kept_without_text(channels, replay, graph):
    replay("ig_mention.json")  # the fake knows no such comment: 400 "Invalid parameter"
    mention = message_by("17894227972186120")
    assert mention is not None and mention.text == "" and mention.ticket.kind == "mention"
    assert mention.ticket.customer.identities[0].platform_user_id == "mention:17894227972186120"
