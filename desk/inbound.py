"""Inbound events: each platform event is stored raw and unique before it is acknowledged.

The table is the ingest outbox: received -> enqueued -> processed | failed | dropped. A
re-sweep enqueues what Redis never got, so an acknowledged event is never lost.
"""
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk.clock import now as clock_now
from desk.extensions import db
from desk.types import UTCDateTime

EVENT_STATES = ("received", "enqueued", "processed", "failed", "dropped")


class InboundEvent(db.Model):
    __table_args__ = (
        UniqueConstraint("source", "dedupe_key"),
        Index("ix_inbound_event_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # meta, x, api, csv
    dedupe_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)  # the event's raw JSON
    status: Mapped[str] = mapped_column(String(10), default="received")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
