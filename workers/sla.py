"""SLA jobs: the periodic sweep and the optional e-mail to leads."""
from workers import job


@job
def sweep() -> tuple[int, int]:
    """Record due warnings and breaches by the database clock (idempotent: run it any time)."""
    from desk.sla.sweep import sweep as run_sweep
    result = run_sweep()
    return len(result.warnings), len(result.breaches)


@job
def mail_event(clock_id: int, event: str) -> bool:
    """E-mail the leads about one recorded warning or breach."""
    from desk.sla.sweep import mail_event as send
    return send(clock_id, event)
