"""A small fake of the platform endpoints the desk sends replies to, on loopback.

Implements: Graph API `POST /graph/{id}/comments|replies|messages|mentions` and
`GET /graph/{ig-user-id}?fields=mentioned_comment.comment_id(...)`, WhatsApp Cloud API
`POST /wa/{phone_number_id}/messages`, X API v2 `POST /x/tweets` and
`POST /x/dm_conversations/with/{participant}/messages`. Records every call; `fail(n, ...)`
makes the next n calls fail with a chosen status and body.
"""
import itertools
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePlatform:
    def __init__(self):
        self.calls: list[dict] = []
        self.failures: list[tuple[int, dict]] = []
        self.next_ids: list[str] = []
        self.delay = 0.0
        self.mentioned_comments: dict[str, dict] = {}  # comment id -> what Graph returns
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

    def _answer(self, path: str, body: dict, headers: dict) -> tuple[int, dict]:
        with self._lock:
            self.calls.append({"path": path, "json": body, "headers": headers})
            if self.failures:
                return self.failures.pop(0)
            new_id = self.next_ids.pop(0) if self.next_ids else f"out-{next(self._ids)}"
        if re.fullmatch(r"/graph/[^/]+/(comments|replies|mentions)", path):
            return 200, {"id": new_id}
        if re.fullmatch(r"/graph/[^/]+/messages", path):
            return 200, {"recipient_id": (body.get("recipient") or {}).get("id"), "message_id": new_id}
        if re.fullmatch(r"/wa/[^/]+/messages", path):
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to")}],
                         "messages": [{"id": new_id}]}
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
                self._send(*fake._lookup(split.path, query, dict(self.headers)))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
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
