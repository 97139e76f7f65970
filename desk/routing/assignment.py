"""Automatic assignment: a team's waiting tickets, earliest SLA due time first, go to its online
members under capacity whose skills fit, by round robin or to the least loaded.

`dispatch(team_id, now)` is the one decision, and a fixpoint: run it any time and as often as
you like (a job after a ticket arrives or is resolved, an agent coming online, the periodic
tick) and it hands out what can be handed out. It reads the waiting tickets, the online
members and their loads without locks, then hands each ticket out in a transaction of its
own: it locks the chosen agent's row, counts that agent's open tickets again in the next
statement (which sees whatever the previous holder of the lock committed), and takes the
ticket by a conditional UPDATE (still unassigned). So concurrent dispatches never take an
agent past capacity nor give a ticket two owners, and as each transaction locks one agent,
they cannot deadlock on agents. On SQLite the lock is a write (the one write lock, held
before the count is read).

Assignment runs as a job after the intake transaction commits, not inside it: an ingest batch
would otherwise hold agent locks for the whole batch (serialising every worker on them), and
the SLA due time it orders by is set by another receiver of the same signal.
"""
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, bindparam, cast, exists, func, select, update

from desk.accounts import audit
from desk.accounts.users import User
from desk.core import signals
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.core.txcache import per_transaction
from desk.inbox.snooze import awake
from desk.inbox.tickets import Ticket
from desk.routing.models import Agent, Team, TeamMember
from desk.sla.board_counts import open_by_assignee

# Waiting tickets one dispatch reads at most (the next dispatch, or the tick, takes the rest).
WAITING_BATCH = 500
OPEN = ("open", "pending")  # what counts against capacity: anything not resolved


def dispatch(team_id: int, now: datetime) -> list[tuple[int, int]]:
    """Hand the team's waiting tickets to its free online members, one commit per ticket;
    (ticket, agent) pairs."""
    team = team_row(team_id)
    waiting = _waiting(team, now) if team is not None and team.mode != "off" else []
    handed: list[tuple[int, int]] = []
    if waiting:  # else nothing to decide: no agent row is read or locked
        mode, last, name = team.mode, team.last_assigned_user_id, team.name
        agents = online_members(team_id)
        loads = {agent.user_id: agent.load for agent in agents}
        for ticket_id, channel_id, language in waiting:
            agent = _claim_agent(mode, last, agents, loads, channel_id, language)
            if agent is None:
                if not any(loads[a.user_id] < a.capacity for a in agents):
                    break  # everyone is full
                continue  # nobody free fits this one; a later one may fit someone
            if _take(ticket_id, agent.user_id, team_id, name, mode, now):
                db.session.commit()
                loads[agent.user_id] += 1
                last = agent.user_id
                handed.append((ticket_id, agent.user_id))
            else:
                db.session.rollback()  # someone took the ticket meanwhile
    db.session.commit()
    return handed


def _claim_agent(mode: str, last: int | None, agents: list["Member"], loads: dict[int, int],
                 channel_id: int, language: str | None) -> "Member | None":
    """The member chosen for a ticket, with their row locked and their load counted again
    under the lock; a member found full or gone is marked full and the choice is made again."""
    while True:
        agent = choose(mode, last, agents, loads, channel_id, language)
        if agent is None:
            return None
        load = _lock_and_count(agent.user_id)
        if load is not None and load < agent.capacity:
            loads[agent.user_id] = load
            return agent
        db.session.rollback()
        loads[agent.user_id] = agent.capacity  # full, offline or deactivated meanwhile


# The decision's statements, built once: each dispatch runs them with its own values, on the
# Core connection (the ORM's per-statement work was a good part of a decision's time).
_ONLINE = (Agent.user_id == bindparam("agent_id"), Agent.status == "online",
           exists().where(User.id == Agent.user_id, User.active.is_(True)))
_LOCK = select(Agent.user_id).where(*_ONLINE).with_for_update(of=Agent)
_LOCK_SQLITE = update(Agent).where(*_ONLINE).values(capacity=Agent.capacity)  # the write lock
_OPEN_OF = select(func.count()).where(Ticket.assignee_id == bindparam("agent_id"),
                                      Ticket.status.in_(OPEN))
