"""Users, roles, passwords and sign-in; the loader that admits only live server-side sessions."""
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import JSON, BigInteger, String, select
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit, sessions
from desk.accounts.tokens import ApiToken
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict, DeskError
from desk.core.extensions import db, login_manager
from desk.core.types import UTCDateTime

# Roles are ordered: each one can do what the ones before it can.
ROLES = ("cm", "lead", "smm", "admin")
ROLE_LABELS = {"cm": _l("Community manager"), "lead": _l("Team lead"),
               "smm": _l("Social media manager"), "admin": _l("Administrator")}


@lru_cache(maxsize=4)
def _argon2(time_cost: int, memory_kib: int) -> tuple[PasswordHasher, str]:
    """A hasher with these costs, and a hash of nothing to verify against for unknown e-mails
    (so sign-in takes the same time whether or not the address has an account)."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    return hasher, hasher.hash(secrets.token_hex(16))


def _hashing() -> tuple[PasswordHasher, str]:
    """The hasher of the configured costs (argon2id; a hash made with other costs is redone
    at its owner's next sign-in) and its dummy hash."""
    config = current_app.config
    return _argon2(int(config["PASSWORD_HASH_TIME_COST"]), int(config["PASSWORD_HASH_MEMORY_KIB"]))


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    locale: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(default=True)
    # topic -> {"app": bool, "mail": bool}: what reaches this person (desk/notify/preferences.py)
    notification_prefs: Mapped[dict | None] = mapped_column(JSON)
    # Two-factor sign-in (desk/accounts/twofactor.py): seeds encrypted, the last step used.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_pending: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # "<issuer>|<subject>" of the single sign-on identity linked to this account.
    sso_subject: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    # The key of the server-side session this request runs in, and how it was opened
    # ("password" or "sso"): set on the loaded object, never stored here (the database keeps
    # the key's hash only, desk/accounts/sessions.py).
    session_key = None
    session_method = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def has_password(self) -> bool:
        """False for an invited person who has not chosen a password yet."""
        return self.password_hash.startswith("$argon2")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_key}"

    def has_role(self, role: str) -> bool:
        """True when this user's role is `role` or ranks above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def desk_timezone() -> str:
    """The desk's time zone (DESK_TIMEZONE): where new people start."""
    return current_app.config["TIMEZONE"]


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
                password_hash=_hashing()[0].hash(password), locale=locale,
                timezone=desk_timezone())
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (same cost either way)."""
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    hasher, dummy = _hashing()
    try:
        hasher.verify(user.password_hash if user else dummy, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        db.session.commit()
    return user


def sign_in(user: User, *, remember: bool, ip: str | None, user_agent: str | None,
            now: datetime, method: str = "password") -> None:
    """Open a server-side session for the user, recorded in the audit log. Commits."""
    user.session_key = sessions.open_session(user.id, remember=remember, ip=ip,
                                             user_agent=user_agent, now=now, method=method)
    user.session_method = method
    audit.record("user.signed_in", user_id=user.id, at=now, object_type="user",
                 object_id=user.id, by=audit.Actor(user_id=user.id, ip=ip, source="web"),
                 data={"method": method})
    db.session.commit()


def sign_out(user: User, now: datetime) -> None:
    """End the session this user signed in with (a replayed cookie is void). Commits."""
    if user.session_key:
        sessions.end_session(user.session_key, now)
        db.session.commit()


def set_password(user: User, password: str, now: datetime | None = None,
                 keep_session_key: str | None = None) -> None:
    """Change the password; end every session of the user but `keep_session_key` and revoke
    their API tokens. Commits."""
    if len(password) < 8:
        raise DeskError("the password needs at least 8 characters")
    now = now or clock_now()
    user.password_hash = _hashing()[0].hash(password)
    sessions.end_sessions(user.id, now, keep_key=keep_session_key)
    for token in db.session.scalars(select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
    db.session.commit()


def session_limits() -> dict:
    """How long a session may sit unused, from the settings (minutes and days)."""
    config = current_app.config
    return {"idle": timedelta(minutes=int(config["SESSION_IDLE_MINUTES"])),
            "remember_idle": timedelta(days=int(config["REMEMBER_DAYS"]))}


@login_manager.user_loader
def load_user(session_id: str):
    """The active user of a live session named by `<user id>:<session key>`, else None."""
    user_id, _, key = session_id.partition(":")
    if not user_id.isdigit() or not key:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active:
        return None
    session = sessions.live_session(user.id, key, now=clock_now(), **session_limits())
    if session is None:
        return None
    user.session_key, user.session_method = key, session.method
    return user
