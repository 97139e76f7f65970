"""SLA jobs: the periodic sweep, the board counts' compaction and the optional e-mail to leads."""
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


@job
def compact_board_counts() -> int:
    """Fold the board's kept counts into one row per key (idempotent: run it any time)."""
    from desk.sla.board_counts import compact
    return compact()
