"""The audit log: who did what to which ticket, when (users, rules and the system)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime


class AuditEvent(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    actor: Mapped[str] = mapped_column(String(60))  # "user", "rule:<name>", "system", "api"
    action: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now, index=True)


def record(action: str, *, ticket_id=None, user_id=None, actor="user", data=None, at=None):
    """Add an audit row to the current transaction (the caller commits)."""
    event = AuditEvent(action=action, ticket_id=ticket_id, user_id=user_id, actor=actor,
                       data=data or {}, created_at=at or clock_now())
    db.session.add(event)
    return event
