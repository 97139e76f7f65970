"""Meta event parsing: one stored event (see meta.split) -> NormalizedMessages."""
from desk.channels.base import (
    Author,
    NormalizedMessage,
    ParseError,
    as_id,
    millis,
    plain_text,
    seconds,
)

FEED_VERBS = {"add": "new", "edited": "edit", "remove": "delete", "hide": "delete"}
POST_ITEMS = ("post", "status", "photo", "video", "share")


def parse(payload: dict) -> list[NormalizedMessage]:
    kind = payload.get("type")
    platform = {"page": "facebook", "instagram": "instagram",
                "whatsapp_business_account": "whatsapp"}.get(payload.get("object"))
    if platform is None:
        raise ParseError(f"unknown Meta object {payload.get('object')!r}")
    data = payload.get("data") or {}
    if kind == "change":
        field = data.get("field")
        value = data.get("value") or {}
        if field == "feed":
            return _feed(payload["entry_id"], value)
        if field in ("comments", "mentions"):
            return _ig_comment(payload["entry_id"], field, value)
        if field == "messages":
            return _messaging(platform, payload["entry_id"], value)
    elif kind == "messaging":
        return _messaging(platform, payload["entry_id"], data)
    elif kind == "whatsapp":
        return _whatsapp(payload["phone_number_id"], data)
    elif kind == "whatsapp_status":
        return _whatsapp_status(payload["phone_number_id"], data["status"])
    return []


def _feed(page_id: str, value: dict) -> list[NormalizedMessage]:
    item, verb = value.get("item"), FEED_VERBS.get(value.get("verb"))
    sender = value.get("from") or {}
    author_id = as_id(sender.get("id") or value.get("sender_id"))
    author = Author(id=author_id or "unknown", name=sender.get("name") or value.get("sender_name"))
    post_id = as_id(value.get("post_id"))
    post = value.get("post") if isinstance(value.get("post"), dict) else {}
    post_url = post.get("permalink_url") or (f"https://www.facebook.com/{post_id}" if post_id else None)
    sent_at = seconds(value.get("created_time"))
    if item == "comment" and verb:
        comment_id = as_id(value.get("comment_id"))
        parent = as_id(value.get("parent_id"))
        # Facebook nests one level: a reply's parent is the thread's top-level comment.
        thread = comment_id if not parent or parent == post_id else parent
        return [NormalizedMessage(
            platform="facebook", account_id=page_id, kind="comment",
            direction="out" if author_id == page_id else "in", platform_message_id=comment_id,
            thread_key=thread, parent_id=parent, author=author,
            text=plain_text(value.get("message")), attachments=_feed_attachments(value),
            sent_at=sent_at, verb=verb, post_url=post_url)]
    if item in POST_ITEMS and verb in ("new", "edit", "delete") and author_id != page_id:
        # A visitor post on the page: its own thread, answered with comments.
        return [NormalizedMessage(
            platform="facebook", account_id=page_id, kind="comment", direction="in",
            platform_message_id=post_id, thread_key=post_id, author=author,
            text=plain_text(value.get("message")), attachments=_feed_attachments(value),
            sent_at=sent_at, verb=verb, post_url=post_url)]
    return []  # reactions, likes, the page's own posts: metrics, not tickets


def _feed_attachments(value: dict) -> list:
    found = []
    for key in ("photo", "video", "link"):
        if isinstance(value.get(key), str):
            found.append({"type": key, "url": value[key]})
    return found


def _ig_comment(account_id: str, field: str, value: dict) -> list[NormalizedMessage]:
    comment_id = as_id(value.get("id") or value.get("comment_id"))
    if not comment_id:
        return []
    sender = value.get("from") or {}
    author_id = as_id(sender.get("id"))
    media = value.get("media") if isinstance(value.get("media"), dict) else {}
    media_id = as_id(media.get("id") or value.get("media_id"))
    own = author_id == account_id or (author_id and author_id == as_id(sender.get("self_ig_scoped_id")))
    parent = as_id(value.get("parent_id"))
    return [NormalizedMessage(
        platform="instagram", account_id=account_id,
        kind="mention" if field == "mentions" else "comment",
        direction="out" if own else "in", platform_message_id=comment_id,
        thread_key=parent or comment_id, parent_id=parent or media_id,
        # The Facebook-login "mentions" webhook names no author; each such mention gets a
        # customer of its own instead of all of them sharing one "unknown" customer.
        author=Author(id=author_id or f"mention:{comment_id}", handle=sender.get("username")),
        text=plain_text(value.get("text")), post_url=None,
        post_text=f"media {media_id}" if media_id else None)]


