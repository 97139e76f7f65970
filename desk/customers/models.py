"""Customers and their identities on each platform, and what agents keep about a person:
notes, tags, and the record of each merge."""
import re
import unicodedata
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime


# Folded keys compare byte by byte (C collation on PostgreSQL), so a prefix or a range of
# them is an index range read whatever the database's own collation.
KEY = String(120).with_variant(String(120, collation="C"), "postgresql")


def match_key(value: str | None) -> str | None:
    """`value` folded for duplicate matching: lower case, no accents, letters and digits only
    ("María López" and "@maria_lopez" both give "marialopez"); None when nothing is left."""
    folded = unicodedata.normalize("NFKD", (value or "").casefold())
    key = re.sub(r"[\W_]+", "", "".join(c for c in folded if not unicodedata.combining(c)))
    return key[:120] or None


class Customer(db.Model):
    __table_args__ = (
        # Inbox search by customer name: PostgreSQL full text here; on SQLite an FTS5 table
        # (desk/inbox/search_schema.py).
        Index("ix_customer_name_fts", text("to_tsvector('desk_search', display_name)"),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)  # stored lower case
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164: "+34600111222"
    language: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str | None] = mapped_column(String(64))  # an IANA zone, "Europe/Madrid"
    # The folded name (match_key), indexed so duplicate suggestions read a range, not a table.
    name_key: Mapped[str | None] = mapped_column(KEY, index=True)
    # Set when this customer was merged into another: the row stays (links to it lead to the
    # kept customer, and the merge can be undone) but it no longer appears anywhere.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the person's data was erased (desk/people/privacy.py): the row stays for the
    # figures, named by its reference, with nothing that identifies anyone.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vip: Mapped[bool] = mapped_column(default=False)
    followers: Mapped[int | None]  # the largest follower count among the identities
    # The platform profile's picture (Messenger, Instagram) and when the profile was last
    # looked up (at most daily; desk/customers/profiles.py).
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    profile_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    identities: Mapped[list["CustomerIdentity"]] = relationship(
        back_populates="customer", order_by="CustomerIdentity.id")
    tags: Mapped[list["CustomerTag"]] = relationship(order_by="CustomerTag.name",
                                                     cascade="all, delete-orphan")

    @validates("display_name")
    def _keep_name_key(self, _key, value):
        self.name_key = match_key(value)
        return value

    @validates("email")
    def _lower_email(self, _key, value):
        return value.strip().lower() or None if value else None

    @property
    def name_known(self) -> bool:
        """False while the only name is a platform id (a Messenger or Instagram customer whose
        profile has not been looked up) or after an erasure: such a name is never put in a
        message."""
        name = (self.display_name or "").strip()
        return (bool(name) and self.erased_at is None
                and name not in {i.platform_user_id for i in self.identities})

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
    handle_key: Mapped[str | None] = mapped_column(KEY, index=True)  # match_key(handle)
    name: Mapped[str | None] = mapped_column(String(200))
    followers: Mapped[int | None]
    profile_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    customer: Mapped[Customer] = relationship(back_populates="identities")

    @validates("handle")
    def _keep_handle_key(self, _key, value):
        self.handle_key = match_key(value)
        return value


class CustomerNote(db.Model):
    """What an agent wrote down about a person (not about one ticket: those are ticket notes)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)


class CustomerTag(db.Model):
    """A label on a person ("wholesale", "press"), distinct from ticket tags."""

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), primary_key=True)


class CustomerMerge(db.Model):
    """One merge of `merged` into `kept`: which rows moved and what the kept customer's fields
    were, so the merge is fully recorded and can be undone."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kept_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    moved: Mapped[dict] = mapped_column(JSON, default=dict)  # table -> ids moved
    kept_before: Mapped[dict] = mapped_column(JSON, default=dict)  # fields as they were
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


def find_identity(platform: str, platform_user_id: str) -> CustomerIdentity | None:
    return db.session.scalar(select(CustomerIdentity).where(
        CustomerIdentity.platform == platform,
        CustomerIdentity.platform_user_id == str(platform_user_id)))
