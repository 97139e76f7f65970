"""A small fake of the platform endpoints the desk sends replies to, on loopback.

Implements: Graph API `POST /graph/{id}/comments|replies|messages`, WhatsApp Cloud API
`POST /wa/{phone_number_id}/messages`, X API v2 `POST /x/tweets` and
`POST /x/dm_conversations/with/{participant}/messages`. Records every call; `fail(n, ...)`
makes the next n calls fail with a chosen status and body.
"""
import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePlatform:
    def __init__(self):
        self.calls: list[dict] = []
        self.failures: list[tuple[int, dict]] = []
        self.next_ids: list[str] = []
        self.delay = 0.0
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
        if re.fullmatch(r"/graph/[^/]+/(comments|replies)", path):
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

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if fake.delay:
                    threading.Event().wait(fake.delay)
                status, answer = fake._answer(self.path, body, dict(self.headers))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass
        return Handler
