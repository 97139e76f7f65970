"""Helpers for inbound tests: fixture payloads, signed posts, and lookups."""
import base64
import hashlib
import hmac
import json
import pathlib

from sqlalchemy import func, select

from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from desk.intake.events import InboundEvent

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "webhooks"
META_SECRET = "meta-app-secret"  # tests/conftest.py app_config
X_SECRET = "x-consumer-secret"


def fixture_bytes(name: str) -> bytes:
    """A fixture file's exact bytes (what the platform would put on the wire)."""
    return (FIXTURES / name).read_bytes()


def fixture(name: str):
    return json.loads(fixture_bytes(name))


def wire(data) -> bytes:
    """JSON as Meta sends it: non-ASCII escaped as \\uXXXX."""
    return json.dumps(data).encode()


def meta_signature(body: bytes, secret: str = META_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def x_signature(body: bytes, secret: str = X_SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _post_signed(client, path: str, header: str, body: bytes, signature: str | None, sign, headers):
    """POST a webhook body; signature "auto" signs it correctly, None leaves the header out."""
    if signature == "auto":
        signature = sign(body)
    if signature is not None:
        headers[header] = signature
    return client.post(path, data=body, headers=headers, content_type="application/json",
                       csrf=False)


def post_meta(client, body: bytes, signature: str | None = "auto", **headers):
    return _post_signed(client, "/webhooks/meta", "X-Hub-Signature-256", body, signature,
                        meta_signature, headers)


def post_x(client, body: bytes, signature: str | None = "auto", **headers):
    return _post_signed(client, "/webhooks/x", "X-Twitter-Webhooks-Signature", body, signature,
                        x_signature, headers)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts() -> tuple[int, int, int]:
    """(inbound events, tickets, messages)."""
    db.session.expire_all()
    return count(InboundEvent), count(Ticket), count(Message)


def message_by(platform_id: str) -> Message | None:
    db.session.expire_all()
    return db.session.scalar(select(Message).where(Message.platform_message_id == platform_id))


def statuses() -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(select(InboundEvent.status, func.count()).group_by(InboundEvent.status))
    return dict(rows.all())
