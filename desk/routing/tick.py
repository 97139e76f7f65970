"""The periodic routing tick (workers.routing.tick, every ROUTING_TICK_SECONDS)."""
from datetime import datetime

from desk.inbox.snooze import wake_ended
from desk.routing.assignment import auto_teams, dispatch
from desk.routing.availability import sweep_idle


def tick(now: datetime) -> int:
    """Idle agents away and back, ended snoozes woken, every automatic team dispatched;
    idempotent; returns the tickets handed out."""
    sweep_idle(now)
    wake_ended(now)
    team_ids = [team.id for team in auto_teams()]
    return sum(len(dispatch(team_id, now)) for team_id in team_ids)
