"""Names and pictures of Messenger and Instagram customers, from the platform's profile lookup
(their webhooks carry only a page- or Instagram-scoped id). Asked for after the message that
shows a customer without a name or with a profile older than a day is committed; looked up by
a job on the default queue; failures tolerated (the customer keeps what it had) and retried
(transient errors by RQ, refusals the next day)."""
import logging
from datetime import datetime, timedelta

from flask import current_app
from rq import Retry

from desk.channels import senders
from desk.channels.accounts import Channel, mark_failing
from desk.channels.base import NormalizedMessage, SendError
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.customers.identities import find_identity
from desk.customers.models import Customer

log = logging.getLogger(__name__)

PROFILE_PLATFORMS = tuple(senders.PROFILE_FIELDS)  # facebook (Messenger), instagram
REFRESH_AFTER = timedelta(days=1)
RETRY_SECONDS = [60, 600, 3600]


class ProfileLookupFailed(Exception):
    """The platform could not answer now: RQ tries the job again later."""


def _fresh(customer: Customer, now: datetime) -> bool:
    return customer.profile_checked_at is not None and \
        now - customer.profile_checked_at < REFRESH_AFTER


def want_profile(customer: Customer, message: NormalizedMessage, channel: Channel,
                 now: datetime, memo: dict | None = None) -> bool:
    """Ask (after commit) for the profile of a DM's author when it is not fresh and the
    channel has a working token; once per author per batch. True when asked."""
    if (message.kind != "dm" or message.platform not in PROFILE_PLATFORMS or not message.author
            or not channel.token_last4 or channel.failing or _fresh(customer, now)
            or current_app.config["SANDBOX"]):
        return False
    key = ("profile", message.platform, message.author.id[:100])
    if memo is not None:
        if key in memo:
            return False
        memo[key] = True
    enqueue_after_commit("default", "workers.customers.refresh_profile", message.platform,
                         message.author.id[:100], channel.id,
                         retry=Retry(max=len(RETRY_SECONDS), interval=RETRY_SECONDS))
    return True


def refresh_profile(platform: str, user_id: str, channel_id: int, now: datetime,
                    config) -> str:
    """Look the customer's profile up through the channel and keep their name, handle and
    picture; idempotent (a profile looked up within a day is left alone). Returns what
    happened; raises ProfileLookupFailed on a transient error. Commits."""
    identity = find_identity(platform, user_id)
    if identity is None:
        return "unknown"
    customer = identity.customer
    if _fresh(customer, now):
        return "fresh"
    channel = db.session.get(Channel, channel_id)
    if channel is None or not channel.active or channel.failing or channel.platform != platform:
        return "no_channel"
    try:
        profile = senders.fetch_profile(platform, user_id, channel.access_token, config)
    except SendError as exc:
        if exc.token_invalid:
            mark_failing(channel.id, str(exc), now)
            db.session.commit()
            return "channel_failing"
        if exc.transient:
            db.session.rollback()
            raise ProfileLookupFailed(str(exc)) from exc
        log.info("profile of %s customer %s not available: %s", platform, customer.id, exc)
        customer.profile_checked_at = now  # refused (privacy, deleted user): again tomorrow
        db.session.commit()
        return "refused"
    name = (profile["name"] or "")[:200]
    # A name the platform gave replaces a missing one or the platform's previous one, never
    # one taken from elsewhere.
    if name and (not customer.name_known or customer.display_name == identity.name):
        customer.display_name = name
    if name:
        identity.name = name
    if profile["handle"]:
        identity.handle = profile["handle"][:120]
    if profile["picture"]:
        customer.avatar_url = profile["picture"][:500]
    customer.profile_checked_at = now
    db.session.commit()
    return "updated"
