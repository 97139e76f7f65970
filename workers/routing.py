"""Routing jobs: one team's dispatch, and the periodic tick (idle agents, snoozes, catch-up)."""
from workers import job


@job
def dispatch(team_id: int) -> int:
    """Hand out the team's waiting tickets (idempotent: a fixpoint, run it any time)."""
    from desk.core.clock import now
    from desk.routing.assignment import dispatch as run_dispatch
    return len(run_dispatch(team_id, now()))


@job
def tick() -> int:
    """Idle agents away (and back), snoozes that ended woken, then every automatic team's
    dispatch: what a job lost while Redis was down is handed out here."""
    from desk.core.clock import now
    from desk.routing.tick import tick as run_tick
    return run_tick(now())
