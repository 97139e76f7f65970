"""X webhooks (AAA and X Activity API): CRC, signatures, the documented payloads replayed."""
import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.channels import x
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from tests.factories import make_channel
from tests.webhook_helpers import (
    counts,
    fixture,
    fixture_bytes,
    message_by,
    post_x,
    statuses,
    wire,
    x_signature,
)

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


def test_bad_bodies_are_400(channels, client):
    assert post_x(client, wire([1, 2])).status_code == 400
    assert post_x(client, b"{nope").status_code == 400
    assert post_x(client, wire({"for_user_id": "1", "tweet_create_events": "x"})).status_code == 400
    assert counts() == (0, 0, 0)


# --- X Activity API (XAA): {"data": {event_uuid, filter, event_type, tag, payload, includes}} ---
# Fixtures: the examples of docs.x.com/x-api/activity/event-payloads (ids adapted to chain them).

BRAND, CUSTOMER = "1111111111111111111", "2222222222222222222"
MENTION, BRAND_REPLY, CUSTOMER_REPLY = "2080765813578191303", "2080766102238019586", "2080766480140472322"
CLIENT_SECRET = "x-oauth2-client-secret"


@pytest.fixture
def brand(app_ctx):
    return make_channel("x", BRAND)


def test_xaa_mention_field_by_field(brand, replay):
    replay("x_xaa_post_mention_create.json")
    message = message_by(MENTION)
    ticket = message.ticket
    assert (ticket.kind, ticket.thread_key, ticket.channel_id) == ("mention", MENTION, brand.id)
    assert (message.text, message.direction, message.visibility) == ("hey @ExampleUser", "in", "public")
    assert message.sent_at == datetime(2026, 7, 24, 21, 23, 23, tzinfo=UTC)
    assert message.parent_platform_id is None and message.attachments == []
    assert ticket.post_url == f"https://x.com/OtherUser/status/{MENTION}"
    identity = ticket.customer.identities[0]
    assert (identity.platform, identity.platform_user_id, identity.handle, identity.name,
            identity.followers) == ("x", CUSTOMER, "OtherUser", "OtherUser", 97)
    assert statuses() == {"processed": 1}


def test_xaa_brand_reply_and_customer_reply_join_the_mention_ticket(brand, replay):
    replay("x_xaa_post_mention_create.json", "x_xaa_post_create_brand_reply.json",
           "x_xaa_post_mention_reply.json")
    mention, reply, again = message_by(MENTION), message_by(BRAND_REPLY), message_by(CUSTOMER_REPLY)
    assert reply.ticket_id == mention.ticket_id == again.ticket_id and counts()[1:] == (1, 3)
    assert (reply.direction, reply.delivery_state, reply.parent_platform_id) == ("out", "delivered", MENTION)
    assert reply.text == "@OtherUser sorry about that & thanks for your patience, check your DMs"
    assert reply.sent_at == datetime(2026, 7, 24, 21, 24, 32, tzinfo=UTC)
    assert (again.direction, again.parent_platform_id) == ("in", BRAND_REPLY)
    assert again.text == "@ExampleUser it is 3 days & still no refund"  # decoded once
    assert again.attachments == [{"type": "media", "url": "https://pbs.twimg.com/media/example.jpg"}]
    assert again.customer_id == mention.customer_id


def test_xaa_post_delete_marks_the_brand_post_deleted(brand, replay):
    replay("x_xaa_post_mention_create.json", "x_xaa_post_create_brand_reply.json",
           "x_xaa_post_delete.json")
    assert message_by(BRAND_REPLY).deleted_at is not None
    assert message_by(MENTION).deleted_at is None and statuses() == {"processed": 3}


def test_xaa_brand_post_outside_any_ticket_is_not_stored(brand, client, replay):
    body = fixture("x_xaa_post_create_brand_reply.json")  # now a post that answers no one
    for key in ("referenced_tweets", "in_reply_to_user_id"):
        del body["data"]["payload"][key]
    assert post_x(client, wire(body)).status_code == 200
    replay()
    assert counts() == (1, 0, 0) and statuses() == {"dropped": 1}


def test_xaa_dm_received_then_sent_by_the_brand(brand, replay):
    replay("x_xaa_dm_received.json", "x_xaa_dm_sent.json")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.thread_key, ticket.channel_id) == ("dm", CUSTOMER, brand.id)
    identity = ticket.customer.identities[0]
    assert (identity.platform_user_id, identity.handle, identity.name, identity.followers) == (
        CUSTOMER, "OtherUser", "OtherUser", 97)
    received = message_by("2080765901528535096")
    assert (received.text, received.direction, received.ticket_id) == ("hello!", "in", ticket.id)
    assert received.visibility == "private"
    assert received.sent_at == datetime.fromtimestamp(1784928224.372, UTC)
    sent = message_by("2080766184003317760")
    assert (sent.text, sent.direction, sent.ticket_id) == ("Thanks for the update!", "out", ticket.id)
    assert sent.delivery_state == "delivered" and sent.customer_id is None
    assert sent.sent_at == datetime.fromtimestamp(1784928290.704, UTC)


@pytest.mark.parametrize("name", ["x_xaa_follow_follow.json", "x_xaa_profile_update_bio.json",
                                  "x_xaa_chat_received.json", "x_xaa_oauth_revoke.json"])
