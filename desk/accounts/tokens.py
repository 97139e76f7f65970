"""API tokens: created with a secret shown once, stored as a hash, revoked at once."""
import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.types import UTCDateTime

if TYPE_CHECKING:  # only for annotations: users imports this module (set_password)
    from desk.accounts.users import User


class ApiToken(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped["User | None"] = relationship()


def _hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(name: str, user: "User | None" = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored."""
    if not name.strip():
        raise DeskError("a token needs a name")
    raw = "desk_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip(), prefix=raw[:12], token_hash=_hash_token(raw), user=user)
    db.session.add(token)
    db.session.commit()
    return token, raw


def revoke_api_token(token_id: int, now: datetime | None = None) -> ApiToken:
    """Revoke a token at once; NotFound if there is no such token."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id}")
    token.revoked_at = token.revoked_at or now or clock_now()
    db.session.commit()
    return token


def token_for_secret(raw: str) -> ApiToken | None:
    """The live token matching a bearer secret (not revoked, its user active), or None."""
    if not raw or not raw.startswith("desk_"):
        return None
    token = db.session.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                             .where(ApiToken.token_hash == _hash_token(raw)))  # one query per call
    if token is None or token.revoked_at is not None:
        return None
    if token.user is not None and not token.user.active:
        return None  # a deactivated user's tokens stop with their sign-in
    return token
