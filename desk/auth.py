"""Users, roles, passwords, API tokens, and the permission decorators views use."""
import hashlib
import secrets
from datetime import datetime
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, g, jsonify, request
from flask_login import UserMixin, current_user
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.clock import now as clock_now
from desk.extensions import db, login_manager
from desk.types import UTCDateTime

# Roles are ordered: each one can do what the ones before it can.
ROLES = ("cm", "lead", "smm", "admin")
_hasher = PasswordHasher()
# Verifying against this keeps sign-in time the same for unknown e-mails (no user oracle).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class DeskError(Exception):
    """A domain rule was broken; views map it to a 4xx with this message."""

    status = 400


class NotFound(DeskError):
    status = 404


class Conflict(DeskError):
    status = 409


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    locale: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on password change or deactivation: sessions carrying an older value are void.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def has_role(self, role: str) -> bool:
        """True when this user's role is `role` or ranks above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


class ApiToken(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship()


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def create_user(email: str, name: str, password: str, role: str, locale: str | None = None) -> User:
    """Create and commit a user; DeskError on an unknown role, a bad e-mail or a taken e-mail."""
    email = normalize_email(email)
    if role not in ROLES:
        raise DeskError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if "@" not in email or len(email) > 254:
        raise DeskError(f"not an e-mail address: {email!r}")
    if len(password) < 8:
        raise DeskError("the password needs at least 8 characters")
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, name=name.strip() or email.split("@")[0], role=role,
                password_hash=_hasher.hash(password), locale=locale)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (same cost either way)."""
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    """Change the password and void every other session and API token of the user."""
    if len(password) < 8:
        raise DeskError("the password needs at least 8 characters")
    user.password_hash = _hasher.hash(password)
    user.session_version += 1
    for token in db.session.scalars(select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = clock_now()
    db.session.commit()


def _hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(name: str, user: User | None = None) -> tuple[ApiToken, str]:
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
    """The live token matching a bearer secret, or None."""
    if not raw or not raw.startswith("desk_"):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(raw)))
    if token is None or token.revoked_at is not None:
        return None
    return token


@login_manager.user_loader
def load_user(session_id: str):
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or str(user.session_version) != version:
        return None
    return user


def role_required(role: str):
    """View decorator: signed in (else to sign-in) and at least `role` (else 403)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def api_error(status: int, message: str, **extra):
    """A JSON error response in the API's one shape."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def token_required(view):
    """API view decorator: a live bearer token in `Authorization`, else 401 JSON."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        token = token_for_secret(raw.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            response = api_error(401, "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="desk"'
            return response
        token.last_used_at = clock_now()
        g.api_token = token
        return view(*args, **kwargs)
    return wrapped
