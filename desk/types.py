"""Column types that behave the same on SQLite and PostgreSQL."""
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from desk.clock import as_utc


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
