"""Outbound HTTP calls per platform (Graph API, WhatsApp Cloud API, X API v2), with timeouts.

Base URLs come from configuration (DESK_META_GRAPH_URL, DESK_WHATSAPP_GRAPH_URL,
DESK_X_API_URL) so tests and the demo point them at a local fake.
"""
import requests

from desk.channels.base import OutboundReply, SendError

META_TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613}


def _post(url: str, body: dict, reply: OutboundReply, config) -> dict:
    headers = {"Authorization": f"Bearer {reply.access_token or ''}",
               "Idempotency-Key": reply.idempotency_key}
    try:
        response = requests.post(url, json=body, headers=headers,
                                 timeout=float(config["PLATFORM_TIMEOUT"]))
    except requests.RequestException as exc:
        raise SendError(f"{reply.platform} unreachable: {type(exc).__name__}", transient=True) from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code >= 400 or "error" in data or "errors" in data:
        raise _error(reply, response.status_code, data)
    return data if isinstance(data, dict) else {}


def _error(reply: OutboundReply, status: int, data) -> SendError:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # Graph API error object
        message = f"{error.get('message') or 'error'} (code {error.get('code')})"
        transient = bool(error.get("is_transient")) or error.get("code") in META_TRANSIENT_CODES
    else:
        detail = (data.get("detail") or data.get("title") or
                  str((data.get("errors") or [{}])[0].get("message", ""))) if isinstance(data, dict) else ""
        message = detail or f"HTTP {status}"
        transient = False
    transient = transient or status == 429 or status >= 500
    if reply.access_token:
        message = message.replace(reply.access_token, "[redacted]")
    return SendError(f"{reply.platform} refused the reply: {message[:500]}",
                     transient=transient, status=status)


def fetch_mentioned_comment(account_id: str, comment_id: str, access_token: str | None,
                            config) -> dict:
    """The comment an Instagram account was @mentioned in (the mention webhook carries only
    its id): {"text", "timestamp", "media": {"id", "permalink"}}; SendError when refused."""
    graph = config["META_GRAPH_URL"].rstrip("/")
    fields = f"mentioned_comment.comment_id({comment_id}){{id,text,timestamp,media{{id,permalink}}}}"
    try:
        response = requests.get(f"{graph}/{account_id}", params={"fields": fields},
                                headers={"Authorization": f"Bearer {access_token or ''}"},
                                timeout=float(config["PLATFORM_TIMEOUT"]))
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SendError(f"instagram unreachable: {type(exc).__name__}", transient=True) from exc
    if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
        detail = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
        raise SendError(f"instagram refused the mention lookup: {detail or response.status_code}",
                        transient=response.status_code >= 500, status=response.status_code)
    comment = data.get("mentioned_comment")
    return comment if isinstance(comment, dict) else {}


def send_meta(reply: OutboundReply, config) -> str | None:
    graph = config["META_GRAPH_URL"].rstrip("/")
    if reply.platform == "instagram" and reply.kind == "mention" and reply.visibility == "public":
        # A comment on someone else's media is answered through the account's mentions edge.
        body = {"media_id": reply.media_id, "comment_id": reply.reply_to_id, "message": reply.text}
        return _post(f"{graph}/{reply.account_id}/mentions", body, reply, config).get("id")
    if reply.visibility == "public":
        if not reply.reply_to_id:
            raise SendError("nothing to reply to on this thread", transient=False)
        edge = "replies" if reply.platform == "instagram" else "comments"
        data = _post(f"{graph}/{reply.reply_to_id}/{edge}", {"message": reply.text}, reply, config)
        return data.get("id")
    if reply.kind == "dm":
        recipient = {"id": reply.recipient_id}
    else:  # "move to DM": a private reply to the customer's comment
        recipient = {"comment_id": reply.reply_to_id}
    body = {"recipient": recipient, "messaging_type": "RESPONSE", "message": {"text": reply.text}}
    data = _post(f"{graph}/{reply.account_id}/messages", body, reply, config)
    return data.get("message_id")


def send_whatsapp(reply: OutboundReply, config) -> str | None:
    graph = config["WHATSAPP_GRAPH_URL"].rstrip("/")
    body = {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": reply.recipient_id, "type": "text", "text": {"body": reply.text}}
    data = _post(f"{graph}/{reply.account_id}/messages", body, reply, config)
    messages = data.get("messages") or [{}]
    return messages[0].get("id")


def send_x(reply: OutboundReply, config) -> str | None:
    api = config["X_API_URL"].rstrip("/")
    if reply.visibility == "public":
        body = {"text": reply.text}
        if reply.reply_to_id:
            body["reply"] = {"in_reply_to_tweet_id": reply.reply_to_id}
        return (_post(f"{api}/tweets", body, reply, config).get("data") or {}).get("id")
    data = _post(f"{api}/dm_conversations/with/{reply.recipient_id}/messages",
                 {"text": reply.text}, reply, config)
    return (data.get("data") or {}).get("dm_event_id")


SENDERS = {"facebook": send_meta, "instagram": send_meta, "whatsapp": send_whatsapp, "x": send_x}


def send(reply: OutboundReply, config) -> str | None:
    """Send one reply through its platform; the platform's id for it. Raises SendError."""
    sender = SENDERS.get(reply.platform)
    if sender is None:
        raise SendError(f"replies cannot be sent to {reply.platform}", transient=False)
    return sender(reply, config)
