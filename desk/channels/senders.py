"""Outbound HTTP calls per platform (Graph API, WhatsApp Cloud API, X API v2), with timeouts.

Base URLs come from configuration (DESK_META_GRAPH_URL, DESK_WHATSAPP_GRAPH_URL,
DESK_X_API_URL) so tests and the demo point them at a local fake.
"""
import requests

import json

from desk.channels.base import OutboundFile, OutboundReply, SendError

META_TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613}
META_TOKEN_CODES = {190}  # OAuthException: the access token expired, was revoked or is invalid


def _post(url: str, body: dict, reply: OutboundReply, config) -> dict:
    return _call("POST", url, reply.platform, "the reply", reply.access_token, config,
                 json=body, headers={"Idempotency-Key": reply.idempotency_key})


def _post_form(url: str, fields: dict, files: dict, reply: OutboundReply, config,
               what: str = "the reply") -> dict:
    """A multipart POST (an upload) with the channel's token; the JSON object, or SendError."""
    return _call("POST", url, reply.platform, what, reply.access_token, config, data=fields,
                 files=files, headers={"Idempotency-Key": reply.idempotency_key})


def _upload(file: OutboundFile) -> tuple[str, bytes, str]:
    return (file.name, file.data, file.content_type)


def get_json(platform: str, what: str, url: str, params: dict | None, token: str | None,
             config) -> dict:
    """A GET to a platform API with the channel's token; the JSON object, or SendError."""
    return _call("GET", url, platform, what, token, config, params=params or {})



def _call(method: str, url: str, platform: str, what: str, token: str | None, config,
          headers: dict | None = None, **kwargs) -> dict:
    headers = {"Authorization": f"Bearer {token or ''}", **(headers or {})}
    status, data = _request(method, url, platform, config, headers=headers, **kwargs)
    if status >= 400 or "error" in data or ("errors" in data and "data" not in data):
        raise _refusal(platform, what, status, data, token)
    return data


def _request(method: str, url: str, platform: str, config, **kwargs) -> tuple[int, dict]:
    """One HTTP call with the platform timeout: (status, the JSON object or {})."""
    try:
        response = requests.request(method, url, timeout=float(config["PLATFORM_TIMEOUT"]),
                                    **kwargs)
    except requests.RequestException as exc:
        raise SendError(f"{platform} unreachable: {type(exc).__name__}", transient=True) from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    return response.status_code, data if isinstance(data, dict) else {}


def _refusal(platform: str, what: str, status: int, data, token: str | None) -> SendError:
    """The platform's refusal as a SendError: transient or not, and whether it says the
    access token is invalid (Graph code 190; X answers 401). The token never appears in it."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # Graph API error object
        message = f"{error.get('message') or 'error'} (code {error.get('code')})"
        transient = bool(error.get("is_transient")) or error.get("code") in META_TRANSIENT_CODES
        token_invalid = error.get("code") in META_TOKEN_CODES
    else:
        detail = (data.get("detail") or data.get("title") or
                  str((data.get("errors") or [{}])[0].get("message", ""))) if isinstance(data, dict) else ""
        message = detail or f"HTTP {status}"
        transient = False
        token_invalid = platform == "x" and status == 401
    transient = (transient or status == 429 or status >= 500) and not token_invalid
    if token:
        message = message.replace(token, "[redacted]")
    return SendError(f"{platform} refused {what}: {message[:500]}",
                     transient=transient, status=status, token_invalid=token_invalid)


def identify(platform: str, account_id: str, access_token: str | None, config) -> str:
    """Who the platform says the token belongs to (the "test connection"): a line such as
    "Tienda (id 123)". SendError when refused, unreachable, or another account's token."""
    if not access_token:
        raise SendError(f"{platform}: no access token is saved for this channel",
                        transient=False)
    if platform == "facebook":  # a page token: /me is the page
        data = get_json(platform, "the connection test",
                    f"{config['META_GRAPH_URL'].rstrip('/')}/me", {"fields": "id,name"},
                    access_token, config)
        found_id, label = str(data.get("id") or ""), data.get("name") or ""
    elif platform == "instagram":
        data = get_json(platform, "the connection test",
                    f"{config['META_GRAPH_URL'].rstrip('/')}/{account_id}",
                    {"fields": "id,username,name"}, access_token, config)
        found_id = str(data.get("id") or "")
        label = f"@{data['username']}" if data.get("username") else data.get("name") or ""
    elif platform == "whatsapp":
        data = get_json(platform, "the connection test",
                    f"{config['WHATSAPP_GRAPH_URL'].rstrip('/')}/{account_id}",
                    {"fields": "id,display_phone_number,verified_name"}, access_token, config)
        found_id = str(data.get("id") or "")
        label = " ".join(str(v) for v in (data.get("verified_name"),
                                          data.get("display_phone_number")) if v)
    elif platform == "x":
        data = get_json(platform, "the connection test", f"{config['X_API_URL'].rstrip('/')}/users/me",
                    {"user.fields": "username,name"}, access_token, config)
        user = data.get("data") if isinstance(data.get("data"), dict) else {}
        found_id = str(user.get("id") or "")
        label = " ".join(v for v in (user.get("name"), f"@{user['username']}"
                                     if user.get("username") else None) if v)
    else:
        raise SendError(f"{platform} has no connection test", transient=False)
    if found_id != str(account_id):
        raise SendError(f"{platform}: the token belongs to {label or 'another account'} "
                        f"(id {found_id or '?'}), not to account {account_id}", transient=False)
    return f"{label} (id {found_id})".strip()


