"""The audit log: who did what to which object (a ticket, a user, a token, a channel, an SLA
policy...), when, and from where (users, rules and the system)."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime

# What an admin or SMM change is about; the audit page filters on these.
OBJECT_TYPES = ("ticket", "user", "api_token", "channel", "sla_policy", "sla_calendar",
                "escalation_rules", "canned_reply", "incident", "sign_in_policy", "customer")
SOURCES = ("web", "api", "cli", "system")


@dataclass(frozen=True)
class Actor:
    """Who makes a change and from where: the user (None for the system or a command run
    without one), the client's address as the view layer saw it, and the way in."""

    user_id: int | None = None
    ip: str | None = None
    source: str = "web"


class AuditEvent(db.Model):
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    actor: Mapped[str] = mapped_column(String(60))  # "user", "rule:<name>", "system", "api"
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(45))  # IPv6 at most 45 characters
    source: Mapped[str | None] = mapped_column(String(10))  # web, api, cli, system
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now, index=True)


def record(action: str, *, ticket_id=None, user_id=None, actor="user", data=None, at=None,
           object_type: str | None = None, object_id: int | None = None,
           by: Actor | None = None):
    """Add an audit row to the current transaction (the caller commits). `by` gives the user,
    address and way in of a change someone made; a ticket's events name the ticket as their
    object unless told otherwise."""
    if by is not None:
        user_id = by.user_id if user_id is None else user_id
    if object_type is None and ticket_id is not None:
        object_type, object_id = "ticket", ticket_id
    event = AuditEvent(action=action, ticket_id=ticket_id, user_id=user_id, actor=actor,
                       data=data or {}, created_at=at or clock_now(),
                       object_type=object_type, object_id=object_id,
                       ip=(by.ip or None)[:45] if by and by.ip else None,
                       source=by.source if by else ("system" if actor != "user" else None))
    db.session.add(event)
    return event
