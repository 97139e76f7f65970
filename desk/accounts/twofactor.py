"""Two-factor sign-in: TOTP codes from an authenticator app (pyotp, RFC 6238), one-time
recovery codes, and the roles an admin requires it for.

The TOTP seed is stored encrypted (desk/core/crypto.py); recovery codes only as hashes. A code
is accepted once: the time step it belongs to is remembered, so a code seen over a shoulder or
in a proxy log cannot be replayed within its 30 seconds.
"""
import hashlib
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import ForeignKey, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit
from desk.accounts.users import ROLES, User, authenticate
from desk.core.crypto import decrypt, encrypt
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import UTCDateTime

ISSUER = "desk"
RECOVERY_CODES = 10
STEP = 30  # seconds per TOTP code


class WrongCode(DeskError):
    """The code (or recovery code) given does not prove the second factor."""


class RecoveryCode(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInPolicy(db.Model):
    """The one row of sign-in rules admins set (absent: nobody is required to use 2FA)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    two_factor_roles: Mapped[str] = mapped_column(String(60), default="")  # "smm,admin"
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None


def required_roles() -> list[str]:
    policy = db.session.get(SignInPolicy, 1)
    return [role for role in (policy.two_factor_roles.split(",") if policy else []) if role in ROLES]


def must_enrol(user: User) -> bool:
    """True when the user's role requires 2FA and they have not set it up yet, unless they
    signed in through single sign-on (the identity provider's own second factor applies)."""
    return (not enabled(user) and user.session_method != "sso"
            and user.role in required_roles())


def set_required_roles(roles: list[str], actor_id: int, now: datetime,
                       by: audit.Actor | None = None) -> None:
    """Require 2FA for these roles (the others may still choose it); audited. Commits."""
    wanted = ",".join(role for role in ROLES if role in roles)
    policy = db.session.get(SignInPolicy, 1) or SignInPolicy(id=1, two_factor_roles="")
    if policy.two_factor_roles != wanted:
        audit.record("signin.two_factor_roles", user_id=actor_id, at=now, by=by,
                     object_type="sign_in_policy", object_id=1,
                     data={"from": policy.two_factor_roles, "to": wanted})
        policy.two_factor_roles, policy.updated_by_id, policy.updated_at = wanted, actor_id, now
        db.session.add(policy)
    db.session.commit()


def start_enrolment(user: User) -> None:
    """A new seed kept (encrypted) on the user until a code confirms it. Commits."""
    user.totp_pending = encrypt(pyotp.random_base32())
    db.session.commit()


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def pending_secret(user: User) -> str | None:
    return decrypt(user.totp_pending) if user.totp_pending else None


def confirm_enrolment(user: User, code: str, now: datetime) -> list[str]:
    """Turn 2FA on with the pending seed if `code` fits it; the new recovery codes (shown
    once, stored hashed). Audited; commits. WrongCode otherwise."""
    secret = pending_secret(user)
    step = _matching_step(secret, code, now) if secret else None
    if step is None:
        raise WrongCode("the code does not match; check the phone's time and try again")
    user.totp_secret, user.totp_pending = user.totp_pending, None
    user.totp_enabled_at, user.totp_last_step = now, step
    codes = _new_recovery_codes(user)
    _audit("user.two_factor_enabled", user, now)
    db.session.commit()
    return codes


def disable(user: User, password: str, now: datetime) -> None:
    """Turn 2FA off, the password confirming it; WrongCode if it is wrong. Audited; commits."""
    if authenticate(user.email, password) is None:
        raise WrongCode("the password is not right")
    user.totp_secret = user.totp_pending = user.totp_enabled_at = user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    _audit("user.two_factor_disabled", user, now)
    db.session.commit()


def regenerate_recovery_codes(user: User, now: datetime) -> list[str]:
    """New recovery codes; the old ones stop working. Audited; commits."""
    codes = _new_recovery_codes(user)
    _audit("user.recovery_codes_renewed", user, now)
    db.session.commit()
    return codes


def verify(user: User, code: str, now: datetime) -> str:
    """Prove the second factor with a current TOTP code or an unused recovery code (spent
    now); which one it was ("totp" or "recovery"). Commits; WrongCode otherwise."""
    code = (code or "").strip().replace(" ", "").lower()
    if code.isascii() and code.isdigit() and len(code) == 6 and user.totp_secret:
        step = _matching_step(decrypt(user.totp_secret), code, now)
        if step is not None and step > (user.totp_last_step or -1):
            user.totp_last_step = step
            db.session.commit()
            return "totp"
    elif code:
        row = db.session.scalar(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None)))
        if row is not None:
            row.used_at = now
            _audit("user.recovery_code_used", user, now, left=recovery_codes_left(user) - 1)
            db.session.commit()
            return "recovery"
    raise WrongCode("wrong code")


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, or one either side for clock drift) whose code is `code`."""
    if not (code.isascii() and code.isdigit() and len(code) == 6):  # "١٢٣٤٥٦" is isdigit() too
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["-".join(secrets.token_hex(3) for _ in range(2)) for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(code)) for code in codes)
    return codes


def _audit(action: str, user: User, now: datetime, **data) -> None:
    """A person's own two-step change, in the audit log (the caller commits)."""
    audit.record(action, user_id=user.id, at=now, object_type="user", object_id=user.id,
                 data={"user_id": user.id, **data})


def _hash(code: str) -> str:
    # 48 random bits per code, and the sign-in throttle slows a guesser: a plain hash keeps
    # the stored list useless to a reader without making each check slow.
    return hashlib.sha256(code.replace("-", "").encode()).hexdigest()