def debug_meta_token(access_token: str, config) -> dict:
    """What Graph says of a token (GET /debug_token with the app's own token, from
    DESK_META_APP_ID and DESK_META_APP_SECRET): {"valid": bool, "expires_at": epoch seconds
    or None for a token that never expires, "detail": str}. SendError when unreachable."""
    app_token = f"{config['META_APP_ID']}|{config['META_APP_SECRET']}"
    data = get_json("facebook", "the token check",
                f"{config['META_GRAPH_URL'].rstrip('/')}/debug_token",
                {"input_token": access_token}, app_token, config)
    info = data.get("data") if isinstance(data.get("data"), dict) else {}
    error = info.get("error") if isinstance(info.get("error"), dict) else {}
    expires = info.get("expires_at")
    return {"valid": bool(info.get("is_valid")),
            "expires_at": int(expires) if isinstance(expires, int) and expires > 0 else None,
            "detail": str(error.get("message") or "")[:300]}


# Graph fields of a customer's profile, per platform (Messenger: page-scoped id; Instagram:
# Instagram-scoped id).
PROFILE_FIELDS = {"facebook": "first_name,last_name,profile_pic",
                  "instagram": "name,username,profile_pic"}


def fetch_profile(platform: str, user_id: str, access_token: str | None, config) -> dict:
    """A Messenger or Instagram customer's name and picture: {"name", "handle", "picture"}
    (each None when not given). SendError when refused or unreachable."""
    if platform not in PROFILE_FIELDS:
        raise SendError(f"{platform} has no profile lookup", transient=False)
    data = get_json(platform, "the profile lookup",
                f"{config['META_GRAPH_URL'].rstrip('/')}/{user_id}",
                {"fields": PROFILE_FIELDS[platform]}, access_token, config)
    if platform == "facebook":
        name = " ".join(str(data[k]).strip() for k in ("first_name", "last_name")
                        if isinstance(data.get(k), str) and data[k].strip())
        handle = None
    else:
        name = data.get("name").strip() if isinstance(data.get("name"), str) else ""
        handle = data.get("username") if isinstance(data.get("username"), str) else None
    picture = data.get("profile_pic")
    picture = picture if isinstance(picture, str) and picture.startswith("https://") else None
    return {"name": name or None, "handle": handle or None, "picture": picture}


def refresh_x_token(refresh_token: str, config) -> dict:
    """A new X OAuth 2.0 user token pair: {"access_token", "refresh_token", "expires_in"}.
    POST /2/oauth2/token (grant_type=refresh_token), as a confidential client (HTTP Basic with
    DESK_X_CLIENT_ID and DESK_X_CLIENT_SECRET) or a public one (client_id only). X rotates the
    refresh token: the old one stops working. SendError (token_invalid when X refuses the
    refresh token)."""
    client_id, secret = config.get("X_CLIENT_ID") or "", config.get("X_CLIENT_SECRET") or ""
    if not client_id:
        raise SendError("x: set DESK_X_CLIENT_ID to refresh user tokens", transient=False)
    status, data = _request(
        "POST", f"{config['X_API_URL'].rstrip('/')}/oauth2/token", "x", config,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token,
              "client_id": client_id},
        auth=(client_id, secret) if secret else None)
    if status >= 400 or not data.get("access_token"):
        detail = str(data.get("error_description") or data.get("error") or
                     f"HTTP {status}").replace(refresh_token, "[redacted]")
        transient = status == 429 or status >= 500
        raise SendError(f"x refused the token refresh: {detail[:300]}", transient=transient,
                        status=status, token_invalid=not transient)
    return {"access_token": str(data["access_token"]),
            "refresh_token": str(data.get("refresh_token") or refresh_token),
            "expires_in": int(data.get("expires_in") or 7200)}


