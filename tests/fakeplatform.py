"""A small fake of the platform endpoints the desk sends replies to, on loopback.

Implements: Graph API `POST /graph/{id}/comments|replies|messages|mentions`,
`GET /graph/{ig-user-id}?fields=mentioned_comment.comment_id(...)`, `GET /graph/me` (a page
token's page), `GET /graph/{ig-user-id}?fields=id,username,name` (an Instagram account) and
`GET /graph/{psid|igsid}?fields=first_name,last_name,profile_pic|name,username,profile_pic`
(a customer's profile, from `profiles`); WhatsApp Cloud API `POST /wa/{phone_number_id}/messages`
`GET /wa/{phone_number_id}?fields=...` and `GET /wa/{waba_id}/message_templates` (from
`wa_templates`, two per page with Graph's `after` cursor), `GET /wa/{media_id}` (a media's
short-lived address, from `wa_media`); a content host `GET /cdn/{name}` serving `files`
(content type and bytes; a `str` value is a redirect to that address); X API v2 `POST /x/tweets`,
`POST /x/dm_conversations/with/{participant}/messages`, `POST /x/media/upload` and
`POST /wa/{phone_number_id}/media` (multipart uploads, kept in `uploads`; Messenger's
`messages` and Graph `comments` take multipart too), `GET /x/users/me` and
`POST /x/oauth2/token` (refresh_token grant, form-encoded; pairs from `x_refresh`); Graph
`GET /graph/debug_token?input_token=...` with the app token (answers from `token_info`).
Records every call; `fail(n, ...)` makes the next n calls fail with a chosen status and body;
a token in `revoked` is refused as the platforms refuse one (Graph code 190, X 401);
`accounts` maps a token to the account it belongs to (id, name, username, phone).
"""
import email
import email.policy
import itertools
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _multipart(content_type: str, raw: bytes) -> dict:
    """A multipart/form-data body: each field's text, or for a file {"filename",
    "content_type", "data"}."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields[name] = {"filename": part.get_filename(), "data": data,
                            "content_type": part.get_content_type()}
        else:
            fields[name] = data.decode()
    return fields


class FakePlatform:
    def __init__(self):
        self.calls: list[dict] = []
        self.failures: list[tuple[int, dict]] = []
        self.next_ids: list[str] = []
        self.delay = 0.0
        self.mentioned_comments: dict[str, dict] = {}  # comment id -> what Graph returns
        self.profiles: dict[str, dict] = {}  # customer's platform id -> profile fields
        self.accounts: dict[str, dict] = {}  # access token -> {"id", "name", "username", ...}
        self.revoked: set[str] = set()  # access tokens the platform refuses
        # Graph debug_token: access token -> {"is_valid", "expires_at", ...}; app token expected.
        self.token_info: dict[str, dict] = {}
        self.app_token = "meta-app-id|meta-app-secret"
        # X OAuth 2.0: refresh token -> the pair it is exchanged for (each works once).
        self.x_refresh: dict[str, dict] = {}
        # Moderation: comment id -> "hidden" or "deleted" (Graph's comment node).
        self.comments: dict[str, str] = {}
        # WhatsApp: business account id -> its message templates as Graph lists them.
        self.wa_templates: dict[str, list[dict]] = {}
        # WhatsApp media id -> the file name under /cdn/ it is served as (token required).
        self.wa_media: dict[str, str] = {}
        self.wa_media_token: str | None = None
        # /cdn/{name} -> (content type, bytes), or an address to redirect to.
        self.files: dict[str, tuple[str, bytes] | str] = {}
        # Uploaded files (WhatsApp media, X media) by the id answered for them.
        self.uploads: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def fail(self, times: int, status: int = 503, body: dict | None = None):
        """The next `times` calls answer `status` with `body` (default: a Graph error)."""
        body = body or {"error": {"message": "Service temporarily unavailable", "code": 2,
                                  "is_transient": True}}
        self.failures.extend([(status, body)] * times)

    def _refused(self, path: str, headers: dict) -> tuple[int, dict] | None:
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.revoked:
            return None
        if path.startswith("/x/"):
            return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                         "detail": "Unauthorized"}
        return 401, {"error": {"message": "Error validating access token: The session has been "
                               "invalidated because the user changed their password.",
                               "type": "OAuthException", "code": 190, "error_subcode": 460}}

    def _answer(self, path: str, body: dict, headers: dict) -> tuple[int, dict]:
        with self._lock:
            self.calls.append({"path": path, "json": body, "headers": headers})
            if self.failures:
                return self.failures.pop(0)
            if refused := self._refused(path, headers):
                return refused
            new_id = self.next_ids.pop(0) if self.next_ids else f"out-{next(self._ids)}"
        comment = re.fullmatch(r"/graph/([^/]+)", path)
        if comment and ({"is_hidden", "hide"} & set(body)):
            hidden = bool(body.get("is_hidden", body.get("hide")))
            if self.comments.get(comment.group(1)) == "deleted":
                return 400, {"error": {"message": "Unsupported post request. Object with ID "
                                       f"'{comment.group(1)}' does not exist", "code": 100}}
            self.comments[comment.group(1)] = "hidden" if hidden else "shown"
            return 200, {"success": True}
        if re.fullmatch(r"/graph/[^/]+/(comments|replies|mentions)", path):
            return 200, {"id": new_id}
        if re.fullmatch(r"/graph/[^/]+/messages", path):
            recipient = body.get("recipient") or {}
            recipient = json.loads(recipient) if isinstance(recipient, str) else recipient
            return 200, {"recipient_id": recipient.get("id"), "message_id": new_id}
        if re.fullmatch(r"/wa/[^/]+/media", path):
            self.uploads[new_id] = body.get("file")
            return 200, {"id": new_id}
        if path == "/x/media/upload":
            self.uploads[new_id] = body.get("media")
            return 200, {"data": {"id": new_id, "media_key": f"3_{new_id}", "size": len(
                (body.get("media") or {}).get("data") or b""), "expires_after_secs": 86400}}
        if re.fullmatch(r"/wa/[^/]+/messages", path):
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to")}],
                         "messages": [{"id": new_id}]}
        if path == "/x/oauth2/token":
            pair = self.x_refresh.pop(body.get("refresh_token"), None)
            if body.get("grant_type") != "refresh_token" or pair is None:
                return 400, {"error": "invalid_request",
                             "error_description": "Value passed for the token was invalid."}
            return 200, {"token_type": "bearer", "expires_in": 7200, "scope": "tweet.write",
                         **pair}
        if path == "/x/tweets":
            return 201, {"data": {"id": new_id, "text": body.get("text")}}
        if re.fullmatch(r"/x/dm_conversations/with/[^/]+/messages", path):
            return 201, {"data": {"dm_conversation_id": "c-1", "dm_event_id": new_id}}
        return 404, {"error": {"message": f"unknown path {path}", "code": 803}}

    def _lookup(self, path: str, query: dict, headers: dict) -> tuple[int, dict]:
        with self._lock:
            self.calls.append({"path": path, "query": query, "headers": headers})
            if self.failures:
                return self.failures.pop(0)
            if refused := self._refused(path, headers):
                return refused
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        owner = self.accounts.get(token)
        fields = query.get("fields", "")
        if path == "/graph/debug_token":
            if token != self.app_token:
                return 400, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
            info = self.token_info.get(query.get("input_token"),
                                       {"is_valid": False, "error": {
                                           "message": "Invalid OAuth access token.", "code": 190}})
            return 200, {"data": info}
        if path == "/x/users/me":
            if owner is None:
                return 401, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}
            return 200, {"data": {k: owner[k] for k in ("id", "name", "username") if k in owner}}
        if path == "/graph/me" and fields == "id,name":
            if owner is None:
                return 400, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
            return 200, {"id": owner["id"], "name": owner.get("name")}
        wa_templates = re.fullmatch(r"/wa/([^/]+)/message_templates", path)
        if wa_templates:
            if wa_templates.group(1) not in self.wa_templates:
                return 400, {"error": {"message": "Unsupported get request.", "code": 100}}
            found = self.wa_templates[wa_templates.group(1)]
            start = int(query.get("after") or 0)
            page = {"data": found[start:start + 2], "paging": {"cursors": {"after": str(start + 2)}}}
            if start + 2 < len(found):
                page["paging"]["next"] = f"{self.url}{path}?after={start + 2}"
            return 200, page
        media = re.fullmatch(r"/wa/([^/]+)", path)
        if media and not fields and media.group(1) in self.wa_media:
            if token != self.wa_media_token:
                return 401, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
            name = self.wa_media[media.group(1)]
            return 200, {"messaging_product": "whatsapp", "id": media.group(1),
                         "url": f"{self.url}/cdn/{name}", "mime_type": self.files[name][0]}
        wa_number = re.fullmatch(r"/wa/([^/]+)", path)
        if wa_number and fields == "id,display_phone_number,verified_name":
            if owner is None or owner["id"] != wa_number.group(1):
                return 400, {"error": {"message": "Unsupported get request.", "code": 100}}
            return 200, {"id": owner["id"], "display_phone_number": owner.get("phone"),
                         "verified_name": owner.get("name")}
        node = re.fullmatch(r"/graph/([^/]+)", path)
        if node and fields == "id,username,name":
            if owner is None or owner["id"] != node.group(1):
                return 400, {"error": {"message": "Unsupported get request.", "code": 100}}
            return 200, {k: owner[k] for k in ("id", "username", "name") if k in owner}
        if node and fields in ("first_name,last_name,profile_pic", "name,username,profile_pic"):
            profile = self.profiles.get(node.group(1))
            if profile is None:
                return 400, {"error": {"message": "Unsupported get request.", "code": 100,
                                       "error_subcode": 33}}
            wanted = fields.split(",")
            return 200, {"id": node.group(1), **{k: v for k, v in profile.items() if k in wanted}}
        account = re.fullmatch(r"/graph/([^/]+)", path)
        wanted = re.fullmatch(r"mentioned_comment\.comment_id\(([^)]+)\)\{.*\}", query.get("fields", ""))
        if not account or not wanted:
            return 400, {"error": {"message": "unsupported request", "code": 100}}
        comment = self.mentioned_comments.get(wanted.group(1))
        if comment is None:
            return 400, {"error": {"message": "Invalid parameter", "code": 100}}
        return 200, {"mentioned_comment": comment, "id": account.group(1)}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                split = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(split.query))
                if split.path.startswith("/cdn/"):
                    return self._file(split.path[5:])
                self._send(*fake._lookup(split.path, query, dict(self.headers)))

            def _file(self, name: str):
                with fake._lock:
                    fake.calls.append({"path": self.path, "headers": dict(self.headers)})
                found = fake.files.get(name)
                if isinstance(found, str):
                    self.send_response(302)
                    self.send_header("Location", found)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if found is None:
                    return self._send(404, {"error": "no such file"})
                self.send_response(200)
                self.send_header("Content-Type", found[0])
                self.send_header("Content-Length", str(len(found[1])))
                self.end_headers()
                self.wfile.write(found[1])

            def do_DELETE(self):
                comment = re.fullmatch(r"/graph/([^/]+)", self.path)
                with fake._lock:
                    fake.calls.append({"path": self.path, "method": "DELETE",
                                       "headers": dict(self.headers)})
                    refused = fake.failures.pop(0) if fake.failures else fake._refused(
                        self.path, dict(self.headers))
                if refused:
                    self._send(*refused)
                elif comment and fake.comments.get(comment.group(1)) != "deleted":
                    fake.comments[comment.group(1)] = "deleted"
                    self._send(200, {"success": True})
                else:
                    self._send(400, {"error": {"message": "Object does not exist", "code": 100}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                content_type = self.headers.get("Content-Type") or ""
                if content_type.startswith("application/x-www-form-urlencoded"):
                    body = dict(urllib.parse.parse_qsl(raw.decode()))
                elif content_type.startswith("multipart/form-data"):
                    body = _multipart(content_type, raw)
                else:
                    body = json.loads(raw or b"{}")
                if fake.delay:
                    threading.Event().wait(fake.delay)
                self._send(*fake._answer(self.path, body, dict(self.headers)))

            def _send(self, status: int, answer: dict):
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass
        return Handler