def _messaging(platform: str, account_id: str, item: dict) -> list[NormalizedMessage]:
    sender = as_id((item.get("sender") or {}).get("id"))
    recipient = as_id((item.get("recipient") or {}).get("id"))
    sent_at = millis(item.get("timestamp"))
    message, edit = item.get("message"), item.get("message_edit")
    if isinstance(message, dict):
        echo = bool(message.get("is_echo")) or sender == account_id
        customer = recipient if echo else sender
        if not customer or not message.get("mid"):
            raise ParseError("a message event needs a sender, a recipient and a mid")
        text = plain_text(message.get("text"))
        attachments = _attachments(message)
        if message.get("is_unsupported") and not text and not attachments:
            attachments = [{"type": "unsupported"}]
        return [NormalizedMessage(
            platform=platform, account_id=account_id, kind="dm",
            direction="out" if echo else "in", platform_message_id=str(message["mid"]),
            thread_key=customer, author=Author(id=customer), text=text,
            parent_id=as_id((message.get("reply_to") or {}).get("mid")),
            attachments=attachments, sent_at=sent_at,
            verb="delete" if message.get("is_deleted") else "new")]
    if isinstance(edit, dict) and edit.get("mid") and sender:
        return [NormalizedMessage(
            platform=platform, account_id=account_id, kind="dm", direction="in",
            platform_message_id=str(edit["mid"]), thread_key=sender, author=Author(id=sender),
            text=plain_text(edit.get("text")), sent_at=sent_at, verb="edit")]
    return []  # reactions are recorded as events and not turned into messages


def _attachments(message: dict) -> list:
    found = []
    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        entry = {"type": attachment.get("type") or "file"}
        if payload.get("url") or attachment.get("url"):
            entry["url"] = payload.get("url") or attachment.get("url")
        found.append(entry)
    story = (message.get("reply_to") or {}).get("story")
    if isinstance(story, dict):
        found.append({"type": "story_reply", "url": story.get("url")})
    return found


def _whatsapp(phone_id: str, data: dict) -> list[NormalizedMessage]:
    message, contact = data["message"], data.get("contact") or {}
    wa_id = as_id(message.get("from"))
    kind = message.get("type")
    if kind == "reaction" or not wa_id:
        return []
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    text = body.get("body") or body.get("caption") or body.get("text") or ""
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        text = reply.get("title") or ""
    attachments = []
    if kind not in ("text", "interactive", "button"):
        attachments = [{"type": kind, "media_id": as_id(body.get("id")),
                        "mime_type": body.get("mime_type")}]
    name = (contact.get("profile") or {}).get("name")
    return [NormalizedMessage(
        platform="whatsapp", account_id=phone_id, kind="dm", direction="in",
        platform_message_id=str(message["id"]), thread_key=wa_id,
        author=Author(id=wa_id, handle="+" + wa_id, name=name), text=plain_text(text),
        parent_id=as_id((message.get("context") or {}).get("id")),
        attachments=attachments, sent_at=seconds(message.get("timestamp")))]


def _whatsapp_status(phone_id: str, status: dict) -> list[NormalizedMessage]:
    recipient = as_id(status.get("recipient_id")) or "unknown"
    errors = status.get("errors") or []
    error = "; ".join(f"{e.get('code')}: {e.get('title') or e.get('message')}"
                      for e in errors if isinstance(e, dict)) or None
    return [NormalizedMessage(
        platform="whatsapp", account_id=phone_id, kind="dm", direction="out",
        platform_message_id=str(status["id"]), thread_key=recipient, author=Author(id=recipient),
        sent_at=seconds(status.get("timestamp")), verb="status",
        status=status.get("status"), error=error)]
