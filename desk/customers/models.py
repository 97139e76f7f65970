"""Customers and their identities on each platform."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime


class Customer(db.Model):
    __table_args__ = (
        # Inbox search by customer name: PostgreSQL full text here; on SQLite an FTS5 table
        # (desk/inbox/search_schema.py).
        Index("ix_customer_name_fts", text("to_tsvector('desk_search', display_name)"),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    language: Mapped[str | None] = mapped_column(String(5))
    vip: Mapped[bool] = mapped_column(default=False)
    followers: Mapped[int | None]  # the largest follower count among the identities
    # The platform profile's picture (Messenger, Instagram) and when the profile was last
    # looked up (at most daily; desk/customers/profiles.py).
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    profile_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    identities: Mapped[list["CustomerIdentity"]] = relationship(
        back_populates="customer", order_by="CustomerIdentity.id")

    @property
    def name_known(self) -> bool:
        """False while the only name is a platform id (a Messenger or Instagram customer whose
        profile has not been looked up): such a name is never put in a message."""
        name = (self.display_name or "").strip()
        return bool(name) and name not in {i.platform_user_id for i in self.identities}

    @property
    def first_name(self) -> str:
        """The first word of the name; "" when no name is known."""
        name = (self.display_name or "").strip().lstrip("@") if self.name_known else ""
        return name.split()[0] if name else ""


class CustomerIdentity(db.Model):
    """One customer account on one platform; the platform's user id is unique per platform."""

    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    platform_user_id: Mapped[str] = mapped_column(String(100))
    handle: Mapped[str | None] = mapped_column(String(120))
    name: Mapped[str | None] = mapped_column(String(200))
    followers: Mapped[int | None]
    profile_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    customer: Mapped[Customer] = relationship(back_populates="identities")


def find_identity(platform: str, platform_user_id: str) -> CustomerIdentity | None:
    return db.session.scalar(select(CustomerIdentity).where(
        CustomerIdentity.platform == platform,
        CustomerIdentity.platform_user_id == str(platform_user_id)))