def test_xaa_unhandled_event_types_are_acknowledged_and_ignored(brand, client, run_jobs, name):
    response = post_x(client, fixture_bytes(name))
    assert response.status_code == 200 and response.get_json() == {"events": 0, "new": 0}
    run_jobs()
    assert counts() == (0, 0, 0)


def _xaa(**data):
    """A dm.received delivery with `data` fields replaced (a value of None removes the field)."""
    body = fixture("x_xaa_dm_received.json")
    body["data"].update(data)
    body["data"] = {k: v for k, v in body["data"].items() if v is not None}
    return body


@pytest.mark.security
@pytest.mark.parametrize("body, error", [
    ({"data": ["not", "an", "object"]}, "data must be an object"),
    ({"data": "dm.received"}, "data must be an object"),
    ({"data": None}, "data must be an object"),
    (_xaa(payload=None), "data.payload must be an object"),
    (_xaa(payload=[]), "data.payload must be an object"),
    (_xaa(event_type=None), "needs data.event_type"),
    (_xaa(event_type=7), "needs data.event_type"),
    (_xaa(filter=None), "needs data.filter.user_id"),
    (_xaa(filter={}), "needs data.filter.user_id"),
    (_xaa(payload={"direct_message_events": {"id": "1"}}), "direct_message_events must be a list"),
    (_xaa(event_type="post.mention.create", payload={"text": "no id"}), "payload needs an id"),
    (_xaa(event_type="post.delete", payload={}), "payload needs an id"),
])
def test_xaa_malformed_envelopes_are_400_and_nothing_is_stored(brand, client, body, error):
    response = post_x(client, wire(body))
    assert response.status_code == 400 and error in response.get_json()["error"]
    assert counts() == (0, 0, 0)


def test_xaa_redeliveries_give_one_message_each(brand, replay):
    replay(*["x_xaa_dm_received.json", "x_xaa_post_mention_create.json"] * 3)
    assert counts() == (2, 2, 2)


def test_the_same_dm_from_aaa_and_xaa_is_stored_once(brand, replay, client):
    dm = fixture("x_xaa_dm_received.json")["data"]["payload"]
    aaa = {"for_user_id": BRAND, "direct_message_events": dm["direct_message_events"]}
    assert post_x(client, wire(aaa)).status_code == 200
    replay("x_xaa_dm_received.json")
    assert counts() == (1, 1, 1)


@pytest.mark.security
def test_oauth2_signature_header_is_checked_with_the_client_secret(brand, app, client, monkeypatch):
    monkeypatch.setitem(app.config, "X_CLIENT_SECRET", CLIENT_SECRET)
    body = fixture_bytes("x_xaa_post_mention_create.json")

    def post(**headers):
        return post_x(client, body, signature=None, **headers).status_code

    assert post(**{"X-Twitter-Webhooks-Signature-OAuth2": x_signature(body, "x-consumer-secret")}) == 401
    assert post(**{"X-Twitter-Webhooks-Signature-OAuth2": x_signature(body + b" ", CLIENT_SECRET)}) == 401
    assert post() == 401 and counts() == (0, 0, 0)
    assert post(**{"X-Twitter-Webhooks-Signature-OAuth2": x_signature(body, CLIENT_SECRET)}) == 200
    assert post(**{"X-Twitter-Webhooks-Signature": x_signature(body)}) == 200  # the legacy header
    assert post(**{"X-Twitter-Webhooks-Signature-OAuth2": x_signature(body, CLIENT_SECRET),  # both
                   "X-Twitter-Webhooks-Signature": x_signature(body)}) == 200
    assert counts()[0] == 1


@pytest.mark.security
def test_oauth2_header_without_a_client_secret_is_refused(brand, client):
    body = fixture_bytes("x_xaa_post_mention_create.json")
    for secret in ("", "x-consumer-secret"):
        response = post_x(client, body, signature=None,
                          **{"X-Twitter-Webhooks-Signature-OAuth2": x_signature(body, secret)})
        assert response.status_code == 401
    assert counts() == (0, 0, 0)


def test_crc_uses_the_client_secret_when_configured(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "X_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setitem(app.config, "X_CONSUMER_SECRET", "")
    mac = hmac.new(CLIENT_SECRET.encode(), b"abc", hashlib.sha256).digest()
    response = client.get("/webhooks/x?crc_token=abc")
    assert response.get_json() == {"response_token": "sha256=" + base64.b64encode(mac).decode()}
    monkeypatch.setitem(app.config, "X_CLIENT_SECRET", "")
    assert client.get("/webhooks/x?crc_token=abc").status_code == 403


def test_xaa_post_parsing_edges():
    post = fixture("x_xaa_post_mention_create.json")["data"]["payload"]
    stored = {"for_user_id": BRAND, "type": "post", "data": post, "users": {}, "media": []}
    post["note_tweet"] = {"text": "hey @ExampleUser, the whole long post"}
    [message] = x.parse(stored)
    assert message.text == "hey @ExampleUser, the whole long post"  # not the truncated text
    assert (message.author.id, message.author.handle, message.post_url) == (
        CUSTOMER, None, f"https://x.com/i/status/{MENTION}")
    post["referenced_tweets"] = [{"type": "retweeted", "id": "1"}]
    assert x.parse(stored) == []  # a repost is reach, not a conversation
