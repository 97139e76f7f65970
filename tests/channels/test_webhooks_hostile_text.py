"""Signed webhook bodies that are valid JSON but hold text no database takes (lone surrogates,
NUL): acknowledged, stored once each, made safe at the storage boundary, and no entry of a
delivery lost because of another (security-reliability.md B.5.7: never 500)."""
import json

import pytest
from sqlalchemy import select

from desk.core.extensions import db
from desk.inbox.tickets import Message
from desk.intake.events import InboundEvent
from tests.factories import make_channel
from tests.invariants import assert_invariants
from tests.webhook_helpers import counts, message_by, post_meta, post_x, statuses, wire

pytestmark = pytest.mark.security
PAGE, X_BRAND = "1122334455", "4337869213"
REPLACEMENT = "\ufffd"


def messenger_entry(mid: str, text: str, sender: str = "psid-1") -> dict:
    return {"id": PAGE, "time": 1700000000000, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": 1700000000000,
        "message": {"mid": mid, "text": text}}]}


def x_dm(event_id: str, text: str, sender: str = "3001969357") -> dict:
    return {"type": "message_create", "id": event_id, "created_timestamp": "1516403560557",
            "message_create": {"target": {"recipient_id": X_BRAND}, "sender_id": sender,
                               "message_data": {"text": text, "entities": {}}}}


@pytest.fixture
def channels(app_ctx):
    return make_channel("facebook", PAGE), make_channel("x", X_BRAND)


def stored_payloads() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(InboundEvent.payload).order_by(InboundEvent.id)))


def test_a_lone_surrogate_in_a_meta_delivery_loses_nothing(channels, client, run_jobs):
    body = wire({"object": "page", "entry": [
        messenger_entry("m_ok_1", "hola"), messenger_entry("m_bad", "\ud800 lone", "psid-2"),
        messenger_entry("m_ok_2", "adiós", "psid-3")]})
    assert b"\\ud800" in body  # valid JSON: the surrogate is escaped on the wire
    response = post_meta(client, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"events": 3, "new": 3}
    assert post_meta(client, body).get_json() == {"events": 3, "new": 0}  # a retry stores nothing
    assert all("\ud800" not in payload for payload in stored_payloads())
    run_jobs()
    assert statuses() == {"processed": 3} and counts() == (3, 3, 3)
    assert message_by("m_bad").text == f"{REPLACEMENT} lone"
    assert message_by("m_ok_1").text == "hola" and message_by("m_ok_2").text == "adiós"
    assert_invariants(accepted={("meta", f"meta_msg:{PAGE}:{mid}") for mid in ("m_ok_1", "m_bad", "m_ok_2")},
                      messages={"m_ok_1", "m_bad", "m_ok_2"})


def test_nul_and_surrogates_in_meta_ids_and_keys_are_stored_once(channels, client, run_jobs):
    body = wire({"object": "page", "entry": [
        messenger_entry("m_\x00nul", "a\x00b", "psid-\udfff"),
        {**messenger_entry("m_key", "ok"), "extra\ud83d": "\x00"}]})
    response = post_meta(client, body)
    assert response.status_code == 200 and response.get_json() == {"events": 2, "new": 2}
    for payload in stored_payloads():
        assert "\x00" not in payload and "\\u0000" not in payload
        json.loads(payload)  # still JSON, surrogates and all made whole
    run_jobs()
    assert statuses() == {"processed": 2}
    db.session.expire_all()
    texts = sorted(m.text for m in (message_by("m_key"), message_by(f"m_{REPLACEMENT}nul")))
    assert texts == [f"a{REPLACEMENT}b", "ok"]
    assert_invariants()


def test_a_lone_surrogate_in_an_x_delivery_loses_nothing(channels, client, run_jobs):
    body = wire({"for_user_id": X_BRAND, "direct_message_events": [
        x_dm("9001", "fine"), x_dm("9002", "\udc00", "3001969358"), x_dm("9003", "nul\x00here", "3001969359")]})
    response = post_x(client, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"events": 3, "new": 3}
    run_jobs()
    assert statuses() == {"processed": 3}
    assert message_by("9002").text == REPLACEMENT and message_by("9003").text == f"nul{REPLACEMENT}here"
    assert message_by("9001").text == "fine"
    assert_invariants(messages={"9001", "9002", "9003"})


def test_signature_is_checked_on_the_bytes_received_not_the_cleaned_text(channels, client):
    body = wire({"object": "page", "entry": [messenger_entry("m_sig", "\ud800")]})
    cleaned = body.replace(b"\\ud800", b"\\ufffd")
    from tests.webhook_helpers import meta_signature
    assert post_meta(client, body, signature=meta_signature(cleaned)).status_code == 401
    assert counts() == (0, 0, 0)
    assert post_meta(client, body).status_code == 200


def test_over_long_names_and_ids_are_cut_the_same_way_on_every_database(channels, client, run_jobs):
    """SQLite keeps a 100,000-character name that PostgreSQL refuses: both keep its first 200."""
    long_id = "c" * 300
    body = wire({"object": "page", "entry": [{"id": PAGE, "time": 1510092433, "changes": [
        {"field": "feed", "value": {"from": {"id": "u-1", "name": "\u202e" + "n" * 100_000},
                                    "item": "comment", "comment_id": cid, "post_id": "1_2",
                                    "verb": "add", "parent_id": "1_2", "created_time": 1510092431,
                                    "message": "e\u0301" * 50_000}}
        for cid in (long_id, long_id + "d")]}]})
    assert post_meta(client, body).get_json() == {"events": 2, "new": 2}
    run_jobs()
    assert statuses() == {"processed": 2}
    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert len({m.platform_message_id for m in messages}) == 2  # distinct ids stay distinct
    assert all(len(m.platform_message_id) == 200 and m.platform_message_id.startswith("c" * 100)
               for m in messages)
    assert len(messages[0].text) == 100_000
    identity = messages[0].ticket.customer.identities[0]
    assert identity.name == ("\u202e" + "n" * 100_000)[:200]
    assert_invariants()
