"""Server-side sign-in sessions: a cookie names a row here, and the row decides.

The browser holds a random key; the database holds its hash. Ending the row (sign out, sign
out everywhere, a password change, deactivation, an idle timeout) ends the session even for a
copy of the cookie replayed later.
"""
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from desk.core.extensions import db
from desk.core.types import UTCDateTime

# last_seen_at is written at most this often per session: a page that polls every few seconds
# must not write on every request.
TOUCH_EVERY = timedelta(minutes=1)


class UserSession(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    method: Mapped[str] = mapped_column(String(10), default="password")  # or "sso"
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def hash_key(key: str) -> str:
    # The key carries 256 random bits: a fast hash suffices, nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(user_id: int, *, remember: bool, ip: str | None, user_agent: str | None,
                 now: datetime, method: str = "password") -> str:
    """Add a session row for the user (the caller commits); its key, never stored."""
    key = secrets.token_urlsafe(32)
    db.session.add(UserSession(
        user_id=user_id, key_hash=hash_key(key), remember=remember, method=method,
        ip=(ip or "")[:45] or None,
        user_agent=(user_agent or "")[:200] or None, created_at=now, last_seen_at=now))
    return key


def live_session(user_id: int, key: str, *, idle: timedelta, remember_idle: timedelta,
                 now: datetime) -> UserSession | None:
    """The user's session for this key if it is neither ended nor idle too long, else None;
    an idle one is ended on the way. Touches last_seen_at (at most once a minute; commits)."""
    row = db.session.scalar(select(UserSession).where(
        UserSession.key_hash == hash_key(key), UserSession.user_id == user_id))
    if row is None or row.ended_at is not None:
        return None
    if now - row.last_seen_at > (remember_idle if row.remember else idle):
        row.ended_at = now
        db.session.commit()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row


def end_session(key: str, now: datetime) -> None:
    """End the session with this key (sign out). The caller commits."""
    db.session.execute(update(UserSession).where(
        UserSession.key_hash == hash_key(key), UserSession.ended_at.is_(None))
        .values(ended_at=now))


def end_sessions(user_id: int, now: datetime, keep_key: str | None = None) -> int:
    """End every live session of the user but the one with `keep_key`; how many ended. The
    caller commits."""
    query = update(UserSession).where(UserSession.user_id == user_id,
                                      UserSession.ended_at.is_(None))
    if keep_key:
        query = query.where(UserSession.key_hash != hash_key(keep_key))
    return db.session.execute(query.values(ended_at=now)).rowcount


def live_sessions(user_id: int, *, idle: timedelta, remember_idle: timedelta,
                  now: datetime) -> list[UserSession]:
    """The user's sessions still usable at `now`, most recently used first."""
    rows = db.session.scalars(select(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())).all()
    return [row for row in rows
            if now - row.last_seen_at <= (remember_idle if row.remember else idle)]
