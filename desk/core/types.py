"""Column types that behave the same on SQLite and PostgreSQL."""
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from desk.core.clock import as_utc


class UTCDateTime(TypeDecorator):
    """Stores UTC; always returns aware UTC datetimes (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return as_utc(value)

# The largest id an integer primary key holds on every database (PostgreSQL `integer`): ids
# from URLs and filters beyond it are "not found" or a 400, never a driver overflow (500).
MAX_ID = 2**31 - 1


def parse_id(raw) -> int | None:
    """An id from a form or query value: ASCII digits up to MAX_ID, else None ('²' and
    99999999999 pass str.isdigit but would crash int() or the database driver)."""
    raw = str(raw or "")
    if raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID:
        return int(raw)
    return None
