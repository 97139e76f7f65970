"""Inbound jobs: turn stored webhook/API events into tickets; re-sweep what Redis lost."""
from desk import inbound
from desk.clock import now
from workers import job


@job
def process_events(event_ids: list[int]) -> dict:
    """Process these stored events and any others waiting (idempotent: done ones are skipped)."""
    return inbound.drain(event_ids, now())


@job
def resweep() -> int:
    """Periodic: enqueue events still waiting after INBOUND_STALE_SECONDS."""
    return inbound.resweep(now())
