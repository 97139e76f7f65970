"""The one place that reads the wall clock; everything else takes `now` as a parameter."""
from datetime import datetime, timezone


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """The same instant as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
