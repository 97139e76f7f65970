"""Files agents send: attached to a reply in the composer or carried by a canned reply.

Kept in the database (not on one machine's disk), so every gunicorn and RQ worker can send
them. A file's type is read from its bytes (channels/attachments.py). Instagram fetches an
attachment from an address instead of taking an upload: `public_url` signs one that works for
PUBLIC_FILE_DAYS and names nothing but the file.
"""
import hashlib
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import ForeignKey, LargeBinary, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from desk.channels import attachments
from desk.channels.base import SENDING_PLATFORMS, OutboundFile, SendError
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.core.types import UTCDateTime

PUBLIC_FILE_DAYS = 7
_SALT = "reply-file"


class ReplyFile(db.Model):
    """One file as an agent uploaded it; its bytes load only when sent or shown."""

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(120))  # sniffed from the bytes
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The reply it was uploaded for (erased with it); None for a canned reply's file.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"),
                                                   index=True)

    @property
    def kind(self) -> str:
        return attachments.kind_of(self.content_type)


@dataclass(frozen=True)
class Attached:
    """A file a reply carries: a new `upload` (name, bytes), or a canned reply's `library` file."""

    upload: tuple[str, bytes] | None = None
    library: ReplyFile | None = None


def save_file(filename: str, data: bytes, user_id: int | None, now: datetime) -> ReplyFile:
    """Store an uploaded file (no commit); DeskError when empty or over ATTACHMENT_MAX_BYTES."""
    limit = int(current_app.config["ATTACHMENT_MAX_BYTES"])
    if not data:
        raise DeskError(_("The file is empty."))
    if len(data) > limit:
        raise DeskError(_("The file is larger than %(max)s MB, the most the desk keeps.",
                           max=limit // attachments.MB))
    name = _clean_name(filename)
    stored = ReplyFile(filename=name, content_type=attachments.sniff(data, name), size=len(data),
                       sha256=hashlib.sha256(data).hexdigest(), data=data, created_at=now,
                       created_by_id=user_id)
    db.session.add(stored)
    db.session.flush()
    return stored


def _clean_name(filename: str) -> str:
    """The name without any folder or control character, at most 200 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>')
    return name.strip()[-200:] or "file"


def attach(ticket, visibility: str, file: Attached | None, as_template: bool,
           author_id: int | None, now: datetime) -> ReplyFile | None:
    """The file the reply carries, checked against the platform's limits before anything is
    stored (DeskError with the reason); None without one."""
    if file is None:
        return None
    if as_template:
        raise DeskError(_("A WhatsApp template carries no file: send the file once the "
                          "customer writes again."))
    if file.upload is not None:
        name, data = file.upload
        content_type, size = attachments.sniff(data, name), len(data)
    else:
        content_type, size = file.library.content_type, file.library.size
    if ticket.channel.platform in SENDING_PLATFORMS:
        try:
            attachments.check(ticket.channel.platform, ticket.kind, visibility, content_type, size)
        except attachments.AttachmentRefused as exc:
            raise DeskError(str(exc)) from exc
    if file.upload is not None:
        return save_file(name, data, author_id, now)
    return file.library


def descriptor(stored: ReplyFile) -> dict:
    """How a message lists a file it carries (Message.attachments)."""
    return {"type": stored.kind, "file_id": stored.id, "name": stored.filename,
            "mime_type": stored.content_type, "size": stored.size}


def outbound_file(message) -> OutboundFile | None:
    """The file the reply carries, with its bytes, or None."""
    carried = next((a for a in message.attachments or []
                    if isinstance(a, dict) and isinstance(a.get("file_id"), int)), None)
    if carried is None:
        return None
    stored = db.session.get(ReplyFile, carried["file_id"])
    if stored is None:
        raise SendError("the file of this reply was deleted", transient=False)
    return OutboundFile(
        kind=stored.kind, name=stored.filename, content_type=stored.content_type,
        data=stored.data, url=public_url(stored.id), sent_id=carried.get("platform_id"))


def mark_sent(message, platform_id: str | None) -> None:
    """The platform took the file, sent apart from the text: kept at once, so a retry after a
    failed text part sends only the text."""
    message.attachments = [dict(a, platform_id=platform_id) if isinstance(a, dict) and
                           a.get("file_id") else a for a in message.attachments or []]
    db.session.commit()


def public_url(file_id: int) -> str:
    """An address a platform can fetch the file from for PUBLIC_FILE_DAYS (signed, opaque)."""
    token = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT).dumps(file_id)
    return f"{current_app.config['BASE_URL'].rstrip('/')}/media/files/{token}"


def file_for_token(token: str) -> ReplyFile | None:
    """The file a public address names, or None when forged, expired or gone."""
    try:
        file_id = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT).loads(
            token, max_age=PUBLIC_FILE_DAYS * 86400)
    except BadSignature:
        return None
    return db.session.get(ReplyFile, file_id) if isinstance(file_id, int) else None


def delete_files_of(message_ids) -> int:
    """Delete the files uploaded for these messages (erasure, retention); a canned reply's
    file stays, as it belongs to the library. Returns how many went."""
    ids = list(message_ids)
    if not ids:
        return 0
    return db.session.execute(delete(ReplyFile).where(ReplyFile.message_id.in_(ids))
                              .execution_options(synchronize_session=False)).rowcount