def fetch_mentioned_comment(account_id: str, comment_id: str, access_token: str | None,
                            config) -> dict:
    """The comment an Instagram account was @mentioned in (the mention webhook carries only
    its id): {"text", "timestamp", "media": {"id", "permalink"}}; SendError when refused."""
    graph = config["META_GRAPH_URL"].rstrip("/")
    fields = f"mentioned_comment.comment_id({comment_id}){{id,text,timestamp,media{{id,permalink}}}}"
    data = get_json("instagram", "the mention lookup", f"{graph}/{account_id}", {"fields": fields},
                access_token, config)
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
        if reply.file:  # a photo comment (Facebook; attachments.py allows no other)
            return _post_form(f"{graph}/{reply.reply_to_id}/{edge}", {"message": reply.text},
                              {"source": _upload(reply.file)}, reply, config).get("id")
        data = _post(f"{graph}/{reply.reply_to_id}/{edge}", {"message": reply.text}, reply, config)
        return data.get("id")
    if reply.kind == "dm":
        recipient = {"id": reply.recipient_id}
    else:  # "move to DM": a private reply to the customer's comment
        recipient = {"comment_id": reply.reply_to_id}
    if reply.file and not reply.file.sent_id:  # Messenger and Instagram send it apart, first
        sent = _send_meta_file(f"{graph}/{reply.account_id}/messages", recipient, reply, config)
        if not reply.text:
            return sent
    body = {"recipient": recipient, "messaging_type": "RESPONSE", "message": {"text": reply.text}}
    data = _post(f"{graph}/{reply.account_id}/messages", body, reply, config)
    return data.get("message_id")


def _send_meta_file(url: str, recipient: dict, reply: OutboundReply, config) -> str | None:
    """The reply's file as a message of its own: uploaded with the call on Messenger
    (`filedata`), by its signed address on Instagram, which takes no upload."""
    attachment = {"type": reply.file.kind}
    if reply.platform == "instagram":
        attachment["payload"] = {"url": reply.file.url}
        data = _post(url, {"recipient": recipient, "message": {"attachment": attachment}},
                     reply, config)
    else:
        attachment["payload"] = {"is_reusable": False}
        data = _post_form(url, {"recipient": json.dumps(recipient), "messaging_type": "RESPONSE",
                                "message": json.dumps({"attachment": attachment})},
                          {"filedata": _upload(reply.file)}, reply, config)
    sent = data.get("message_id")
    if reply.file_sent:
        reply.file_sent(sent)
    return sent


MODERATION = ("hide", "unhide", "delete")


def moderate_comment(platform: str, comment_id: str, action: str, access_token: str | None,
                     config) -> None:
    """Hide, unhide or delete a public comment on Facebook or Instagram (Graph API: POST
    /{comment-id} with is_hidden on Facebook, hide on Instagram; DELETE /{comment-id}).
    SendError when the platform refuses or does not confirm."""
    if platform not in ("facebook", "instagram") or action not in MODERATION:
        raise SendError(f"{platform} comments cannot be {action}d here", transient=False)
    url = f"{config['META_GRAPH_URL'].rstrip('/')}/{comment_id}"
    what = {"hide": "hiding the comment", "unhide": "showing the comment again",
            "delete": "deleting the comment"}[action]
    if action == "delete":
        data = _call("DELETE", url, platform, what, access_token, config)
    else:
        field = "is_hidden" if platform == "facebook" else "hide"
        data = _call("POST", url, platform, what, access_token, config,
                     json={field: action == "hide"})
    if data.get("success") is not True:
        raise SendError(f"{platform} did not confirm {what}", transient=False)


