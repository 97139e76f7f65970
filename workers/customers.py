"""Customer jobs: look up a Messenger or Instagram customer's name and picture; the daily
retention purge of old message text."""
from flask import current_app

from desk.core.clock import now as clock_now
from desk.customers import profiles
from desk.people import purge
from workers import job


@job
def refresh_profile(platform: str, user_id: str, channel_id: int) -> str:
    """The customer's profile from the platform (idempotent: fresh profiles are left alone;
    raises ProfileLookupFailed on a transient error so RQ retries)."""
    return profiles.refresh_profile(platform, user_id, channel_id, clock_now(), current_app.config)


@job
def purge_old_text() -> int:
    """Remove text older than DESK_TEXT_RETENTION_MONTHS (nothing when 0); idempotent, and
    a run stopped half-way is finished by the next. Returns the rows changed."""
    return purge.purge_old_text(clock_now(), int(current_app.config["TEXT_RETENTION_MONTHS"])).total
