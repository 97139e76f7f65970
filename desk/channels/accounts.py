"""Channels: the connected platform accounts (a page, an IG account, a WhatsApp number, an X user)."""
from datetime import datetime

from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict, DeskError
from desk.core.extensions import db
from desk.core.types import UTCDateTime

PLATFORMS = ("facebook", "instagram", "whatsapp", "x", "tiktok", "youtube", "linkedin",
             "email", "web", "other")
KINDS = ("comment", "dm", "mention")


class Channel(db.Model):
    __table_args__ = (UniqueConstraint("platform", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(String(100))  # the platform's id of the account
    name: Mapped[str] = mapped_column(String(120))
    handle: Mapped[str | None] = mapped_column(String(120))
    # Per-channel access token for the outbound API, when the platform needs one.
    access_token: Mapped[str | None] = mapped_column(String(512))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.platform})"


def add_channel(platform: str, account_id: str, name: str, handle: str | None = None,
                access_token: str | None = None, by: audit.Actor | None = None,
                now: datetime | None = None) -> Channel:
    """Connect an account and commit; DeskError on an unknown platform or a duplicate.
    Audited (`by`: who, from where)."""
    platform = (platform or "").strip().lower()
    account_id = (account_id or "").strip()
    if platform not in PLATFORMS:
        raise DeskError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    if not account_id or len(account_id) > 100:
        raise DeskError("the platform account id is required (at most 100 characters)")
    if not (name or "").strip():
        raise DeskError("a channel needs a name")
    if find_channel(platform, account_id):
        raise Conflict(f"{platform} account {account_id} is already connected")
    channel = Channel(platform=platform, account_id=account_id, name=name.strip(),
                      handle=handle, access_token=access_token, created_at=now or clock_now())
    db.session.add(channel)
    db.session.flush()
    audit.record("channel.added", at=channel.created_at, by=by, object_type="channel",
                 object_id=channel.id, data={"name": channel.label, "account_id": account_id})
    db.session.commit()
    return channel


def find_channel(platform: str, account_id: str) -> Channel | None:
    """The connected channel for a platform account id, or None."""
    return db.session.scalar(select(Channel).where(
        Channel.platform == platform, Channel.account_id == str(account_id)))
