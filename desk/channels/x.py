"""X webhooks, both delivery formats: the Account Activity API (AAA) and the X Activity API
(XAA) that replaces it. CRC, signatures, split a delivery into events, parse. No DB code."""
import base64
import hashlib
import hmac
import logging
from email.utils import parsedate_to_datetime

from desk.channels.base import (
    Author,
    NormalizedMessage,
    ParseError,
    RawEvent,
    as_id,
    millis,
    unescape_once,
)

log = logging.getLogger(__name__)

# XAA event types that carry conversation content. Every other type (follows, likes, profile
# updates, read receipts, typing, encrypted XChat, Spaces, news, OAuth revokes, ...) is
# acknowledged and ignored, as the AAA path ignores favorite_events and follow_events.
XAA_POSTS = ("post.mention.create", "post.create")
XAA_DMS = ("dm.received", "dm.sent")
XAA_DELETE = "post.delete"


def crc_response(crc_token: str, secret: str) -> dict:
    """{"response_token": "sha256=<base64 HMAC-SHA256(secret, crc_token)>"}; secret: the app's
    OAuth 2.0 client secret when it has one, else its consumer secret."""
    mac = hmac.new(secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return {"response_token": "sha256=" + base64.b64encode(mac).decode()}


def signature_ok(raw_body: bytes, header: str | None, secret: str) -> bool:
    """header: sha256=<base64 HMAC-SHA256 of the raw body>, keyed by the client secret
    (X-Twitter-Webhooks-Signature-OAuth2) or the consumer secret (X-Twitter-Webhooks-Signature)."""
    if not header or not secret or not header.startswith("sha256="):
        return False
    want = "sha256=" + base64.b64encode(
        hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(header.strip().encode(), want.encode())


def split(body) -> list[RawEvent]:
    """Cut an AAA delivery into one event per tweet, DM or delete, or take the one XAA event."""
    if not isinstance(body, dict):
        raise ParseError("an X delivery must be a JSON object")
    if "for_user_id" not in body and "data" in body:
        return _split_activity(body["data"])
    user = as_id(body.get("for_user_id"))
    if not user:
        raise ParseError("an X delivery needs for_user_id")
    events = []
    for tweet in _list(body, "tweet_create_events"):
        tweet_id = as_id(tweet.get("id_str")) or as_id(tweet.get("id"))
        if tweet_id:
            events.append(RawEvent(f"x:{user}:tweet:{tweet_id}",
                                   {"for_user_id": user, "type": "tweet", "data": tweet}))
    events += _dm_events(user, _list(body, "direct_message_events"),
                         _users(body.get("apps"), body.get("users")))
    for deleted in _list(body, "tweet_delete_events"):
        status = deleted.get("status") or {}
        if status.get("id"):
            events.append(RawEvent(f"x:{user}:delete:{status['id']}",
                                   {"for_user_id": user, "type": "delete", "data": deleted}))
    return events


def _split_activity(data) -> list[RawEvent]:
    """One XAA event ({"data": {event_type, filter, payload, includes}}) under the AAA dedupe keys,
    so an event that both APIs deliver while an account migrates is stored once."""
    if not isinstance(data, dict):
        raise ParseError("an X Activity delivery's data must be an object")
    event_type, payload = data.get("event_type"), data.get("payload")
    if not isinstance(event_type, str) or not event_type:
        raise ParseError("an X Activity delivery needs data.event_type")
    if not isinstance(payload, dict):
        raise ParseError("an X Activity delivery's data.payload must be an object")
    if event_type not in (*XAA_POSTS, *XAA_DMS, XAA_DELETE):
        return []
    # The filter's user is the subscribed (brand) account; oauth.revoke may send an empty
    # filter, but that type is ignored above.
    user = as_id(_object(data.get("filter")).get("user_id"))
    if not user:
        raise ParseError(f"an X Activity {event_type} event needs data.filter.user_id")
    if event_type in XAA_DMS:
        return _dm_events(user, _list(payload, "direct_message_events"), _users(payload.get("users")))
    post_id = as_id(payload.get("id"))
    if not post_id:
        raise ParseError(f"an X Activity {event_type} payload needs an id")
    if event_type == XAA_DELETE:
        return [RawEvent(f"x:{user}:delete:{post_id}",
                         {"for_user_id": user, "type": "post_delete", "data": payload})]
    return [_post_event(user, post_id, payload, _object(data.get("includes")))]


def _post_event(user: str, post_id: str, post: dict, includes: dict) -> RawEvent:
    """An XAA Post with the includes its parsing needs: author, replied-to user, attached media."""
    users = _users(includes.get("users"))
    people = {k: users[k] for k in (as_id(post.get("author_id")),
              as_id(post.get("in_reply_to_user_id"))) if k in users}
    attached = _items(_object(post.get("attachments")).get("media_keys"))
    media = [m for m in _dicts(includes.get("media")) if m.get("media_key") in attached]
    return RawEvent(f"x:{user}:tweet:{post_id}", {"for_user_id": user, "type": "post",
                                                  "data": post, "users": people, "media": media})


def _dm_events(user: str, dms: list[dict], users: dict) -> list[RawEvent]:
    """AAA and XAA (dm.received, dm.sent) share the DM event object: one event per message_create."""
    events = []
    for dm in dms:
        if dm.get("type") == "message_create" and dm.get("id"):
            create = dm.get("message_create") or {}
            people = {k: users[k] for k in (as_id(create.get("sender_id")),
                      as_id((create.get("target") or {}).get("recipient_id"))) if k in users}
            events.append(RawEvent(f"x:{user}:dm:{dm['id']}", {
                "for_user_id": user, "type": "dm", "data": dm, "users": people}))
    return events


def _list(body: dict, key: str) -> list[dict]:
    """The objects in body[key]; ParseError when it is there but not a list."""
    value = body.get(key) or []
    if not isinstance(value, list):
        raise ParseError(f"{key} must be a list")
    return _dicts(value)


def _items(value) -> list:
    """A list as is; anything else (absent, or not what the docs show) as no items."""
    return value if isinstance(value, list) else []


def _dicts(value) -> list[dict]:
    return [item for item in _items(value) if isinstance(item, dict)]


def _object(value) -> dict:
    """An object as is; anything else as an empty one."""
    return value if isinstance(value, dict) else {}


def _users(*containers) -> dict:
    """User profiles keyed by id, from maps or lists. AAA: X's own example nests them inside
    "apps" (beside app objects), real ones are top-level. XAA: v2 users, in a DM payload's map
    each wrapped in {"data": ...}, in includes a plain list."""
    found = {}
    for container in containers:
        if isinstance(container, dict):
            entries = container.items()
        elif isinstance(container, list):
            entries = ((None, value) for value in container)
        else:
            continue
        for key, value in entries:
            profile = _unwrap(value)
            user_id = as_id(key) or as_id(profile.get("id"))
            if user_id and ("screen_name" in profile or "username" in profile):
                found[user_id] = profile
    return found


def _unwrap(value) -> dict:
    """A user profile, wrapped in {"data": ...} (XAA) or not."""
    value = _object(value)
    return _object(value.get("data")) or value


def _author(user_id: str, profile: dict | None) -> Author:
    """An Author from an AAA (v1.1) or XAA (v2: username, public_metrics) user profile."""
    profile = profile or {}
    metrics = _object(profile.get("public_metrics"))
    return Author(id=user_id, handle=profile.get("screen_name") or profile.get("username"),
                  name=profile.get("name"),
                  followers=profile.get("followers_count", metrics.get("followers_count")))


def parse(payload: dict) -> list[NormalizedMessage]:
    """One stored X event -> zero or more NormalizedMessages."""
    user, kind, data = payload["for_user_id"], payload.get("type"), payload.get("data") or {}
    if kind == "tweet":
        return _tweet(user, data)
    if kind == "post":
        return _post(user, data, payload.get("users") or {}, payload.get("media") or [])
    if kind == "dm":
        return _dm(user, data, payload.get("users") or {})
    if kind == "delete":
        status = data.get("status") or {}
        return _deleted(user, str(status["id"]), as_id(status.get("user_id")),
                        millis(data.get("timestamp_ms")))
    if kind == "post_delete":  # XAA gives no deletion time: the receipt time stands in
        return _deleted(user, str(data["id"]), as_id(data.get("author_id")), None)
    return []


def _tweet(user: str, tweet: dict) -> list[NormalizedMessage]:
    """An AAA (v1.1) tweet object."""
    if tweet.get("retweeted_status"):
        return []  # a retweet of the brand is reach, not a conversation
    tweet_id = as_id(tweet.get("id_str")) or as_id(tweet.get("id"))
    author = tweet.get("user") or {}
    author_id = as_id(author.get("id_str")) or as_id(author.get("id")) or "unknown"
    extended = _object(tweet.get("extended_tweet"))
    parent = as_id(tweet.get("in_reply_to_status_id_str")) or as_id(tweet.get("in_reply_to_status_id"))
    reply_to = as_id(tweet.get("in_reply_to_user_id_str")) or as_id(tweet.get("in_reply_to_user_id"))
    media = (tweet.get("entities") or {}).get("media") or []
    return _mention(
        user, tweet_id, _author(author_id, author),
        Author(id=reply_to or "unknown", handle=tweet.get("in_reply_to_screen_name")),
        text=extended.get("full_text") or tweet.get("full_text") or tweet.get("text"),
        parent=parent, sent_at=_created_at(tweet),
        attachments=[{"type": "media", "url": m.get("media_url_https")} for m in media
                     if isinstance(m, dict)])


def _post(user: str, post: dict, users: dict, media: list) -> list[NormalizedMessage]:
    """An XAA (X API v2) Post: a customer's mention or reply, or the brand's own post."""
    refs = {ref.get("type"): as_id(ref.get("id")) for ref in _dicts(post.get("referenced_tweets"))}
    if "retweeted" in refs:
        return []  # a repost of the brand is reach, not a conversation
    author_id = as_id(post.get("author_id")) or "unknown"
    reply_to = as_id(post.get("in_reply_to_user_id")) or "unknown"
    note = _object(post.get("note_tweet"))
    return _mention(
        user, as_id(post.get("id")), _author(author_id, users.get(author_id)),
        _author(reply_to, users.get(reply_to)),
        text=note.get("text") or post.get("text"),  # note_tweet: the untruncated long post
        parent=refs.get("replied_to"), sent_at=_created_at(post),
        attachments=[{"type": "media", "url": m.get("url") or m.get("preview_image_url")}
                     for m in media])


def _mention(user: str, post_id: str, author: Author, reply_to: Author, *, text, parent, sent_at,
             attachments) -> list[NormalizedMessage]:
    """A post as a mention message; the brand's own post is outbound, to the customer it answers."""
    own = author.id == user
    return [NormalizedMessage(
        platform="x", account_id=user, kind="mention", direction="out" if own else "in",
        platform_message_id=post_id, thread_key=post_id, parent_id=parent,
        author=reply_to if own else author, text=unescape_once(text), attachments=attachments,
        sent_at=sent_at, post_url=f"https://x.com/{author.handle or 'i'}/status/{post_id}")]


def _deleted(user: str, post_id: str, author_id: str | None, sent_at) -> list[NormalizedMessage]:
    return [NormalizedMessage(
        platform="x", account_id=user, kind="mention", direction="in",
        platform_message_id=post_id, thread_key=post_id, author=Author(id=author_id or "unknown"),
        sent_at=sent_at, verb="delete")]


def _created_at(post: dict):
    """timestamp_ms, else created_at: RFC 2822 in v1.1 (AAA), ISO 8601 in v2 (XAA)."""
    if post.get("timestamp_ms"):
        return millis(post["timestamp_ms"])
    created = post.get("created_at") or ""
    try:
        return parsedate_to_datetime(created)
    except (TypeError, ValueError):
        return millis(created)  # not a number: millis reads it as ISO 8601


def _dm(user: str, dm: dict, users: dict) -> list[NormalizedMessage]:
    create = dm.get("message_create") or {}
    sender = as_id(create.get("sender_id"))
    recipient = as_id((create.get("target") or {}).get("recipient_id"))
    own = sender == user
    customer_id = recipient if own else sender
    if not customer_id:
        raise ParseError("a DM event needs a sender and a recipient")
    data = create.get("message_data") or {}
    attachment = data.get("attachment") or {}
    media = attachment.get("media") or []
    media = media if isinstance(media, list) else [media]
    return [NormalizedMessage(
        platform="x", account_id=user, kind="dm", direction="out" if own else "in",
        platform_message_id=str(dm["id"]), thread_key=customer_id,
        author=_author(customer_id, users.get(customer_id)),
        text=unescape_once(data.get("text")),
        attachments=[{"type": "media", "id": as_id(m.get("id_str")),
                      "url": m.get("media_url_https")} for m in media if isinstance(m, dict)],
        sent_at=millis(dm.get("created_timestamp")))]
