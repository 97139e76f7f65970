"""In-app notifications for users (the notification centre reads these)."""
from datetime import datetime

from flask_babel import force_locale
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.texts import Later, shown
from desk.core.types import UTCDateTime
from desk.notify.preferences import muted


class Notification(db.Model):
    __table_args__ = (
        Index("ix_notification_user_unread", "user_id", "read_at"),
        # One notification per user and event: a re-run of a sweep never notifies twice.
        UniqueConstraint("user_id", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(30))  # sla_warning, sla_breach, escalation, mention...
    text: Mapped[str] = mapped_column(Text)  # rendered for the recipient when it was made
    # The message id and its values (desk.core.texts), rendered again when read, in the
    # reader's language and time zone of the day; None on rows from before (their text shows).
    message: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    dedupe_key: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def shown_text(self) -> str:
        return shown(self.text, self.message, self.params)


def notify(user_ids, kind: str, text, *, dedupe_key: str, link: str | None = None,
           ticket_id: int | None = None, now: datetime | None = None) -> list[Notification]:
    """Add one notification per user not yet notified under `dedupe_key` (caller commits).

    `text` may be a `desk.core.texts.Later` (a message id and its values: stored as such and
    shown in the reader's language when read) or a lazy string (rendered now in each user's
    language).
    """
    user_ids = set(user_ids)
    if not user_ids:
        return []
    already = set(db.session.scalars(db.select(Notification.user_id).where(
        Notification.user_id.in_(user_ids), Notification.dedupe_key == dedupe_key)))
    fresh = sorted(user_ids - already - muted(user_ids, kind, "app"))
    locales = dict(db.session.execute(db.select(User.id, User.locale).where(User.id.in_(fresh))).all())
    message, params = (text.msgid, text.params()) if isinstance(text, Later) else (None, None)
    created = [Notification(user_id=uid, kind=kind, text=in_locale(text, locales.get(uid)),
                            message=message, params=params, link=link, ticket_id=ticket_id, dedupe_key=dedupe_key,
                            created_at=now or clock_now())
               for uid in fresh]
    db.session.add_all(created)
    return created


def in_locale(text, locale: str | None) -> str:
    """`text` rendered in `locale` (the configured default when the user chose none)."""
    from flask import current_app
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        return str(text)
