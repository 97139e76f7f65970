"""Channels: the connected platform accounts (a page, an IG account, a WhatsApp number, an X
user), their access tokens (encrypted at rest, shown only as their last four characters) and
their health (a platform that refuses the token marks the channel failing until a new one is
saved or a test passes). Every change is audited."""
import logging
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit
from desk.accounts.users import User
from desk.channels import senders
from desk.channels.base import SendError
from desk.core import crypto, signals
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.types import UTCDateTime
from desk.notify.notifications import notify

log = logging.getLogger(__name__)

PLATFORMS = ("facebook", "instagram", "whatsapp", "x", "tiktok", "youtube", "linkedin",
             "email", "web", "other")
KINDS = ("comment", "dm", "mention")
STATES = ("connected", "failing")
MAX_TOKEN_CHARS = 4000


class Channel(db.Model):
    __table_args__ = (UniqueConstraint("platform", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(String(100))  # the platform's id of the account
    name: Mapped[str] = mapped_column(String(120))
    handle: Mapped[str | None] = mapped_column(String(120))
    # WhatsApp: the business account (WABA) the number belongs to; its templates are listed there.
    business_account_id: Mapped[str | None] = mapped_column(String(100))
    # The access token for the outbound API (Fernet, desk/core/crypto.py); read and set it
    # through `access_token`. Only its last four characters are ever shown.
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_last4: Mapped[str | None] = mapped_column(String(4))
    # X OAuth 2.0 user tokens: the refresh token (encrypted) and when the access token expires.
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    # "connected", or "failing" since `failing_since` because the platform refused the token.
    state: Mapped[str] = mapped_column(String(20), default="connected",
                                       server_default="connected")
    failing_reason: Mapped[str | None] = mapped_column(String(500))
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last "test connection": when, whether it passed, what the platform answered.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_ok: Mapped[bool | None] = mapped_column()
    check_detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.platform})"

    @property
    def access_token(self) -> str | None:
        """The token in clear, for the outbound call only; None when none is stored or no
        configured key opens it (the platform then refuses and the channel shows failing)."""
        return _open(self.access_token_encrypted, self.id)

    @access_token.setter
    def access_token(self, value: str | None) -> None:
        value = (value or "").strip() or None
        self.access_token_encrypted = crypto.encrypt(value) if value else None
        self.token_last4 = value[-4:] if value else None

    @property
    def refresh_token(self) -> str | None:
        return _open(self.refresh_token_encrypted, self.id)

    @refresh_token.setter
    def refresh_token(self, value: str | None) -> None:
        value = (value or "").strip() or None
        self.refresh_token_encrypted = crypto.encrypt(value) if value else None

    @property
    def token_hint(self) -> str | None:
        """What a page may show of the token: "…" and its last four characters."""
        return f"…{self.token_last4}" if self.token_last4 else None

    @property
    def failing(self) -> bool:
        return self.active and self.state == "failing"


def _open(stored: str | None, channel_id) -> str | None:
    if not stored:
        return None
    try:
        return crypto.decrypt(stored)
    except crypto.UnreadableSecret:
        log.warning("channel %s: its stored token cannot be decrypted with DESK_ENCRYPTION_KEYS",
                    channel_id)
        return None


def _clean_token(token: str | None) -> str | None:
    token = (token or "").strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise DeskError(f"an access token has at most {MAX_TOKEN_CHARS} characters")
    if any(ch.isspace() for ch in token):
        raise DeskError("an access token has no spaces or line breaks")
    return token or None


def add_channel(platform: str, account_id: str, name: str, handle: str | None = None,
                access_token: str | None = None, by: audit.Actor | None = None,
                now: datetime | None = None) -> Channel:
    """Connect an account (or connect again one that was disconnected) and commit; DeskError
    on an unknown platform, Conflict when it is connected already. Audited (`by`: who, from
    where)."""
    now = now or clock_now()
    platform = (platform or "").strip().lower()
    account_id = (account_id or "").strip()
    if platform not in PLATFORMS:
        raise DeskError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    if not account_id or len(account_id) > 100:
        raise DeskError("the platform account id is required (at most 100 characters)")
    if not (name or "").strip():
        raise DeskError("a channel needs a name")
    token = _clean_token(access_token)
    channel = find_channel(platform, account_id)
    if channel is not None and channel.active:
        raise Conflict(f"{platform} account {account_id} is already connected")
    action = "channel.reconnected" if channel is not None else "channel.added"
    if channel is None:
        channel = Channel(platform=platform, account_id=account_id, created_at=now)
        db.session.add(channel)
    channel.name, channel.handle, channel.active = name.strip(), (handle or "").strip() or None, True
    channel.access_token = token
    channel.updated_at = now
    restore(channel)
    db.session.flush()
    audit.record(action, at=now, by=by, object_type="channel", object_id=channel.id,
                 data={"name": channel.label, "account_id": account_id,
                       "token": channel.token_hint})
    if token and action == "channel.reconnected":
        signals.channel_restored.send(channel, now=now)
    db.session.commit()
    return channel


