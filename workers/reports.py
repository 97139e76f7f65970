"""Report jobs: keep the service report's roll-up up to date."""
from desk.core.clock import now as clock_now
from workers import job


@job
def refresh_rollup() -> tuple[bool, int | None, int | None]:
    """Take in the changes since the last run (idempotent: run it any time); returns
    (full rebuild, tickets taken in, customers taken in; None: all of them)."""
    from desk.reports.refresh import refresh_rollup as refresh
    result = refresh(clock_now())
    return result.full, result.tickets, result.customers
