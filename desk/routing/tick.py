"""The periodic routing tick (workers.routing.tick, every ROUTING_TICK_SECONDS)."""
from datetime import datetime

from desk.inbox.snooze import wake_ended
from desk.routing.assignment import auto_teams, dispatch, rescue_at_risk
from desk.routing.availability import sweep_idle


def tick(now: datetime) -> int:
    """Idle agents away and back, ended snoozes woken, at-risk tickets of absent owners back
    in the queue, every automatic team dispatched; idempotent; returns the tickets handed out."""
    sweep_idle(now)
    wake_ended(now)
    rescue_at_risk(now)
    team_ids = [team.id for team in auto_teams()]
    return sum(len(dispatch(team_id, now)) for team_id in team_ids)
