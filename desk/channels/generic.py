"""The one documented JSON shape for messages from any other network (API and CSV import)."""
import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from desk.channels.base import Author, NormalizedMessage, RawEvent

PLATFORM_NAMES = Literal["facebook", "instagram", "whatsapp", "x", "tiktok", "youtube", "linkedin",
                         "email", "web", "other"]


class ChannelRef(BaseModel):
    """The connected channel: its platform and the platform's id of the account."""

    model_config = ConfigDict(extra="forbid")
    platform: PLATFORM_NAMES
    account_id: str = Field(min_length=1, max_length=100)


class AuthorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=100, description="the author's id on the platform")
    handle: str | None = Field(None, max_length=120)
    name: str | None = Field(None, max_length=200)
    followers: int | None = Field(None, ge=0)


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field("file", max_length=30)
    url: str | None = Field(None, max_length=2000)
    name: str | None = Field(None, max_length=255)


class MessageIn(BaseModel):
    """One comment, DM or mention from any network."""

    model_config = ConfigDict(extra="forbid")
    channel: ChannelRef
    kind: Literal["comment", "dm", "mention"]
    message_id: str = Field(min_length=1, max_length=200, description="the platform's message id")
    thread_id: str | None = Field(None, max_length=200,
                                  description="root comment / conversation; default: the author for DMs, the message for comments")
    parent_id: str | None = Field(None, max_length=200)
    author: AuthorIn
    text: str = Field("", max_length=20000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    sent_at: datetime | None = Field(None, description="ISO 8601; naive times are UTC")
    direction: Literal["in", "out"] = "in"
    verb: Literal["new", "edit", "delete"] = "new"
    post_url: str | None = Field(None, max_length=500)
    post_text: str | None = Field(None, max_length=5000)

    @field_validator("sent_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MessageBatch(BaseModel):
    """Up to 1,000 messages in one request."""

    model_config = ConfigDict(extra="forbid")
    messages: list[MessageIn] = Field(min_length=1, max_length=1000)


def raw_event(message: MessageIn) -> RawEvent:
    """The inbound event for one message: dedupe key (edits keyed by their text) and JSON."""
    key = f"{message.channel.platform}:{message.channel.account_id}:{message.message_id}:{message.verb}"
    if message.verb == "edit":
        key += ":" + hashlib.sha256(message.text.encode()).hexdigest()[:16]
    return RawEvent(key, message.model_dump(mode="json"))


def parse(payload: dict) -> list[NormalizedMessage]:
    """A stored generic event -> one NormalizedMessage."""
    message = MessageIn.model_validate(payload)
    default_thread = message.author.id if message.kind == "dm" else message.message_id
    return [NormalizedMessage(
        platform=message.channel.platform, account_id=message.channel.account_id,
        kind=message.kind, direction=message.direction,
        platform_message_id=message.message_id, thread_key=message.thread_id or default_thread,
        parent_id=message.parent_id, author=Author(**message.author.model_dump()),
        text=message.text.replace("\x00", ""),
        attachments=[a.model_dump(exclude_none=True) for a in message.attachments],
        sent_at=message.sent_at, verb=message.verb, post_url=message.post_url,
        post_text=message.post_text)]
