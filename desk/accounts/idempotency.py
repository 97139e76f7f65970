"""Idempotency keys of the API's POSTs: stored per token and key with the request's fingerprint
and, once answered, the response; a retry returns the stored response and never acts twice.

begin() claims the key (a unique row, so of two concurrent retries one goes ahead and the other
hears "in progress"); finish() keeps the answer; abandon() frees the key after a server error,
so the client may try again. Keys expire after EXPIRES; an expired key starts afresh.
"""
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from desk.core.extensions import db
from desk.core.types import UTCDateTime

EXPIRES = timedelta(hours=24)
MAX_KEY_LENGTH = 200


class IdempotentRequest(db.Model):
    __table_args__ = (UniqueConstraint("token_id", "key"),
                      Index("ix_idempotent_request_created", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column()  # None while the first request runs
    body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict | None] = mapped_column(JSON)


@dataclass
class Claim:
    """What begin() found: `new` (go ahead), `replay` (the stored answer), `busy` (the same key
    is being answered now) or `mismatch` (the key was used for another request)."""

    outcome: str
    row: IdempotentRequest | None = None


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def begin(token_id: int, key: str, print_: str, now: datetime) -> Claim:
    """Claim `key` for this token's request (commits), or say why not."""
    db.session.execute(delete(IdempotentRequest).where(
        IdempotentRequest.created_at <= now - EXPIRES))  # expired keys, everybody's
    row = IdempotentRequest(token_id=token_id, key=key, fingerprint=print_, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        db.session.commit()
        row = db.session.scalar(select(IdempotentRequest).where(
            IdempotentRequest.token_id == token_id, IdempotentRequest.key == key))
        if row is None:  # finished with a server error and freed meanwhile: try once more
            return begin(token_id, key, print_, now)
        if row.fingerprint != print_:
            return Claim("mismatch", row)
        return Claim("busy" if row.status is None else "replay", row)
    db.session.commit()
    return Claim("new", row)


def finish(row_id: int, status: int, body: str, headers: dict) -> None:
    """Keep the answer given to the claimed request (commits)."""
    row = db.session.get(IdempotentRequest, row_id)
    if row is not None:
        row.status, row.body, row.headers = status, body, headers
        db.session.commit()


def abandon(row_id: int) -> None:
    """Free the key of a request that failed on our side (commits)."""
    db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == row_id))
    db.session.commit()