_TEAM = select(Team.mode, Team.last_assigned_user_id, Team.name, Team.channel_ids,
               Team.languages).where(Team.id == bindparam("team_id"))


_LOADS = open_by_assignee()
_MEMBERS = (select(Agent.user_id, Agent.capacity, cast(Agent.languages, Text),
                   cast(Agent.channel_ids, Text), func.coalesce(_LOADS.c.open, 0))
            .join(TeamMember, TeamMember.user_id == Agent.user_id)
            .join(User, User.id == Agent.user_id)
            .outerjoin(_LOADS, _LOADS.c.assignee_id == Agent.user_id)
            .where(TeamMember.team_id == bindparam("team_id"), Agent.status == "online",
                   User.active.is_(True))  # deactivated: never assigned
            .order_by(Agent.user_id))


def team_row(team_id: int):
    """What dispatch reads of a team (mode, last_assigned_user_id, name, channel_ids,
    languages), or None."""
    return db.session.connection().execute(_TEAM, {"team_id": team_id}).first()


def _lock_and_count(user_id: int) -> int | None:
    """Lock the agent's row if they are still online and active; their open tickets counted
    in the next statement (a fresh snapshot on PostgreSQL), or None."""
    connection, values = db.session.connection(), {"agent_id": user_id}
    if connection.dialect.name == "postgresql":
        held = connection.scalar(_LOCK, values)
    else:
        held = connection.execute(_LOCK_SQLITE, values).rowcount or None
    return None if held is None else connection.scalar(_OPEN_OF, values)


@dataclass(slots=True)
class Member:
    """An online member as dispatch reads them: capacity, skills and open tickets."""

    user_id: int
    capacity: int
    languages: list
    channel_ids: list
    load: int = 0

    def can_take(self, channel_id: int, language: str | None) -> bool:
        return ((not self.channel_ids or channel_id in self.channel_ids)
                and (not self.languages or language in self.languages))


def choose(mode: str, last_user_id: int | None, agents: list[Member], loads: dict[int, int],
           channel_id: int, language: str | None) -> Member | None:
    """The member who gets a ticket (agents in user id order), or None when nobody fits."""
    fits = [a for a in agents if loads[a.user_id] < a.capacity and a.can_take(channel_id, language)]
    if not fits:
        return None
    if mode == "least_loaded":
        return min(fits, key=lambda a: (loads[a.user_id], a.user_id))
    after = last_user_id or 0
    return next((a for a in fits if a.user_id > after), fits[0])


def online_members(team_id: int) -> list[Member]:
    """The team's online active members in user id order, with their open tickets from the
    kept counts (sla/board_counts.py: a few rows per agent, not every open ticket; no lock:
    each choice is checked again under the chosen agent's lock, by counting their tickets)."""
    # Skills are parsed only when set (most agents have none): with 200 agents two JSON
    # decodes per agent were half of this read's time.
    return [Member(user_id, capacity, _skills(languages), _skills(channel_ids), load)
            for user_id, capacity, languages, channel_ids, load
            in db.session.connection().execute(_MEMBERS, {"team_id": team_id})]


def _skills(raw: str | None) -> list:
    return [] if raw in (None, "", "[]", "null") else json.loads(raw)


def _waiting(team, now: datetime) -> list[tuple[int, int, str | None]]:
    """The team's open unassigned awake tickets, earliest due first, no running clock last
    (through ix_ticket_unassigned_due: ordered on PostgreSQL, a small sort on SQLite)."""
    query = select(Ticket.id, Ticket.channel_id, Ticket.language).where(
        Ticket.assignee_id.is_(None), Ticket.status == "open", awake(now))
    if team.channel_ids:
        query = query.where(Ticket.channel_id.in_(team.channel_ids))
    if team.languages:
        query = query.where(Ticket.language.in_(team.languages))
    return list(db.session.connection().execute(query.order_by(
        Ticket.sla_due_at.asc().nulls_last(), Ticket.id).limit(WAITING_BATCH)))


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