def send_whatsapp(reply: OutboundReply, config) -> str | None:
    """Free text inside the customer's 24-hour window, else the approved template the reply
    names ({"name", "language", "params"})."""
    graph = config["WHATSAPP_GRAPH_URL"].rstrip("/")
    body = {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": reply.recipient_id, "type": "text", "text": {"body": reply.text}}
    if reply.file:
        return _send_whatsapp_file(graph, body, reply, config)
    if reply.template:
        body.pop("text")
        body["type"] = "template"
        body["template"] = {"name": reply.template["name"],
                            "language": {"code": reply.template["language"]}}
        if reply.template.get("params"):
            body["template"]["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": value} for value in reply.template["params"]]}]
    data = _post(f"{graph}/{reply.account_id}/messages", body, reply, config)
    messages = data.get("messages") or [{}]
    return messages[0].get("id")


def _send_whatsapp_file(graph: str, body: dict, reply: OutboundReply, config) -> str | None:
    """Upload the file to the number's media (POST /{phone-number-id}/media), then send it by
    id with the text as its caption; a sound takes no caption, so the text follows it."""
    kind = {"file": "document"}.get(reply.file.kind, reply.file.kind)
    if not reply.file.sent_id:
        uploaded = _post_form(f"{graph}/{reply.account_id}/media",
                              {"messaging_product": "whatsapp", "type": reply.file.content_type},
                              {"file": _upload(reply.file)}, reply, config, what="the file upload")
        media = {"id": uploaded.get("id")}
        if kind != "audio" and reply.text:
            media["caption"] = reply.text
        if kind == "document":
            media["filename"] = reply.file.name
        sent = _post(f"{graph}/{reply.account_id}/messages",
                     {**{k: v for k, v in body.items() if k != "text"}, "type": kind, kind: media},
                     reply, config)
        sent_id = (sent.get("messages") or [{}])[0].get("id")
        if kind != "audio" or not reply.text:
            return sent_id
        if reply.file_sent:
            reply.file_sent(sent_id)
    data = _post(f"{graph}/{reply.account_id}/messages", body, reply, config)
    return (data.get("messages") or [{}])[0].get("id")


MAX_TEMPLATE_PAGES = 20


def whatsapp_templates(business_account_id: str, access_token: str | None, config) -> list[dict]:
    """Every message template of a WhatsApp Business Account (GET /{waba}/message_templates,
    page by page with the `after` cursor); SendError when refused."""
    url = f"{config['WHATSAPP_GRAPH_URL'].rstrip('/')}/{business_account_id}/message_templates"
    params = {"fields": "name,language,status,category,components", "limit": 100}
    found: list[dict] = []
    for _ in range(MAX_TEMPLATE_PAGES):
        data = get_json("whatsapp", "the template list", url, params, access_token, config)
        found += [t for t in data.get("data") or [] if isinstance(t, dict)]
        paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
        after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
        if not after:
            break
        params = {**params, "after": after}
    return found


def send_x(reply: OutboundReply, config) -> str | None:
    api = config["X_API_URL"].rstrip("/")
    if reply.visibility == "public":
        body = {"text": reply.text}
        if reply.reply_to_id:
            body["reply"] = {"in_reply_to_tweet_id": reply.reply_to_id}
        if reply.file:
            body["media"] = {"media_ids": [_x_media(api, "tweet", reply, config)]}
        return (_post(f"{api}/tweets", body, reply, config).get("data") or {}).get("id")
    body = {"text": reply.text} if reply.text else {}
    if reply.file:
        body["attachments"] = [{"media_id": _x_media(api, "dm", reply, config)}]
    data = _post(f"{api}/dm_conversations/with/{reply.recipient_id}/messages", body, reply, config)
    return (data.get("data") or {}).get("dm_event_id")


def _x_media(api: str, use: str, reply: OutboundReply, config) -> str:
    """Upload the reply's image (POST /2/media/upload, a user token with media.write); its id."""
    category = f"{use}_{'gif' if reply.file.content_type == 'image/gif' else 'image'}"
    data = _post_form(f"{api}/media/upload", {"media_category": category,
                                              "media_type": reply.file.content_type},
                      {"media": _upload(reply.file)}, reply, config, what="the image upload")
    media_id = (data.get("data") or {}).get("id")
    if not media_id:
        raise SendError("x did not return an id for the uploaded image", transient=True)
    return str(media_id)


SENDERS = {"facebook": send_meta, "instagram": send_meta, "whatsapp": send_whatsapp, "x": send_x}


def send(reply: OutboundReply, config) -> str | None:
    """Send one reply through its platform; the platform's id for it. Raises SendError."""
    sender = SENDERS.get(reply.platform)
    if sender is None:
        raise SendError(f"replies cannot be sent to {reply.platform}", transient=False)
    return sender(reply, config)
