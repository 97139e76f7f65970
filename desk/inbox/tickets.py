"""Tickets, their messages, internal notes and tags."""
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime
from desk.customers.models import Customer

STATUSES = ("open", "pending", "resolved")  # pending = waiting on the customer
PRIORITIES = ("low", "normal", "high", "urgent")
SLA_STATES = ("on_track", "at_risk", "breached", "met", "late", "waived")
# "waiting": the channel is failing (its token was refused); it goes once the channel is fixed.
# "bridge": handed to the bridge of a network without an adapter, waiting for its word.
DELIVERY_STATES = ("pending", "sending", "retrying", "waiting", "delivered", "failed", "recorded",
                   "bridge")
# The clock states that still run; the inbox orders these by due time (partial index below).
RUNNING_CLOCK_SQL = "sla_state IN ('on_track', 'at_risk', 'breached')"
# Open tickets nobody owns: automatic assignment hands them out by due time (desk/routing);
# the index leads with the two equalities so that SQLite's planner, too, prefers it.
UNASSIGNED_OPEN_SQL = "status = 'open' AND assignee_id IS NULL"
# Customers waiting for our answer: the board's lists and its not-yet-due counts (desk/sla).
WAITING_SQL = f"status <> 'resolved' AND {RUNNING_CLOCK_SQL} AND sla_due_at IS NOT NULL"

ticket_tags = Table(
    "ticket_tag", db.metadata,
    Column("ticket_id", ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Ticket(db.Model):
    __table_args__ = (
        # The inbox's default order: open tickets by the nearest SLA due time.
        Index("ix_ticket_status_sla_due", "status", "sla_due_at"),
        Index("ix_ticket_assignee_status", "assignee_id", "status"),
        Index("ix_ticket_channel_thread", "channel_id", "thread_key"),
        Index("ix_ticket_customer_channel", "customer_id", "channel_id"),
        # The service report selects tickets by the time they were opened.
        Index("ix_ticket_created", "created_at"),
        # Inbox keyset pagination (desk/inbox/query.py): running clocks by due time, the rest
        # by last change, resolved by resolution time; each order walks one index.
        Index("ix_ticket_running_due", "status", "sla_due_at", "id",
              postgresql_where=text(RUNNING_CLOCK_SQL), sqlite_where=text(RUNNING_CLOCK_SQL)),
        Index("ix_ticket_status_updated", "status", "updated_at", "id"),
        Index("ix_ticket_status_resolved", "status", "resolved_at", "id"),
        Index("ix_ticket_status_created", "status", "created_at", "id"),
        Index("ix_ticket_unassigned_due", "assignee_id", "status", "sla_due_at", "id",
              postgresql_where=text(UNASSIGNED_OPEN_SQL), sqlite_where=text(UNASSIGNED_OPEN_SQL)),
        Index("ix_ticket_waiting_due", "sla_due_at", "id",
              postgresql_where=text(WAITING_SQL), sqlite_where=text(WAITING_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(10))  # comment, dm, mention
    # The platform conversation this ticket follows: root comment / conversation id for
    # comments and mentions, the customer's platform id for DMs.
    thread_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="open")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    language: Mapped[str | None] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(200), default="")  # preview of the first message
    post_url: Mapped[str | None] = mapped_column(String(500))  # the post a comment belongs to
    post_text: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now, index=True)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_customer_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "replied" or "no_reply_needed" (then resolution_reason says why: spam, like, closed...)
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolution_reason: Mapped[str | None] = mapped_column(String(200))
    escalated: Mapped[bool] = mapped_column(default=False)
    # Snoozed (desk/inbox/snooze.py): out of the working views until `snoozed_until`, or until
    # the customer writes when that is NULL. Not snoozed when `snoozed_at` is NULL.
    snoozed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # First-response clock (docs/architecture.md, SLA), kept on the ticket for fast lists.
    sla_policy_id: Mapped[int | None]
    first_response_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responder_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The clock that currently runs (first or next response): its due time and state.
    sla_state: Mapped[str | None] = mapped_column(String(10))
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When that clock started: while it runs, how long the customer has waited for us (the
    # first unanswered message), not since their latest one.
    sla_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    channel: Mapped[Channel] = relationship()
    customer: Mapped[Customer] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    tags: Mapped[list[Tag]] = relationship(secondary=ticket_tags, order_by=Tag.name)
    messages: Mapped[list["Message"]] = relationship(
        back_populates="ticket", order_by="Message.sent_at, Message.id")

    @property
    def reference(self) -> str:
        return f"T-{self.id:06d}"

    @property
    def platform(self) -> str:
        return self.channel.platform


class Message(db.Model):
    __table_args__ = (
        UniqueConstraint("channel_id", "platform_message_id"),
        Index("ix_message_ticket_sent", "ticket_id", "sent_at"),
        # Retention (desk/reports/retention.py): did this customer write again after a date?
        Index("ix_message_customer_sent", "customer_id", "sent_at"),
        # Inbox search: full-text index over message text (PostgreSQL; SQLite has an FTS5
        # table instead, and the configuration comes from desk/inbox/search_schema.py).
        Index("ix_message_text_fts", text("to_tsvector('desk_search', text)"),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" from the customer, "out" from the brand
    visibility: Mapped[str] = mapped_column(String(7), default="public")  # public or private
    # The platform's id; NULL for an outbound reply until the platform accepted it.
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    parent_platform_id: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)  # platform time, clamped on arrival
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A public comment an agent hid on the platform (desk/inbox/moderation.py); None: shown.
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the text was removed: the customer's erasure or the retention purge
    # (desk/people/privacy.py). The row stays, so every figure does.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Automatic messages (acknowledgements, surveys) never stop an SLA clock.
    automatic: Mapped[bool] = mapped_column(default=False)
    # Outbound delivery; the idempotency key makes a retried send a no-op on our side.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    delivery_state: Mapped[str | None] = mapped_column(String(10))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(default=0)
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # claimed by a send job
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canned_reply_id: Mapped[int | None]
    # WhatsApp, outside the 24-hour window: the approved template it went as
    # ({"name", "language", "params"}); `text` holds the body as the customer reads it.
    template: Mapped[dict | None] = mapped_column(JSON)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    customer: Mapped[Customer | None] = relationship()


class Note(db.Model):
    """An internal note: never sent, never stops a clock; @mentions notify colleagues."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list] = mapped_column(JSON, default=list)  # user ids
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    author: Mapped[User] = relationship()
