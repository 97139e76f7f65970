"""Outgoing webhooks for chat bridges, signed per the Standard Webhooks scheme.

Each event is a WebhookDelivery row written in the caller's transaction (the outbox) and
sent by an RQ job with retries. Headers: webhook-id (the same on every retry, the receiver's
idempotency key), webhook-timestamp (epoch seconds of the attempt) and webhook-signature
"v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed by the base64 part of a `whsec_` secret.
The admin-configured URL passes an SSRF guard (security-reliability.md 30-33): every address
it resolves to must be public; the connection is pinned to the checked address (no DNS
rebinding) and redirects are never followed.
"""
import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import uuid
from datetime import datetime
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from flask import current_app
from rq import Retry
from sqlalchemy import JSON, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit
from desk.core.crypto import decrypt, encrypt
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.core.txcache import per_transaction
from desk.core.types import UTCDateTime

TIMEOUT = 10
MAX_RESPONSE = 64 * 1024
# Cloud metadata endpoints stay refused even when tests allow private addresses.
ALWAYS_REFUSED = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                  ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}


class UnsafeURL(Exception):
    """The target URL is not allowed (scheme, credentials, private address, redirect)."""


class WebhookFailed(Exception):
    """A transient failure (connection, timeout, 5xx): RQ retries the job."""


class WebhookEndpoint(db.Model):
    """An endpoint an admin subscribed to events (besides DESK_OUTGOING_WEBHOOK_URL): its own
    secret (encrypted at rest), its event filter, and whether it may be a private address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(Text)  # Fernet-encrypted whsec_ secret
    events: Mapped[str] = mapped_column(String(500), default="*")  # comma-separated patterns
    allow_private: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def takes(self, event_type: str) -> bool:
        return self.active and _matches(self.events, event_type)


class WebhookDelivery(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # None: the endpoint configured by DESK_OUTGOING_WEBHOOK_URL
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoint.id"))
    msg_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # delivered, failed, refused
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_status: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def generate_secret() -> str:
    """A new signing secret in the Standard Webhooks format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The webhook-signature header value for one attempt."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _retry_intervals() -> list[int]:
    return [int(s) for s in str(current_app.config["OUTGOING_WEBHOOK_RETRY_INTERVALS"]).split(",")]


def _matches(patterns: str, event_type: str) -> bool:
    """Comma-separated patterns ("ticket.*, reply.failed", "*") against an event type."""
    return any(p.strip() and fnmatchcase(event_type, p.strip()) for p in str(patterns).split(","))


def _endpoints() -> list[WebhookEndpoint]:
    """The active subscribed endpoints, read once per transaction (events fire on hot paths)."""
    return per_transaction("webhook_endpoints", (WebhookEndpoint,), lambda: list(db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))))


def _targets(event_type: str) -> list[int | None]:
    """Who takes this event: None for DESK_OUTGOING_WEBHOOK_URL (filtered by
    DESK_OUTGOING_WEBHOOK_EVENTS), and the ids of the subscribed endpoints whose filter matches."""
    config = current_app.config
    targets: list[int | None] = []
    if config.get("OUTGOING_WEBHOOK_URL") and _matches(config.get("OUTGOING_WEBHOOK_EVENTS", ""),
                                                       event_type):
        targets.append(None)
    return targets + [e.id for e in _endpoints() if e.takes(event_type)]


def wanted(event_type: str) -> bool:
    """Whether any endpoint takes this event type."""
    return bool(_targets(event_type))


def queue_event(event_type: str, data: dict, now: datetime) -> WebhookDelivery | None:
    """Write the event to the outbox once per endpoint that takes it, each sent after commit;
    returns the first delivery, None when no endpoint wants this type."""
    deliveries = []
    for endpoint_id in _targets(event_type):
        delivery = WebhookDelivery(msg_id="msg_" + uuid.uuid4().hex, event_type=event_type,
                                   endpoint_id=endpoint_id, created_at=now,
                                   payload={"type": event_type, "timestamp": now.isoformat(),
                                            "data": data})
        db.session.add(delivery)
        deliveries.append(delivery)
    if not deliveries:
        return None
    db.session.flush()
    for delivery in deliveries:
        _enqueue(delivery)
    return deliveries[0]


def add_endpoint(url: str, events: str, now: datetime, allow_private: bool = False,
                 description: str = "", by: audit.Actor | None = None
                 ) -> tuple[WebhookEndpoint, str]:
    """Subscribe an endpoint; returns it with its secret (shown once). The URL must pass the
    SSRF guard now (a private or loopback address only if `allow_private`). Audited; commits."""
    events = ", ".join(p.strip() for p in (events or "").split(",") if p.strip())
    if not events:
        raise DeskError("name at least one event type or pattern (\"*\" for all)")
    try:
        check_url(url, allow_private)
    except UnsafeURL as exc:
        raise DeskError(f"this URL is refused: {exc}") from exc
    secret = generate_secret()
    endpoint = WebhookEndpoint(url=url.strip(), secret=encrypt(secret), events=events[:500],
                               allow_private=allow_private, description=description[:120],
                               created_at=now)
    db.session.add(endpoint)
    db.session.flush()
    audit.record("webhook_endpoint.created", at=now, by=by, object_type="webhook_endpoint",
                 object_id=endpoint.id, data={"url": endpoint.url, "events": events,
                                              "allow_private": allow_private})
    db.session.commit()
    return endpoint, secret


