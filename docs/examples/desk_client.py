"""A small client for the desk's conversation API (/api/v1), standard library only.

    desk = Desk("https://desk.example.com", "desk_...")
    for ticket in desk.tickets(status="open", assignee="none"):
        seen = desk.messages(ticket["id"])[-1]["id"]
        desk.post(f"/tickets/{ticket['id']}/claim")
        desk.reply(ticket["id"], "¡Hola! Lo miramos ahora mismo.", last_seen=seen)

Every POST carries an Idempotency-Key, and a retry after a timeout or a 5xx sends the same key
again, so the desk acts once however often the request is sent. 429s wait out Retry-After.
Errors are problem details (RFC 9457), raised as DeskProblem.
"""
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class DeskProblem(Exception):
    def __init__(self, problem: dict):
        super().__init__(f"{problem.get('status')} {problem.get('title')}: {problem.get('detail')}")
        self.problem = problem


class Desk:
    def __init__(self, base_url: str, token: str, retries: int = 3, timeout: float = 10):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.token, self.retries, self.timeout = token, retries, timeout

    def request(self, method: str, path: str, body: dict | None = None, key: str | None = None):
        """One call, retried on network errors, 5xx and 429 (a POST with the same key)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if method == "POST":
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base + path, data, headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                problem = json.loads(error.read() or b"{}")
                retry = error.code >= 500 or error.code == 429
                if not retry or attempt == self.retries:
                    raise DeskProblem(problem) from None
                time.sleep(min(int(error.headers.get("Retry-After", "1")), 30))
            except OSError:
                if attempt == self.retries:
                    raise
                time.sleep(2 ** attempt)

    def get(self, path: str, **params):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self.request("GET", path + (f"?{query}" if query else ""))

    def post(self, path: str, body: dict | None = None, key: str | None = None):
        return self.request("POST", path, body, key)

    def pages(self, path: str, items: str, **params):
        """Every item of a list, page after page (cursor pagination)."""
        cursor = None
        while True:
            page = self.get(path, cursor=cursor, **params)
            yield from page[items]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def tickets(self, **filters):
        return self.pages("/tickets", "tickets", **filters)

    def messages(self, ticket_id: int) -> list[dict]:
        return list(self.pages(f"/tickets/{ticket_id}/messages", "messages"))

    def reply(self, ticket_id: int, text: str, last_seen: int, visibility: str = "public",
              key: str | None = None) -> dict:
        """A reply; DeskProblem with status 409 (and the newer `replies`) on a collision."""
        return self.post(f"/tickets/{ticket_id}/replies", {
            "text": text, "visibility": visibility, "last_seen_message_id": last_seen}, key)
