"""A channel's token over its life: X OAuth 2.0 user tokens refreshed before they expire
(the rotated pair stored in one transaction, behind a row lock), Meta tokens checked daily
(dead ones fail their channel, expiring ones warn the admins)."""
import logging
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from desk.accounts import audit
from desk.accounts.users import User
from desk.channels import senders
from desk.channels.accounts import Channel, get_channel, mark_failing, restore
from desk.channels.base import SendError
from desk.core import signals
from desk.core.extensions import db
from desk.notify.notifications import notify

log = logging.getLogger(__name__)


def token_due(channel: Channel, now: datetime, config) -> bool:
    """An X user token that expires within DESK_X_REFRESH_BEFORE_SECONDS and can be refreshed."""
    return bool(channel.platform == "x" and channel.active and channel.refresh_token_encrypted
                and channel.token_expires_at is not None
                and channel.token_expires_at - now
                <= timedelta(seconds=int(config["X_REFRESH_BEFORE_SECONDS"])))


def refresh_token(channel_id: int, now: datetime, config,
                  refused_token: str | None = None) -> str:
    """Refresh an X user token with its refresh token and store the rotated pair and its
    expiry in one transaction. Due tokens only, or the very token the platform just refused
    (`refused_token`). The row is locked first (an UPDATE: the row on PostgreSQL, the database
    on SQLite) so two workers never refresh at once: the second waits, then finds a fresh
    token. Returns "refreshed", "fresh" (nothing to do, or another worker did it),
    "no_refresh_token", "failing" (X refused the refresh token) or "unreachable" (try later).
    Commits."""
    db.session.commit()  # the lock is taken at the start of a transaction of its own
    db.session.execute(update(Channel).where(Channel.id == channel_id)
                       .values(updated_at=Channel.updated_at)
                       .execution_options(synchronize_session=False))
    channel = db.session.get(Channel, channel_id, populate_existing=True)
    if channel is None or not channel.active or not channel.refresh_token_encrypted:
        db.session.commit()
        return "no_refresh_token"
    current = channel.access_token
    if refused_token is not None and current != refused_token:
        db.session.commit()
        return "fresh"  # refreshed meanwhile by another worker
    if refused_token is None and not token_due(channel, now, config):
        db.session.commit()
        return "fresh"
    try:
        pair = senders.refresh_x_token(channel.refresh_token, config)
    except SendError as exc:
        if not exc.token_invalid:
            db.session.rollback()
            log.warning("channel %s: token refresh failed, tried again later: %s", channel_id, exc)
            return "unreachable"
        mark_failing(channel.id, str(exc), now)
        db.session.commit()
        return "failing"
    channel.access_token = pair["access_token"]
    channel.refresh_token = pair["refresh_token"]
    channel.token_expires_at = now + timedelta(seconds=pair["expires_in"])
    was_failing = channel.state == "failing"
    restore(channel)
    audit.record("channel.token_refreshed", at=now, actor="system", object_type="channel",
                 object_id=channel.id, data={"name": channel.label, "token": channel.token_hint})
    if was_failing:
        signals.channel_restored.send(channel, now=now)
    db.session.commit()
    return "refreshed"


def refresh_due_tokens(now: datetime, config) -> int:
    """Periodic: refresh every X user token about to expire; how many were refreshed."""
    soon = now + timedelta(seconds=int(config["X_REFRESH_BEFORE_SECONDS"]))
    due = db.session.scalars(select(Channel.id).where(
        Channel.platform == "x", Channel.active.is_(True),
        Channel.refresh_token_encrypted.is_not(None), Channel.token_expires_at <= soon)).all()
    db.session.commit()
    return sum(refresh_token(channel_id, now, config) == "refreshed" for channel_id in due)


META_PLATFORMS = ("facebook", "instagram", "whatsapp")


def check_meta_tokens(now: datetime, config) -> dict[str, int]:
    """Periodic (daily): check every connected Facebook, Instagram and WhatsApp token; how
    many ended in each outcome of `check_meta_token`."""
    ids = db.session.scalars(select(Channel.id).where(
        Channel.platform.in_(META_PLATFORMS), Channel.active.is_(True),
        Channel.state != "failing", Channel.access_token_encrypted.is_not(None))
        .order_by(Channel.id)).all()
    db.session.commit()
    outcomes: dict[str, int] = {}
    for channel_id in ids:
        outcome = check_meta_token(channel_id, now, config)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def check_meta_token(channel_id: int, now: datetime, config) -> str:
    """Is a Meta token still good, and until when? With DESK_META_APP_ID (and the app secret)
    Graph's debug_token says both; without it the identity call says whether it works. A dead
    token marks the channel failing before a reply finds out; one that expires within
    DESK_META_TOKEN_WARN_DAYS notifies the admins (once per expiry). Returns "ok",
    "expiring", "failing" or "unreachable". Commits."""
    channel = get_channel(channel_id)
    token = channel.access_token
    try:
        if config.get("META_APP_ID") and config.get("META_APP_SECRET"):
            info = senders.debug_meta_token(token or "", config)
            if not info["valid"]:
                raise SendError(f"{channel.platform}: the token is no longer valid "
                                f"({info['detail'] or 'debug_token'})", transient=False,
                                token_invalid=True)
            channel.token_expires_at = (datetime.fromtimestamp(info["expires_at"], UTC)
                                        if info["expires_at"] else None)
        else:
            senders.identify(channel.platform, channel.account_id, token, config)
    except SendError as exc:
        if exc.token_invalid:
            mark_failing(channel.id, str(exc), now)
            db.session.commit()
            return "failing"
        db.session.rollback()
        log.warning("channel %s: token check inconclusive: %s", channel_id, exc)
        return "unreachable"
    outcome = "ok"
    warn = timedelta(days=int(config["META_TOKEN_WARN_DAYS"]))
    if channel.token_expires_at is not None and channel.token_expires_at - now <= warn:
        outcome = "expiring"
        admins = db.session.scalars(select(User.id).where(
            User.active.is_(True), User.role == "admin")).all()
        day = channel.token_expires_at.strftime("%Y-%m-%d")
        notify(admins, "token_expiring",
               _l("The access token of %(name)s expires on %(day)s (UTC): save a new one on "
                  "its channel page before then.", name=channel.label, day=day),
               dedupe_key=f"token_expiring:{channel.id}:{day}", now=now)
    db.session.commit()
    return outcome
