"""The notification centre's reads and writes: a user's list, unread count, mark read."""
from datetime import datetime

from sqlalchemy import func, select, update

from desk.core.extensions import db
from desk.notify.notifications import Notification


def recent(user_id: int, limit: int = 100) -> list[Notification]:
    """The user's notifications, newest first."""
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.created_at.desc(), Notification.id.desc())
                                   .limit(limit)))


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(user_id: int, notification_id: int | None, now: datetime) -> int:
    """Mark one (or, with None, every) unread notification of this user read; commits."""
    query = update(Notification).where(Notification.user_id == user_id,
                                       Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    changed = db.session.execute(query.values(read_at=now)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return changed
