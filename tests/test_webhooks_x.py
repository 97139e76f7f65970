"""X Account Activity webhooks: CRC, signatures, and the documented payloads replayed."""
import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.channels import x
from desk.extensions import db
from desk.tickets import Ticket
from tests.factories import make_channel
from tests.webhook_helpers import (counts, fixture, fixture_bytes, message_by, post_x, statuses,
                                   wire, x_signature)

UTC = timezone.utc


@pytest.fixture
def channels(app_ctx):
    return {"brand": make_channel("x", "1"), "dm": make_channel("x", "4337869213")}


@pytest.fixture
def replay(client, run_jobs):
    def run(*names):
        for name in names:
            response = post_x(client, fixture_bytes(name))
            assert response.status_code == 200, (name, response.get_json())
        run_jobs()
        db.session.expire_all()
    return run


def test_crc_answers_with_the_base64_hmac_of_the_token(client):
    response = client.get("/webhooks/x?crc_token=abc")
    mac = hmac.new(b"x-consumer-secret", b"abc", hashlib.sha256).digest()
    assert response.status_code == 200
    assert response.get_json() == {"response_token": "sha256=" + base64.b64encode(mac).decode()}


def test_crc_matches_an_independent_computation_and_needs_the_token():
    assert x.crc_response("abc", "secret") != x.crc_response("abd", "secret")
    assert x.crc_response("", "secret")["response_token"].startswith("sha256=")


@pytest.mark.security
def test_crc_without_a_token_is_400(client):
    response = client.get("/webhooks/x")
    assert response.status_code == 400 and "crc_token" in response.get_json()["error"]


@pytest.mark.security
@pytest.mark.parametrize("case", ["missing", "wrong_secret", "tampered", "hex_instead_of_base64"])
def test_bad_signatures_are_401_and_nothing_is_stored(channels, client, case):
    body = fixture_bytes("x_tweet_create.json")
    signature = {"missing": None, "wrong_secret": x_signature(body, "nope"),
                 "tampered": x_signature(body + b" "),
                 "hex_instead_of_base64": "sha256=" + hmac.new(
                     b"x-consumer-secret", body, hashlib.sha256).hexdigest()}[case]
    response = post_x(client, body, signature=signature)
    assert response.status_code == 401 and counts() == (0, 0, 0)


@pytest.mark.security
def test_verifier_is_not_inverted():
    body = b'{"for_user_id":"1"}'
    assert x.signature_ok(body, x_signature(body), "x-consumer-secret") is True
    assert x.signature_ok(body, x_signature(body, "other"), "x-consumer-secret") is False
    assert x.signature_ok(body, x_signature(body), "") is False


def test_tweet_mention_field_by_field(channels, replay):
    replay("x_tweet_create.json")
    message = message_by("1")
    ticket = message.ticket
    assert (ticket.kind, ticket.thread_key, ticket.channel_id) == ("mention", "1", channels["brand"].id)
    assert message.text == "@chatwootapp Testing a sample tweet with Twitter client"
    assert message.sent_at == datetime(2020, 2, 5, 8, 39, 31, tzinfo=UTC)
    assert message.visibility == "public" and message.direction == "in"
    assert ticket.post_url == "https://x.com/surveyjoyHQ/status/1"
    identity = ticket.customer.identities[0]
    assert (identity.platform_user_id, identity.handle, identity.name, identity.followers) == (
        "2", "surveyjoyHQ", "SurveyJoy", 21)
    assert "Twitter for iPhone" not in message.text  # the HTML `source` is never stored as text


def test_entities_are_decoded_once_and_brand_reply_joins_the_thread(channels, replay):
    replay("x_mention_user_has_blocked.json", "x_tweet_reply_from_brand.json")
    mention = message_by("1225000000000000001")
    assert mention.text == "@chatwootapp my order & refund are missing <3 days>"
    assert mention.ticket.customer.followers == 15000
    reply = message_by("1225000000000000002")
    assert reply.ticket_id == mention.ticket_id and reply.direction == "out"
    assert counts()[1] == 1


def test_direct_messages_with_users_nested_in_apps(channels, replay):
    replay("x_dm.json", "x_dm_entity_escaped.json", "x_dm_image.json", "x_dm_sent_by_brand.json")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.thread_key, ticket.channel_id) == ("dm", "3001969357", channels["dm"].id)
    identity = ticket.customer.identities[0]
    assert (identity.handle, identity.name, identity.followers) == ("furiouscamper", "Jordan Brinks", 22)
    first = message_by("954491830116155396")
    assert first.text == "Hello World!" and first.sent_at == datetime.fromtimestamp(1516403560.557, UTC)
    assert message_by("954491830116155397").text == "Hello World & good wishes. <script>"
    image = message_by("954491830116155398")
    assert image.attachments == [{"type": "media", "id": "930077847535812610",
                                  "url": "https://ton.twitter.com/1.1/ton/data/dm/1/2/photo.jpg"}]
    sent = message_by("954491830116155399")
    assert sent.direction == "out" and sent.ticket_id == ticket.id


def test_tweet_delete_marks_the_message_deleted(app_ctx, replay):
    make_channel("x", "930524282358325248")
    body = fixture("x_tweet_create.json")
    body["for_user_id"] = "930524282358325248"
    body["tweet_create_events"][0].update(id_str="1045405559317569537", id=1045405559317569537)
    from flask import current_app
    assert post_x(current_app.test_client(), wire(body)).status_code == 200
    replay("x_tweet_delete.json")
    message = message_by("1045405559317569537")
    assert message.deleted_at is not None and statuses() == {"processed": 2}


def test_duplicate_deliveries_give_one_message(channels, replay):
    replay(*["x_dm.json"] * 10)
    assert counts() == (1, 1, 1)


def test_activity_api_envelope_and_bad_bodies(channels, client):
    response = post_x(client, wire({"data": {"event_type": "dm", "payload": {}}}))
    assert response.status_code == 200 and response.get_json()["events"] == 0
    assert post_x(client, wire([1, 2])).status_code == 400
    assert post_x(client, b"{nope").status_code == 400
    assert post_x(client, wire({"for_user_id": "1", "tweet_create_events": "x"})).status_code == 400
