"""Outgoing webhooks: Standard Webhooks signature checked by a loopback receiver, retries with
one webhook-id, no redirects, and the SSRF guard on the admin-configured URL."""
import base64
import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.notify.webhooks import UnsafeURL, WebhookDelivery, check_url, generate_secret
from tests.factories import make_ticket

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
SECRET = "whsec_" + base64.b64encode(b"a-test-signing-key-of-24b").decode()


class Receiver:
    """A loopback HTTP server that records requests and answers with scripted statuses."""

    def __init__(self, statuses=(200,), location=None):
        self.requests, self.statuses, self.location = [], list(statuses), location
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((dict((k.lower(), v) for k, v in self.headers.items()), body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/desk"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    servers = []

    def start(statuses=(200,), location=None):
        server = Receiver(statuses, location)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


@pytest.fixture
def configure(app, monkeypatch):
    def apply(url, allow_private=True, secret=SECRET):
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_URL", url)
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_SECRET", secret)
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_ALLOW_PRIVATE", allow_private)
        monkeypatch.setitem(app.config, "OUTGOING_WEBHOOK_RETRY_INTERVALS", "0,0,0")
    return apply


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> dict:
    """A receiver's check, written from the Standard Webhooks spec, independent of desk code."""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    # The receiver's clock: the desk's own, which the suite's base-time run moves.
    assert abs(clock_now().timestamp() - int(timestamp)) <= tolerance, "timestamp outside tolerance"
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    signatures = [s.split(",", 1) for s in headers["webhook-signature"].split(" ")]
    assert any(v == "v1" and hmac.compare_digest(sig, expected) for v, sig in signatures)
    return json.loads(body)


def _escalate(app, make_user):
    make_user("smm")
    with app.app_context():
        ticket = make_ticket("Mi abogado os escribirá", now=T0)
        return ticket.id


def test_escalation_events_are_signed_per_the_spec(app, make_user, receiver, configure, run_jobs):
    server = receiver()
    configure(server.url)
    ticket_id = _escalate(app, make_user)  # the keyword rule escalates to level 2
    run_jobs()
    [(headers, body)] = server.requests
    event = verify(SECRET, headers, body)
    assert event["type"] == "escalation.raised"
    assert event["data"]["ticket_id"] == ticket_id and event["data"]["reason"] == "legal"
    assert headers["content-type"] == "application/json" and headers["webhook-id"].startswith("msg_")
    tampered = body.replace(b"legal", b"other")
    with pytest.raises(AssertionError):
        verify(SECRET, headers, tampered)
    with app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)


def test_failed_deliveries_are_retried_with_the_same_id(app, make_user, receiver, configure, run_jobs):
    server = receiver(statuses=(500, 503, 200))
    configure(server.url)
    _escalate(app, make_user)
    run_jobs()
    assert len(server.requests) == 3
    assert len({h["webhook-id"] for h, _ in server.requests}) == 1
    for headers, body in server.requests:
        verify(SECRET, headers, body)
    with app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.attempts) == ("delivered", 3)


def test_a_receiver_that_keeps_failing_is_given_up_after_the_retries(app, make_user, receiver, configure, run_jobs):
    server = receiver(statuses=(500,))
    configure(server.url)
    _escalate(app, make_user)
    run_jobs()
    assert len(server.requests) == 4  # the first try and three retries
    with app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.last_error) == ("failed", "HTTP 500")


def test_a_client_error_is_not_retried(app, make_user, receiver, configure, run_jobs):
    server = receiver(statuses=(410,))
    configure(server.url)
    _escalate(app, make_user)
    run_jobs()
    assert len(server.requests) == 1
    with app.app_context():
        assert db.session.scalars(select(WebhookDelivery.status)).all() == ["failed"]


def test_no_url_no_webhook(app, make_user, run_jobs):
    _escalate(app, make_user)
    run_jobs()
    with app.app_context():
        assert db.session.scalars(select(WebhookDelivery)).all() == []


def test_generated_secrets_have_the_whsec_form():
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24


@pytest.mark.security
def test_redirects_are_not_followed(app, make_user, receiver, configure, run_jobs):
    inner = receiver()
    outer = receiver(statuses=(302,), location=inner.url)
    configure(outer.url)
    _escalate(app, make_user)
    run_jobs()
    assert len(outer.requests) == 1 and inner.requests == []
    with app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert delivery.status == "refused" and "redirect" in delivery.last_error


@pytest.mark.security
def test_loopback_target_is_refused_without_the_test_switch(app, make_user, receiver, configure, run_jobs):
    server = receiver()
    configure(server.url.replace("127.0.0.1", "localhost"), allow_private=False)
    _escalate(app, make_user)
    run_jobs()
    assert server.requests == []
    with app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert delivery.status == "refused" and "non-public" in delivery.last_error


@pytest.mark.security
@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/", "http://[::1]/",
    "http://0.0.0.0/", "http://2130706433/", "http://0x7f000001/", "http://017700000001/",
    "http://localhost/", "http://10.0.0.5/hook", "http://192.168.1.1/", "http://172.16.3.4/",
    "http://[::ffff:127.0.0.1]/", "http://[fd00:ec2::254]/", "http://100.64.0.1/",
    "ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
    "http://user:pass@93.184.216.34/", "http:///nohost", "http://224.0.0.1/",
])
def test_ssrf_guard_refuses_private_and_odd_targets(url):
    with pytest.raises(UnsafeURL):
        check_url(url)


@pytest.mark.security
def test_ssrf_guard_refuses_names_that_resolve_to_private_addresses(monkeypatch):
    def fake(host, port, *args, **kwargs):
        address = {"intranet.example": "10.1.2.3", "mixed.example": "93.184.216.34"}[host]
        extra = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.9", port))] if host == "mixed.example" else []
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))] + extra
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    for url in ("https://intranet.example/hook", "https://mixed.example/hook"):
        with pytest.raises(UnsafeURL):
            check_url(url)


@pytest.mark.security
def test_metadata_stays_refused_even_with_the_test_switch():
    for url in ("http://169.254.169.254/", "http://0.0.0.0:8080/"):
        with pytest.raises(UnsafeURL):
            check_url(url, allow_private=True)


def test_public_address_passes_and_is_pinned():
    scheme, host, port, path, address = check_url("https://93.184.216.34:8443/a/b?x=1")
    assert (scheme, host, port, path, address) == ("https", "93.184.216.34", 8443, "/a/b?x=1", "93.184.216.34")
