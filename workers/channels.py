"""Channel jobs: keep X user tokens fresh; check Meta tokens daily."""
from flask import current_app

from desk.channels import tokens
from desk.core.clock import now as clock_now
from workers import job


@job
def refresh_tokens() -> int:
    """Periodic: refresh the X user tokens about to expire (idempotent; a row lock keeps two
    workers from refreshing the same token)."""
    return tokens.refresh_due_tokens(clock_now(), current_app.config)


@job
def check_meta_tokens() -> dict:
    """Periodic (daily): a dead Facebook, Instagram or WhatsApp token fails its channel before a
    reply does; one about to expire warns the admins (idempotent: one notice per expiry)."""
    return tokens.check_meta_tokens(clock_now(), current_app.config)
