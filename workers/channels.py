"""Channel jobs: keep X user tokens fresh."""
from flask import current_app

from desk.channels import accounts
from desk.core.clock import now as clock_now
from workers import job


@job
def refresh_tokens() -> int:
    """Periodic: refresh the X user tokens about to expire (idempotent; a row lock keeps two
    workers from refreshing the same token)."""
    return accounts.refresh_due_tokens(clock_now(), current_app.config)
