"""The one place that reads the wall clock; everything else takes `now` as a parameter."""
import os
from datetime import datetime, timedelta, timezone

# DESK_CLOCK_OFFSET_SECONDS moves the desk's clock, in this process and as it reads the
# database's, by a fixed amount: the test suite's base-time run (.ci/test) gives it to every
# process it starts, so they all agree on one moved time. Unset (0) in production.
OFFSET = timedelta(seconds=float(os.environ.get("DESK_CLOCK_OFFSET_SECONDS") or 0))


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc) + OFFSET


def moved(moment: datetime) -> datetime:
    """A time read from another clock (the database's), moved like this one."""
    return moment + OFFSET


def as_utc(value: datetime | None) -> datetime | None:
    """The same instant as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
