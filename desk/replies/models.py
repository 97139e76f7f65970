"""The canned-reply tables: the replies, how each fared per ticket, and the answered
customer messages suggestions learn from."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime
from desk.inbox.files import ReplyFile


class CannedReply(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # may hold {{placeholders}}
    language: Mapped[str] = mapped_column(String(5))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    triggers: Mapped[list] = mapped_column(JSON, default=list)  # phrases customers use
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # A file sent with the reply (a return label, an invoice): desk/inbox/files.py.
    file_id: Mapped[int | None] = mapped_column(ForeignKey("reply_file.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship()
    file: Mapped[ReplyFile | None] = relationship()


class ReplyUsage(db.Model):
    """How one reply fared on one ticket: suggested (once), used, edited before sending."""

    __table_args__ = (UniqueConstraint("canned_reply_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    canned_reply_id: Mapped[int] = mapped_column(ForeignKey("canned_reply.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    suggested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rank: Mapped[int | None]  # 1-3, its place among the suggestions
    uses: Mapped[int] = mapped_column(default=0)
    edits: Mapped[int] = mapped_column(default=0)  # uses whose sent text differed
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReplyExample(db.Model):
    """A customer message an agent answered with a reply: what suggestions learn from."""

    id: Mapped[int] = mapped_column(primary_key=True)
    canned_reply_id: Mapped[int] = mapped_column(
        ForeignKey("canned_reply.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(unique=True)  # the agent reply
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
