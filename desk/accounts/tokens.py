"""API tokens: created with a secret shown once, stored as a hash, revoked at once; scoped
(each scope capped by the role its user needs for the same thing in the interface), with an
optional expiry and a last-used time. Every creation and revocation is audited."""
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, or_, select, update
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from desk.accounts import audit
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.types import UTCDateTime

if TYPE_CHECKING:  # only for annotations: users imports this module (set_password)
    from desk.accounts.users import User

# scope -> the least role that may do the same in the interface. A token made for a user holds
# only scopes that user's role allows, and is checked against the user's role again on each
# call (a role lowered later caps the token too). A token for no user is an integration's.
SCOPES = {
    "read": "cm",              # GET /tickets, GET /tickets/{id}: what any agent sees in the inbox
    "write:messages": "smm",   # POST /messages: bring another network's messages in
    "write:activity": "smm",   # POST /activity: purchases and visits that feed retention
    "reports": "smm",          # GET /reports/service: the service report, SMM-only on the page
    # Replies, notes, claim/assign, resolve/reopen, tags, priority, escalations: what any agent
    # does on the ticket page; the services' own rules (assigning others, acknowledging) apply.
    "write:tickets": "cm",
    # PATCH /customers/{id} and merges: what any agent does on the customer page.
    "write:customers": "cm",
    # The outgoing webhook's delivery log, and replaying a delivery: admins only.
    "admin:webhooks": "admin",
}
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
MAX_SCOPES_LENGTH = 200


class ApiToken(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # Space-separated, like OAuth scopes ("read reports").
    scopes: Mapped[str] = mapped_column(String(MAX_SCOPES_LENGTH), default="read")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped["User | None"] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return [s for s in (self.scopes or "").split() if s in SCOPES]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_list

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def scopes_for(user: "User | None") -> list[str]:
    """The scopes a token of this user may hold (every scope for no user)."""
    return [s for s, needed in SCOPES.items() if user is None or user.has_role(needed)]


def create_api_token(name: str, user: "User | None" = None, scopes=None,
                     expires_at: datetime | None = None, now: datetime | None = None,
                     by: audit.Actor | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored.
    `scopes` defaults to every scope the user's role allows; a scope the role does not allow,
    an unknown scope or an expiry in the past is a DeskError. Audited. Commits."""
    now = now or clock_now()
    if not (name or "").strip():
        raise DeskError("a token needs a name")
    allowed = scopes_for(user)
    wanted = list(dict.fromkeys(scopes)) if scopes is not None else allowed
    if not wanted:
        raise DeskError("a token needs at least one scope")
    for scope in wanted:
        if scope not in SCOPES:
            raise DeskError(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
        if scope not in allowed:
            raise DeskError(f"the scope {scope} needs the role {SCOPES[scope]} or above")
    if expires_at is not None and expires_at <= now:
        raise DeskError("the expiry must be in the future")
    raw = "desk_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip()[:120], prefix=raw[:12], token_hash=_hash_token(raw),
                     user=user, scopes=" ".join(s for s in SCOPES if s in wanted),
                     created_at=now, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.created", at=now, by=by, object_type="api_token", object_id=token.id,
                 data={"name": token.name, "user_id": user.id if user else None,
                       "scopes": token.scope_list,
                       "expires_at": expires_at.isoformat() if expires_at else None})
    db.session.commit()
    return token, raw


def revoke_api_token(token_id: int, now: datetime | None = None, by: audit.Actor | None = None,
                     requester: "User | None" = None) -> ApiToken:
    """Revoke a token at once; audited. With a `requester`, only their own tokens unless they
    are an admin. NotFound if there is no such token (or it is someone else's)."""
    now = now or clock_now()
    token = db.session.get(ApiToken, token_id)
    if token is None or (requester is not None and not requester.has_role("admin")
                         and token.user_id != requester.id):
        raise NotFound(f"no API token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record("api_token.revoked", at=now, by=by, object_type="api_token",
                     object_id=token.id, data={"name": token.name, "user_id": token.user_id})
    db.session.commit()
    return token


def tokens_of(user: "User | None" = None) -> list[ApiToken]:
    """A user's tokens (every token for None), newest first."""
    query = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(query))


def token_for_secret(raw: str, now: datetime | None = None) -> ApiToken | None:
    """The live token matching a bearer secret (not revoked, not expired, its user active),
    or None."""
    if not raw or not raw.startswith("desk_"):
        return None
    token = db.session.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                             .where(ApiToken.token_hash == _hash_token(raw)))  # one query per call
    if token is None or token.revoked_at is not None or token.expired(now or clock_now()):
        return None
    if token.user is not None and not token.user.active:
        return None  # a deactivated user's tokens stop with their sign-in
    return token


def mark_used(token: ApiToken, now: datetime) -> None:
    """Record that a token was used, at most once a minute (one conditional UPDATE; a busy
    integration does not write on every call). Commits when it writes."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    result = db.session.execute(update(ApiToken).where(
        ApiToken.id == token.id,
        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_EVERY))
        .values(last_used_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount:
        set_committed_value(token, "last_used_at", now)
