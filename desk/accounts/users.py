"""Users, roles and passwords; the session loader that voids sessions of an older version."""
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts.tokens import ApiToken
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict, DeskError
from desk.core.extensions import db, login_manager
from desk.core.types import UTCDateTime

# Roles are ordered: each one can do what the ones before it can.
ROLES = ("cm", "lead", "smm", "admin")
_hasher = PasswordHasher()
# Verifying against this keeps sign-in time the same for unknown e-mails (no user oracle).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


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


@login_manager.user_loader
def load_user(session_id: str):
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or str(user.session_version) != version:
        return None
    return user
