"""Meta webhooks (Facebook Page feed, Messenger, Instagram, WhatsApp): verify, split, parse.

Deliveries are cut into one RawEvent per platform event (the dedupe unit, webhook-formats.md
section 2); parse() turns one stored event into NormalizedMessages. No database code here.
"""
import hashlib
import hmac
import logging

from desk.channels.base import ParseError, RawEvent, as_id
from desk.channels.meta_parse import parse  # noqa: F401  (one stored event -> messages)

log = logging.getLogger(__name__)
OBJECTS = {"page": "facebook", "instagram": "instagram", "whatsapp_business_account": "whatsapp"}
IGNORED_MESSAGING = ("read", "delivery", "postback", "referral", "optin", "account_linking")


def signature_ok(raw_body: bytes, header: str | None, secrets: list[str]) -> bool:
    """X-Hub-Signature-256 (lowercase or uppercase hex) over the raw bytes, for any secret."""
    if not header or not header.startswith("sha256="):
        return False
    got = header[len("sha256="):].strip().lower()
    ok = False
    for secret in secrets:
        if secret:
            want = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(got, want) or ok
    return ok


def handshake(args, verify_token: str) -> str | None:
    """The hub.challenge to echo back, or None when the verify token does not match."""
    given = args.get("hub.verify_token") or ""
    if args.get("hub.mode") != "subscribe" or not verify_token or not given:
        return None
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return args.get("hub.challenge") or ""


def split(body) -> list[RawEvent]:
    """Cut a delivery (object or list of objects) into events; ParseError if not Meta-shaped."""
    deliveries = body if isinstance(body, list) else [body]
    events: list[RawEvent] = []
    for delivery in deliveries:
        if isinstance(delivery, dict) and "entry" not in delivery and "id" in delivery:
            delivery = {"object": "instagram", "entry": [delivery]}  # the IG dashboard's test shape
        if not isinstance(delivery, dict) or not isinstance(delivery.get("entry"), list):
            raise ParseError("a Meta delivery needs an 'entry' list")
        obj = delivery.get("object") or "instagram"  # the IG dashboard test omits it
        if obj not in OBJECTS:
            log.warning("meta webhook for object %r ignored", obj)
            continue
        for entry in delivery["entry"]:
            if not isinstance(entry, dict):
                raise ParseError("each entry must be an object")
            events.extend(_split_entry(obj, entry))
    return events


def _split_entry(obj: str, entry: dict) -> list[RawEvent]:
    entry_id = as_id(entry.get("id")) or ""
    base = {"object": obj, "entry_id": entry_id, "entry_time": entry.get("time")}
    events = []
    for change in entry.get("changes") or []:
        if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
            continue
        if obj == "whatsapp_business_account":
            events.extend(_split_whatsapp(base, change["value"]))
            continue
        key = _change_key(obj, entry_id, change)
        if key:
            events.append(RawEvent(key, {**base, "type": "change", "data": change}))
    for kind in ("messaging", "standby"):
        for item in entry.get(kind) or []:
            key = _messaging_key(entry_id, item) if isinstance(item, dict) else None
            if key:
                events.append(RawEvent(key, {**base, "type": "messaging", "data": item}))
    return events


def _change_key(obj: str, entry_id: str, change: dict) -> str | None:
    field, value = change.get("field"), change["value"]
    if field == "feed":
        target = as_id(value.get("comment_id") or value.get("post_id"))
        actor = as_id((value.get("from") or {}).get("id") or value.get("sender_id"))
        return (f"fb:{entry_id}:{value.get('item')}:{target}:{value.get('verb')}:"
                f"{actor}:{value.get('created_time')}")
    if field == "comments":
        return f"ig_comment:{entry_id}:{as_id(value.get('id') or value.get('comment_id'))}"
    if field == "mentions":
        return f"ig_mention:{entry_id}:{as_id(value.get('comment_id'))}"
    if field == "messages":  # the IG dashboard's test shape: messaging inside changes
        return _messaging_key(entry_id, value)
    log.info("meta %s change field %r ignored", obj, field)
    return None


def _messaging_key(entry_id: str, item: dict) -> str | None:
    if any(name in item for name in IGNORED_MESSAGING):
        return None  # receipts and postbacks are not conversation content
    sender = as_id((item.get("sender") or {}).get("id"))
    if isinstance(item.get("message"), dict):
        message = item["message"]
        suffix = ":deleted" if message.get("is_deleted") else ""
        return f"meta_msg:{entry_id}:{message.get('mid')}{suffix}"
    if isinstance(item.get("message_edit"), dict):
        edit = item["message_edit"]
        return f"meta_edit:{entry_id}:{edit.get('mid')}:{edit.get('num_edit')}"
    if isinstance(item.get("reaction"), dict):
        reaction = item["reaction"]
        return (f"meta_reaction:{entry_id}:{reaction.get('mid')}:{sender}:"
                f"{reaction.get('action')}:{item.get('timestamp')}")
    return None


def _split_whatsapp(base: dict, value: dict) -> list[RawEvent]:
    phone_id = as_id((value.get("metadata") or {}).get("phone_number_id")) or ""
    contacts = {as_id(c.get("wa_id")): c for c in value.get("contacts") or [] if isinstance(c, dict)}
    events = []
    for message in value.get("messages") or []:
        if isinstance(message, dict) and message.get("id"):
            contact = contacts.get(as_id(message.get("from"))) or {}
            events.append(RawEvent(f"wa:{phone_id}:{message['id']}", {
                **base, "type": "whatsapp", "phone_number_id": phone_id,
                "data": {"message": message, "contact": contact}}))
    for status in value.get("statuses") or []:
        if isinstance(status, dict) and status.get("id"):
            events.append(RawEvent(f"wa_status:{status['id']}:{status.get('status')}", {
                **base, "type": "whatsapp_status", "phone_number_id": phone_id,
                "data": {"status": status}}))
    return events