def remove_endpoint(endpoint_id: int, now: datetime, by: audit.Actor | None = None) -> None:
    """Unsubscribe (kept, inactive, so its delivery log stays readable); audited; commits."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.active:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    endpoint.active = False
    audit.record("webhook_endpoint.removed", at=now, by=by, object_type="webhook_endpoint",
                 object_id=endpoint.id, data={"url": endpoint.url})
    db.session.commit()


def _enqueue(delivery: WebhookDelivery) -> None:
    intervals = _retry_intervals()
    enqueue_after_commit("notify", "workers.escalations.deliver_webhook", delivery.id,
                         retry=Retry(max=len(intervals), interval=intervals))


def replay(delivery_id: int, now: datetime, by: audit.Actor | None = None) -> WebhookDelivery:
    """Send a finished delivery again, with its webhook-id (receivers drop what they already
    have) and a fresh round of retries; audited. Conflict while it is still pending. Commits."""
    delivery = db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id).with_for_update())
    if delivery is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    if delivery.status == "pending":
        raise Conflict("this delivery is still being sent")
    previous = delivery.status
    delivery.status, delivery.attempts, delivery.last_error = "pending", 0, None
    delivery.response_status = delivery.delivered_at = None
    audit.record("webhook.replayed", at=now, by=by, object_type="webhook_delivery",
                 object_id=delivery.id, data={"event_type": delivery.event_type,
                                              "previous": previous})
    _enqueue(delivery)
    db.session.commit()
    return delivery


def deliver(delivery_id: int, now: datetime) -> str:
    """POST one delivery; returns its status. Raises WebhookFailed while retries remain."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return delivery.status if delivery else "missing"
    delivery.attempts += 1
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    try:
        url, secret, allow_private = _destination(delivery)
        target = check_url(url, allow_private)
        timestamp = int(now.timestamp())
        headers = {"content-type": "application/json", "user-agent": "desk-webhooks/1",
                   "webhook-id": delivery.msg_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(secret, delivery.msg_id, timestamp, body)}
        status = post(target, body.encode(), headers)
    except UnsafeURL as exc:
        return _finish(delivery, "refused", str(exc), now)
    except (OSError, http.client.HTTPException) as exc:
        return _fail(delivery, f"{type(exc).__name__}: {exc}", now)
    delivery.response_status = status
    if 200 <= status < 300:
        delivery.last_error = None
        return _finish(delivery, "delivered", None, now)
    if 300 <= status < 400:
        return _finish(delivery, "refused", f"HTTP {status}: redirects are not followed", now)
    if status >= 500 or status in (408, 429):
        return _fail(delivery, f"HTTP {status}", now)
    return _finish(delivery, "failed", f"HTTP {status}", now)


def _destination(delivery: WebhookDelivery) -> tuple[str, str, bool]:
    """(URL, secret, private addresses allowed) of the delivery's endpoint; UnsafeURL if none."""
    if delivery.endpoint_id is None:
        config = current_app.config
        url, secret = config.get("OUTGOING_WEBHOOK_URL"), config.get("OUTGOING_WEBHOOK_SECRET")
        if not url or not secret:
            raise UnsafeURL("DESK_OUTGOING_WEBHOOK_URL and _SECRET must both be set")
        return url, secret, bool(config.get("OUTGOING_WEBHOOK_ALLOW_PRIVATE"))
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        raise UnsafeURL("the endpoint was unsubscribed")
    return endpoint.url, decrypt(endpoint.secret), endpoint.allow_private


def _fail(delivery: WebhookDelivery, error: str, now: datetime) -> str:
    if delivery.attempts <= len(_retry_intervals()):
        delivery.last_error = error
        db.session.commit()
        raise WebhookFailed(error)
    return _finish(delivery, "failed", error, now)


def _finish(delivery: WebhookDelivery, status: str, error: str | None, now: datetime) -> str:
    delivery.status, delivery.last_error = status, error
    if status == "delivered":
        delivery.delivered_at = now
    db.session.commit()
    return status


def _allowed(ip, allow_private: bool) -> bool:
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in ALWAYS_REFUSED or ip.is_multicast or ip.is_unspecified:
        return False
    return allow_private or ip.is_global


def check_url(url: str, allow_private: bool = False) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path, pinned address) for a URL that passes the SSRF guard."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("only http(s) URLs with a host name are allowed")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in the URL are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError, UnicodeError) as exc:
        raise UnsafeURL(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _allowed(address, allow_private):
            raise UnsafeURL(f"{parts.hostname} resolves to a non-public address ({address})")
        addresses.append(str(address))
    if not addresses:
        raise UnsafeURL(f"{parts.hostname} has no address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address the guard checked; the Host header keeps the name."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: tuple, body: bytes, headers: dict) -> int:
    """POST to a checked target; returns the HTTP status (never follows a redirect)."""
    scheme, host, port, path, address = target
    kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = kind(host, port, address, TIMEOUT)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE)
        return response.status
    finally:
        connection.close()
