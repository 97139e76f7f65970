"""X (Account Activity API): CRC, signature, split a delivery into events, parse. No DB code."""
import base64
import hashlib
import hmac
import logging

from desk.channels.base import (Author, NormalizedMessage, ParseError, RawEvent, as_id, millis,
                                unescape_once)

log = logging.getLogger(__name__)


def crc_response(crc_token: str, consumer_secret: str) -> dict:
    """{"response_token": "sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}."""
    mac = hmac.new(consumer_secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return {"response_token": "sha256=" + base64.b64encode(mac).decode()}


def signature_ok(raw_body: bytes, header: str | None, consumer_secret: str) -> bool:
    """x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of the raw body>."""
    if not header or not consumer_secret or not header.startswith("sha256="):
        return False
    want = "sha256=" + base64.b64encode(
        hmac.new(consumer_secret.encode(), raw_body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(header.strip().encode(), want.encode())


def split(body) -> list[RawEvent]:
    """Cut an Account Activity delivery into one event per tweet, DM or delete."""
    if not isinstance(body, dict):
        raise ParseError("an X delivery must be a JSON object")
    user = as_id(body.get("for_user_id"))
    if not user:
        if "data" in body:
            log.warning("X Activity API envelope not supported yet; ignored")
            return []
        raise ParseError("an X delivery needs for_user_id")
    events = []
    for tweet in _list(body, "tweet_create_events"):
        tweet_id = as_id(tweet.get("id_str")) or as_id(tweet.get("id"))
        if tweet_id:
            events.append(RawEvent(f"x:{user}:tweet:{tweet_id}",
                                   {"for_user_id": user, "type": "tweet", "data": tweet}))
    users = _users(body)
    for dm in _list(body, "direct_message_events"):
        if dm.get("type") == "message_create" and dm.get("id"):
            create = dm.get("message_create") or {}
            people = {k: users[k] for k in (as_id(create.get("sender_id")),
                      as_id((create.get("target") or {}).get("recipient_id"))) if k in users}
            events.append(RawEvent(f"x:{user}:dm:{dm['id']}", {
                "for_user_id": user, "type": "dm", "data": dm, "users": people}))
    for deleted in _list(body, "tweet_delete_events"):
        status = deleted.get("status") or {}
        if status.get("id"):
            events.append(RawEvent(f"x:{user}:delete:{status['id']}",
                                   {"for_user_id": user, "type": "delete", "data": deleted}))
    return events


def _list(body: dict, key: str) -> list[dict]:
    value = body.get(key) or []
    if not isinstance(value, list):
        raise ParseError(f"{key} must be a list")
    return [item for item in value if isinstance(item, dict)]


def _users(body: dict) -> dict:
    """Users keyed by id; X's own example nests them inside "apps", real ones are top-level."""
    found = {}
    for container in (body.get("apps"), body.get("users")):
        for key, value in (container or {}).items() if isinstance(container, dict) else []:
            if isinstance(value, dict) and "screen_name" in value:
                found[str(key)] = value
    return found


def parse(payload: dict) -> list[NormalizedMessage]:
    """One stored X event -> zero or more NormalizedMessages."""
    user, kind, data = payload["for_user_id"], payload.get("type"), payload.get("data") or {}
    if kind == "tweet":
        return _tweet(user, data)
    if kind == "dm":
        return _dm(user, data, payload.get("users") or {})
    if kind == "delete":
        status = data.get("status") or {}
        author = as_id(status.get("user_id")) or "unknown"
        return [NormalizedMessage(
            platform="x", account_id=user, kind="mention", direction="in",
            platform_message_id=str(status["id"]), thread_key=str(status["id"]),
            author=Author(id=author), sent_at=millis(data.get("timestamp_ms")), verb="delete")]
    return []


def _tweet(user: str, tweet: dict) -> list[NormalizedMessage]:
    if tweet.get("retweeted_status"):
        return []  # a retweet of the brand is reach, not a conversation
    tweet_id = as_id(tweet.get("id_str")) or as_id(tweet.get("id"))
    author = tweet.get("user") or {}
    author_id = as_id(author.get("id_str")) or as_id(author.get("id")) or "unknown"
    own = author_id == user
    extended = tweet.get("extended_tweet") if isinstance(tweet.get("extended_tweet"), dict) else {}
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text")
    parent = as_id(tweet.get("in_reply_to_status_id_str")) or as_id(tweet.get("in_reply_to_status_id"))
    customer = Author(id=author_id, handle=author.get("screen_name"), name=author.get("name"),
                      followers=author.get("followers_count"))
    if own:  # the brand's own tweet: the customer is the one it answers
        reply_to = as_id(tweet.get("in_reply_to_user_id_str")) or as_id(tweet.get("in_reply_to_user_id"))
        customer = Author(id=reply_to or "unknown", handle=tweet.get("in_reply_to_screen_name"))
    media = (tweet.get("entities") or {}).get("media") or []
    return [NormalizedMessage(
        platform="x", account_id=user, kind="mention", direction="out" if own else "in",
        platform_message_id=tweet_id, thread_key=tweet_id, parent_id=parent, author=customer,
        text=unescape_once(text),
        attachments=[{"type": "media", "url": m.get("media_url_https")} for m in media
                     if isinstance(m, dict)],
        sent_at=_created_at(tweet),
        post_url=f"https://x.com/{author.get('screen_name') or 'i'}/status/{tweet_id}")]


def _created_at(tweet: dict):
    if tweet.get("timestamp_ms"):
        return millis(tweet["timestamp_ms"])
    from email.utils import parsedate_to_datetime
    try:
        return parsedate_to_datetime(tweet.get("created_at") or "")
    except (TypeError, ValueError):
        return None


def _dm(user: str, dm: dict, users: dict) -> list[NormalizedMessage]:
    create = dm.get("message_create") or {}
    sender = as_id(create.get("sender_id"))
    recipient = as_id((create.get("target") or {}).get("recipient_id"))
    own = sender == user
    customer_id = recipient if own else sender
    if not customer_id:
        raise ParseError("a DM event needs a sender and a recipient")
    profile = users.get(customer_id) or {}
    data = create.get("message_data") or {}
    attachment = data.get("attachment") or {}
    media = attachment.get("media") or []
    media = media if isinstance(media, list) else [media]
    return [NormalizedMessage(
        platform="x", account_id=user, kind="dm", direction="out" if own else "in",
        platform_message_id=str(dm["id"]), thread_key=customer_id,
        author=Author(id=customer_id, handle=profile.get("screen_name"), name=profile.get("name"),
                      followers=profile.get("followers_count")),
        text=unescape_once(data.get("text")),
        attachments=[{"type": "media", "id": as_id(m.get("id_str")),
                      "url": m.get("media_url_https")} for m in media if isinstance(m, dict)],
        sent_at=millis(dm.get("created_timestamp")))]