def edit_channel(channel_id: int, name: str, handle: str | None, by: audit.Actor | None,
                 now: datetime, business_account_id: str | None = None) -> Channel:
    """Rename a channel, change its handle or (WhatsApp) its business account id; commits,
    audited with the fields changed."""
    channel = get_channel(channel_id)
    name, handle = (name or "").strip(), (handle or "").strip() or None
    business_account_id = (business_account_id or "").strip() or None
    if not name:
        raise DeskError("a channel needs a name")
    if business_account_id and not business_account_id.isdigit():
        raise DeskError("a WhatsApp Business Account id is a number")
    if channel.platform != "whatsapp":
        business_account_id = None
    values = {"name": name, "handle": handle, "business_account_id": business_account_id}
    changed = [f for f, v in values.items() if getattr(channel, f) != v]
    if changed:
        before = channel.label
        for f in changed:
            setattr(channel, f, values[f])
        channel.updated_at = now
        audit.record("channel.edited", at=now, by=by, object_type="channel", object_id=channel.id,
                     data={"name": before, "changes": {f: getattr(channel, f) for f in changed}})
    db.session.commit()
    return channel


def set_token(channel_id: int, access_token: str, by: audit.Actor | None, now: datetime,
              refresh_token: str | None = None, expires_at: datetime | None = None) -> Channel:
    """Store a new access token (rotation): encrypted, shown from now on only as its last
    four; a failing channel is connected again and the replies waiting for it go (signal
    `channel_restored`). Commits; audited without the token."""
    channel = get_channel(channel_id)
    if not channel.active:
        raise DeskError("connect the channel again before giving it a token")
    token = _clean_token(access_token)
    if not token:
        raise DeskError("paste the new access token")
    channel.access_token = token
    if refresh_token is not None:
        channel.refresh_token = _clean_token(refresh_token)
    # A refresh token pasted with no known expiry: refreshed at the next send or sweep, which
    # learns the expiry (X user tokens last two hours).
    channel.token_expires_at = expires_at or (now if channel.refresh_token_encrypted else None)
    channel.updated_at = now
    was_failing = channel.state == "failing"
    restore(channel)
    audit.record("channel.token_rotated", at=now, by=by, object_type="channel",
                 object_id=channel.id, data={"name": channel.label, "token": channel.token_hint,
                                             "was_failing": was_failing})
    signals.channel_restored.send(channel, now=now)
    db.session.commit()
    return channel


def disconnect(channel_id: int, by: audit.Actor | None, now: datetime) -> Channel:
    """Stop using a channel: its tokens are forgotten; its tickets stay. Commits; audited."""
    channel = get_channel(channel_id)
    if not channel.active:
        return channel
    channel.active = False
    channel.access_token = None
    channel.refresh_token = None
    channel.token_expires_at = None
    channel.updated_at = now
    restore(channel)
    audit.record("channel.disconnected", at=now, by=by, object_type="channel",
                 object_id=channel.id, data={"name": channel.label})
    db.session.commit()
    return channel


def mark_failing(channel_id: int, reason: str, now: datetime) -> bool:
    """The platform refused the channel's token: mark it failing (once; the caller commits).
    True when this call marked it."""
    marked = db.session.execute(
        update(Channel).where(Channel.id == channel_id, Channel.state != "failing")
        .values(state="failing", failing_reason=(reason or "")[:500], failing_since=now)
        .execution_options(synchronize_session=False)).rowcount == 1
    if marked:
        channel = db.session.get(Channel, channel_id)
        db.session.refresh(channel)
        audit.record("channel.failing", at=now, actor="system", object_type="channel",
                     object_id=channel_id, data={"name": channel.label,
                                                 "reason": (reason or "")[:300]})
        people = db.session.scalars(select(User.id).where(
            User.active.is_(True), User.role.in_(("lead", "smm", "admin")))).all()
        notify(people, "channel_failing",
               _l("%(name)s stopped working: the platform refused its access token. Replies to "
                  "it wait until an admin saves a new token.", name=channel.label),
               dedupe_key=f"channel_failing:{channel_id}:{now.isoformat()}"[:120], now=now)
        log.warning("channel %s marked failing: %s", channel_id, reason)
    return marked


def test_connection(channel_id: int, by: audit.Actor | None, now: datetime, config) -> Channel:
    """Ask the platform who the channel's token belongs to; the answer is stored on the channel
    (checked_at, check_ok, check_detail). A refused token marks it failing; a passing test of a
    failing channel connects it again. Commits; audited."""
    channel = get_channel(channel_id)
    if not channel.active:
        raise DeskError("the channel is disconnected")
    try:
        answer = senders.identify(channel.platform, channel.account_id, channel.access_token,
                                  config)
    except SendError as exc:
        channel.check_ok, channel.check_detail = False, str(exc)[:500]
        if exc.token_invalid:
            mark_failing(channel.id, str(exc), now)
    else:
        channel.check_ok = True
        channel.check_detail = answer[:500]
        if channel.state == "failing":
            restore(channel)
            signals.channel_restored.send(channel, now=now)
    channel.checked_at = now
    audit.record("channel.tested", at=now, by=by, object_type="channel", object_id=channel.id,
                 data={"name": channel.label, "ok": channel.check_ok,
                       "answer": channel.check_detail[:300]})
    db.session.commit()
    return channel


def restore(channel: Channel) -> None:
    """Connected again: no longer failing (the caller commits and sends channel_restored)."""
    channel.state, channel.failing_reason, channel.failing_since = "connected", None, None


def get_channel(channel_id: int) -> Channel:
    channel = db.session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"no channel {channel_id}")
    return channel


def failing_channels() -> list[Channel]:
    """Connected channels the platform refuses, oldest failure first (the banner)."""
    return list(db.session.scalars(select(Channel).where(
        Channel.active.is_(True), Channel.state == "failing").order_by(Channel.failing_since)))


def find_channel(platform: str, account_id: str) -> Channel | None:
    """The connected channel for a platform account id, or None."""
    return db.session.scalar(select(Channel).where(
        Channel.platform == platform, Channel.account_id == str(account_id)))
