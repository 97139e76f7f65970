"""Escalation jobs: the ladder sweep, e-mail to the level's people, signed outgoing webhooks."""
from workers import job


@job
def ladder_sweep() -> dict:
    """Periodic: renotify/climb overdue escalations and apply the breach-plus-minutes rule."""
    from desk.core.clock import now
    from desk.escalation.rules import ladder_sweep as sweep
    return sweep(now())


@job
def mail_escalation(escalation_id: int, event: str) -> int:
    """E-mail the people of the escalation's level (notify queue); returns recipients."""
    from desk.escalation.mail import mail_escalation as send
    return send(escalation_id, event)


@job
def deliver_webhook(delivery_id: int) -> str:
    """Send one outgoing webhook; raises while retries remain (RQ Retry)."""
    from desk.core.clock import now
    from desk.notify.webhooks import deliver
    return deliver(delivery_id, now())


@job
def detect_crisis(message_id: int) -> bool:
    """Crisis detection for a message an inbound batch could not look at (lock busy)."""
    from desk.core.clock import now
    from desk.escalation.crisis import detect_later
    return detect_later(message_id, now())
