"""Outbound jobs: deliver one agent reply to its platform (RQ retries transient failures)."""
from desk.core.clock import now
from desk.inbox import outbound
from workers import job


@job
def send_reply(message_id: int) -> str | None:
    """Send a released reply once; raises DeliveryFailed on a transient error to be retried."""
    return outbound.deliver(message_id, now())


@job
def sweep_interrupted() -> int:
    """Periodic: settle sends whose worker died mid-call (delivered via echo, else failed)."""
    return outbound.sweep_interrupted(now())
