"""Customer jobs: look up a Messenger or Instagram customer's name and picture."""
from flask import current_app

from desk.core.clock import now as clock_now
from desk.customers import profiles
from workers import job


@job
def refresh_profile(platform: str, user_id: str, channel_id: int) -> str:
    """The customer's profile from the platform (idempotent: fresh profiles are left alone;
    raises ProfileLookupFailed on a transient error so RQ retries)."""
    return profiles.refresh_profile(platform, user_id, channel_id, clock_now(), current_app.config)
