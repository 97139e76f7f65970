"""Inbound jobs: turn stored webhook/API events into tickets; re-sweep what Redis lost."""
from desk.core.clock import now
from desk.intake import events, ingest
from workers import job


@job
def process_events(event_ids: list[int]) -> dict:
    """Process these stored events and any others waiting (idempotent: done ones are skipped)."""
    return ingest.drain(event_ids, now())


@job
def resweep() -> int:
    """Periodic: enqueue events still waiting after INBOUND_STALE_SECONDS."""
    return events.resweep(now())
