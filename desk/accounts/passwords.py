"""Choosing a password: the rules, changing one's own, resets by e-mail and invitations.

The rules follow current guidance (NIST SP 800-63B): a minimum length and no easily guessed
or breached password (zxcvbn's frequency lists of leaked passwords, words and names, plus the
person's own name and e-mail), no composition rules. A reset or invitation link carries a
single-use random token whose hash alone is stored.
"""
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship
from zxcvbn import zxcvbn

from desk.accounts import audit
from desk.accounts.audit import AuditEvent
from desk.accounts.users import ROLES, User, authenticate, normalize_email, set_password
from desk.core.errors import Conflict, DeskError
from desk.core.extensions import db
from desk.core.types import UTCDateTime

MIN_LENGTH = 10
MAX_LENGTH = 200
# zxcvbn scores 0-4; 3 is "safely unguessable: moderate protection from offline attacks".
MIN_SCORE = 3
LINK_LIFETIME = {"reset": timedelta(hours=1), "invite": timedelta(days=7)}
# Someone asking for reset links again and again gets one mail per this period.
RESET_MAIL_EVERY = timedelta(minutes=2)


class WeakPassword(DeskError):
    """The chosen password breaks the rules; the message says which, in the user's language."""


class WrongPassword(DeskError):
    """The current password given to confirm a change is not the user's."""


class InvalidLink(DeskError):
    """A reset or invitation link that is unknown, used, superseded or expired."""


class PasswordLink(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))  # "reset" or "invite"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


def check_password(password: str, user: User | None = None, *, email: str = "",
                   name: str = "") -> None:
    """Raise WeakPassword unless the password is long enough and hard to guess."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(_l("Use at least %(count)d characters.", count=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(_l("Use at most %(count)d characters.", count=MAX_LENGTH))
    personal = {part for value in (email or (user.email if user else ""),
                                   name or (user.name if user else ""))
                for part in re.split(r"[\W_]+", value.lower()) if len(part) > 2} | {"desk"}
    # What is left once the person's own words are taken out must stand on its own:
    # zxcvbn alone scores "Maria.Lopez.2024" as strong for Maria López.
    rest = re.sub("|".join(map(re.escape, sorted(personal, key=len, reverse=True))), "",
                  password.lower())
    if min(zxcvbn(password, user_inputs=list(personal))["score"],
           zxcvbn(rest)["score"] if rest != password.lower() else 4) < MIN_SCORE:
        raise WeakPassword(_l("This password is too easy to guess: it is common, was leaked, "
                              "or contains your name. A few unrelated words work well."))


def change_password(user: User, current: str, new: str, now: datetime,
                    by: audit.Actor | None = None) -> None:
    """The user's own change: the current password confirms it; the other sessions end, this
    one stays. Commits."""
    if authenticate(user.email, current) is None:
        raise WrongPassword(_l("The current password is not right."))
    check_password(new, user)
    audit.record("user.password_changed", user_id=user.id, at=now, by=by, object_type="user",
                 object_id=user.id, data={"user_id": user.id})
    set_password(user, new, now, keep_session_key=user.session_key)


def issue_link(user: User, purpose: str, now: datetime) -> str:
    """A new single-use link token for the user (earlier ones of the purpose void); the raw
    token, never stored. The caller commits."""
    db.session.execute(update(PasswordLink).where(
        PasswordLink.user_id == user.id, PasswordLink.purpose == purpose,
        PasswordLink.used_at.is_(None)).values(used_at=now))
    raw = secrets.token_urlsafe(32)
    db.session.add(PasswordLink(user_id=user.id, purpose=purpose, token_hash=_hash(raw),
                                created_at=now, expires_at=now + LINK_LIFETIME[purpose]))
    return raw


def request_reset(email: str, ip: str | None, now: datetime) -> User | None:
    """Record a reset request; the active user a link should be mailed to, or None
    (unknown, inactive, never chose a password, or asked moments ago). Commits."""
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or not user.active or not user.has_password:
        return None
    recent = db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == user.id,
        AuditEvent.action == "user.reset_requested",
        AuditEvent.created_at > now - RESET_MAIL_EVERY).limit(1))
    # Nobody is signed in: whoever asked is anonymous, the account is the object.
    audit.record("user.reset_requested", actor="anonymous", at=now,
                 by=audit.Actor(ip=ip, source="web"), object_type="user", object_id=user.id,
                 data={"user_id": user.id, "mailed": not recent})
    db.session.commit()
    return None if recent else user


def link_user(raw: str, purpose: str, now: datetime) -> User:
    """The user a live link token belongs to; InvalidLink otherwise."""
    return _live_link(raw, purpose, now).user


def use_link(raw: str, purpose: str, password: str, now: datetime,
             by: audit.Actor | None = None) -> User:
    """Set the password through a live link, which is then spent: every session of the user
    ends and their API tokens are revoked. Commits; InvalidLink or WeakPassword otherwise."""
    link = _live_link(raw, purpose, now)
    user = link.user
    check_password(password, user)
    link.used_at = now
    audit.record("user.password_reset" if purpose == "reset" else "user.invitation_accepted",
                 user_id=user.id, at=now, by=by, object_type="user", object_id=user.id,
                 data={"user_id": user.id})
    set_password(user, password, now)
    return user


def invite_user(email: str, name: str, role: str, locale: str | None, timezone: str,
                actor_id: int, now: datetime, by: audit.Actor | None = None) -> User:
    """Create an account that has no password until its owner follows the invitation link
    (mailed by the caller after commit). Audited; commits; Conflict on a taken e-mail."""
    email = normalize_email(email)
    if role not in ROLES:
        raise DeskError(f"unknown role {role!r}")
    if "@" not in email or len(email) > 254:
        raise DeskError(f"not an e-mail address: {email!r}")
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with e-mail {email} already exists")
    # "!" is no argon2 hash: nobody can sign in with a password until one is chosen.
    user = User(email=email, name=name.strip() or email.split("@")[0], role=role,
                locale=locale, timezone=timezone, password_hash="!", created_at=now)
    db.session.add(user)
    db.session.flush()
    audit.record("user.invited", user_id=actor_id, at=now, by=by, object_type="user",
                 object_id=user.id, data={"user_id": user.id, "email": email, "role": role})
    db.session.commit()
    return user


def _live_link(raw: str, purpose: str, now: datetime) -> PasswordLink:
    link = db.session.scalar(select(PasswordLink).where(PasswordLink.token_hash == _hash(raw or "")))
    if (link is None or link.purpose != purpose or link.used_at is not None
            or link.expires_at <= now or not link.user.active):
        raise InvalidLink(_l("This link is no longer valid. Ask for a new one."))
    return link


def _hash(raw: str) -> str:
    # 256 random bits: a fast hash suffices, nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()

