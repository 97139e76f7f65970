"""Automatic assignment: a team's waiting tickets, earliest SLA due time first, go to its online
members under capacity whose skills fit, by round robin or to the least loaded.

`dispatch(team_id, now)` is a fixpoint: run it any time and as often as you like (a job after
a ticket arrives or is resolved, an agent coming online, the periodic tick) and it hands out
what can be handed out. Each ticket goes in a transaction of its own: the decision
(routing/decision.py: the next waiting ticket, the member chosen for it with their row locked
and their open tickets counted again under the lock), then a conditional UPDATE takes the
ticket (still unassigned). So concurrent dispatches never take an agent past capacity nor
give a ticket two owners, and as each transaction locks one agent, they cannot deadlock on
agents. On SQLite the lock is a write (the one write lock, held before the count is read).

Assignment runs as a job after the intake transaction commits, not inside it: an ingest batch
would otherwise hold agent locks for the whole batch (serialising every worker on them), and
the SLA due time it orders by is set by another receiver of the same signal.
"""
from datetime import datetime

from sqlalchemy import select, update

from desk.accounts import audit
from desk.core import signals
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.core.txcache import per_transaction
from desk.inbox.tickets import Ticket
from desk.routing import decision
from desk.routing.models import Agent, Team, TeamMember

# Tickets one dispatch hands out or passes over at most (the next dispatch, or the tick,
# takes the rest).
WAITING_BATCH = 500


def dispatch(team_id: int, now: datetime) -> list[tuple[int, int]]:
    """Hand the team's waiting tickets to its free online members, one commit per ticket;
    (ticket, agent) pairs."""
    handed: list[tuple[int, int]] = []
    skipped: list[int] = []  # waiting tickets nobody free fits, in this dispatch
    for _ in range(WAITING_BATCH):
        step = decision.next_assignment(team_id, now, skipped)
        if step is None or step.ticket_id is None:
            break  # no such team, it assigns nothing, or nothing waits
        if step.agent_id is None:
            _release()
            if not step.anyone_has_room:
                break  # everyone is full
            skipped.append(step.ticket_id)  # nobody free fits this one; a later one may
            continue
        if _take(step.ticket_id, step.agent_id, team_id, step.team_name, step.mode, now):
            db.session.commit()
            handed.append((step.ticket_id, step.agent_id))
        else:
            _release()  # someone took the ticket meanwhile
    db.session.commit()
    return handed


def _release() -> None:
    """End a transaction that changed nothing (a lock taken, a choice given up) with COMMIT,
    not ROLLBACK: psycopg forgets its prepared statements on every ROLLBACK, and planning the
    decision's statements again each time costs more than running them."""
    db.session.commit()


def _take(ticket_id: int, user_id: int, team_id: int, team_name: str, mode: str,
          now: datetime) -> bool:
    taken = db.session.execute(
        update(Ticket).where(Ticket.id == ticket_id, Ticket.assignee_id.is_(None),
                             Ticket.status == "open")
        .values(assignee_id=user_id, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1
    if taken:
        db.session.execute(update(Team).where(Team.id == team_id)
                           .values(last_assigned_user_id=user_id)
                           .execution_options(synchronize_session=False))
        audit.record("ticket.assigned", ticket_id=ticket_id, actor=f"routing:{team_id}", at=now,
                     data={"assignee": user_id, "team": team_name, "mode": mode})
    return taken


def hand_back(user_id: int, now: datetime) -> list[int]:
    """Unassign the agent's open tickets with no reply yet that a team of theirs takes back
    (return_on_offline); no commit (the caller's transaction). Returns the team ids to dispatch."""
    teams = list(db.session.scalars(select(Team).join(TeamMember).where(
        TeamMember.user_id == user_id, Team.return_on_offline.is_(True)).order_by(Team.id)))
    if not teams:
        return []
    tickets = db.session.scalars(select(Ticket).where(
        Ticket.assignee_id == user_id, Ticket.status == "open",
        Ticket.first_response_at.is_(None)).order_by(Ticket.id).with_for_update())
    returned = set()
    for ticket in tickets:
        team = next((t for t in teams if t.serves(ticket.channel_id, ticket.language)), None)
        if team is None:
            continue
        ticket.assignee_id, ticket.updated_at = None, now
        audit.record("ticket.unassigned", ticket_id=ticket.id, actor=f"routing:{team.id}", at=now,
                     data={"previous": user_id, "reason": "offline", "team": team.name})
        returned.add(team.id)
    return sorted(returned)


def rescue_at_risk(now: datetime) -> int:
    """At-risk tickets with no reply yet whose owner is away or offline go back to the queue
    of an automatic team that serves them, for someone free to take; commits; how many."""
    teams = auto_teams()
    absent = select(Agent.user_id).where(Agent.status != "online")
    tickets = db.session.scalars(select(Ticket).where(
        Ticket.status == "open", Ticket.first_response_at.is_(None),
        Ticket.sla_state.in_(("on_track", "at_risk", "breached")), Ticket.sla_warn_at <= now,
        Ticket.assignee_id.in_(absent)).order_by(Ticket.sla_due_at, Ticket.id)
        .limit(WAITING_BATCH).with_for_update()) if teams else []
    rescued = 0
    for ticket in tickets:
        team = next((t for t in teams if t.serves(ticket.channel_id, ticket.language)), None)
        if team is not None:
            audit.record("ticket.unassigned", ticket_id=ticket.id, actor=f"routing:{team.id}",
                         at=now, data={"previous": ticket.assignee_id, "reason": "at_risk",
                                       "team": team.name})
            ticket.assignee_id, ticket.updated_at = None, now
            rescued += 1
    db.session.commit()
    return rescued


def auto_teams() -> list[Team]:
    """Teams with automatic assignment on (read once per transaction)."""
    return per_transaction("routing_auto_teams", (Team,), lambda: list(db.session.scalars(
        select(Team).where(Team.mode != "off").order_by(Team.id))))


def teams_of(user_id: int) -> list[int]:
    """Ids of the teams with automatic assignment that `user_id` belongs to."""
    return list(db.session.scalars(select(Team.id).join(TeamMember).where(
        TeamMember.user_id == user_id, Team.mode != "off").order_by(Team.id)))


def dispatch_after_commit(team_ids) -> None:
    """Enqueue one dispatch job per team once the current transaction commits."""
    asked = per_transaction("routing_dispatch_asked", (), set)
    for team_id in team_ids:
        if team_id not in asked:
            asked.add(team_id)
            enqueue_after_commit("default", "workers.routing.dispatch", team_id)


@signals.customer_message.connect
def _on_customer_message(ticket, message, now, **_):
    """New or reopened work with no owner: its teams dispatch after the commit."""
    if ticket.assignee_id is None and ticket.status not in ("pending", "resolved"):
        channel_id = ticket.channel_id or ticket.channel.id  # a new ticket is not flushed yet
        dispatch_after_commit(t.id for t in auto_teams() if t.serves(channel_id, ticket.language))


@signals.ticket_resolved.connect
def _on_ticket_resolved(ticket, now, **_):
    """A resolved ticket frees capacity: its owner's teams dispatch after the commit."""
    if ticket.assignee_id is not None:
        dispatch_after_commit(teams_of(ticket.assignee_id))
