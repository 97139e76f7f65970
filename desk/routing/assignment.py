"""Automatic assignment: a team's waiting tickets, earliest SLA due time first, go to its online
members under capacity whose skills fit, by round robin or to the least loaded.

`dispatch(team_id, now)` is the one decision, and a fixpoint: run it any time and as often as
you like (a job after a ticket arrives or is resolved, an agent coming online, the periodic
tick) and it hands out what can be handed out. It reads the team and its waiting tickets in
one statement, then hands each ticket out in a transaction of its own: one statement chooses
the member (online, under capacity by the board's kept counts, skills that fit, in the mode's
order) and locks their row, the next counts that agent's open tickets again (it sees whatever
the previous holder of the lock committed), and a conditional UPDATE takes the ticket (still
unassigned). So concurrent dispatches never take an
agent past capacity nor give a ticket two owners, and as each transaction locks one agent,
they cannot deadlock on agents. On SQLite the lock is a write (the one write lock, held
before the count is read).

Assignment runs as a job after the intake transaction commits, not inside it: an ingest batch
would otherwise hold agent locks for the whole batch (serialising every worker on them), and
the SLA due time it orders by is set by another receiver of the same signal.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, bindparam, exists, func, select, true, update

from desk.accounts import audit
from desk.accounts.users import User
from desk.core import signals
from desk.core.extensions import db
from desk.core.jsonlists import list_allows
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
    team = read_team(team_id, now)
    handed: list[tuple[int, int]] = []
    if team is not None and team.mode != "off":
        last = team.last_assigned_user_id
        for ticket_id, channel_id, language in team.waiting:
            agent_id = claim_agent(team_id, team.mode, last, channel_id, language)
            if agent_id is None:
                _release()
                if not _anyone_has_room(team_id):
                    break  # everyone is full
                continue  # nobody free fits this one; a later one may fit someone
            if _take(ticket_id, agent_id, team_id, team.name, team.mode, now):
                db.session.commit()
                last = agent_id
                handed.append((ticket_id, agent_id))
            else:
                _release()  # someone took the ticket meanwhile
    db.session.commit()
    return handed


def _release() -> None:
    """End a transaction that changed nothing (a lock taken, a choice given up) with COMMIT,
    not ROLLBACK: psycopg forgets its prepared statements on every ROLLBACK, and planning the
    decision's statements again each time costs more than running them."""
    db.session.commit()


# The decision's statements, built once and run on the Core connection with each dispatch's
# values. The choice is made in the database (the member with room whose skills fit, in the
# mode's order, one row back) rather than by reading every member: with 200 online agents
# reading them all was most of a decision's time.
_TEAM_CHANNELS = select(Team.channel_ids).where(Team.id == bindparam("team_id")).scalar_subquery()
_TEAM_LANGUAGES = select(Team.languages).where(Team.id == bindparam("team_id")).scalar_subquery()
_WAITING = (select(Ticket.id, Ticket.channel_id, Ticket.language, Ticket.sla_due_at).where(
    Ticket.assignee_id.is_(None), Ticket.status == "open", awake(bindparam("now")),
    list_allows(_TEAM_CHANNELS, Ticket.channel_id), list_allows(_TEAM_LANGUAGES, Ticket.language))
    .order_by(Ticket.sla_due_at.asc().nulls_last(), Ticket.id).limit(WAITING_BATCH).subquery())
# The team's settings, with its waiting tickets (none: the team's row alone).
_TEAM_AND_WAITING = (
    select(Team.mode, Team.last_assigned_user_id, Team.name, _WAITING.c.id,
           _WAITING.c.channel_id, _WAITING.c.language)
    .outerjoin(_WAITING, true()).where(Team.id == bindparam("team_id"))
    .order_by(_WAITING.c.sla_due_at.asc().nulls_last(), _WAITING.c.id))

_LOADS = open_by_assignee()
_LOAD = func.coalesce(_LOADS.c.open, 0)
_HAS_ROOM = (select(Agent.user_id, Agent.capacity)
             .join(TeamMember, TeamMember.user_id == Agent.user_id)
             .join(User, User.id == Agent.user_id)
             .outerjoin(_LOADS, _LOADS.c.assignee_id == Agent.user_id)
             .where(TeamMember.team_id == bindparam("team_id"), Agent.status == "online",
                    User.active.is_(True),  # deactivated: never assigned
                    _LOAD < Agent.capacity))
_ORDER = {"least_loaded": (_LOAD, Agent.user_id),
          # round robin: the first member after the last one served, else from the start
          "round_robin": (Agent.user_id <= bindparam("last"), Agent.user_id)}
_FITS = (list_allows(Agent.channel_ids, bindparam("channel_id", type_=Integer)),
         list_allows(Agent.languages, bindparam("language", type_=String)))
_PASSED = Agent.user_id.not_in(bindparam("passed", expanding=True))  # found full under the lock


def _choice(order, lock: bool, passing: bool):
    """The statement that chooses one member (and locks their row when `lock`)."""
    query = _HAS_ROOM.where(*_FITS, *([_PASSED] if passing else [])).order_by(*order).limit(1)
    return query.with_for_update(of=Agent) if lock else query


# (mode, lock, with members passed over) -> the choice
_CHOOSE = {(mode, lock, passing): _choice(order, lock, passing) for mode, order in _ORDER.items()
           for lock in (False, True) for passing in (False, True)}
_ONLINE = (Agent.user_id == bindparam("agent_id"), Agent.status == "online",
           exists().where(User.id == Agent.user_id, User.active.is_(True)))
_LOCK_SQLITE = update(Agent).where(*_ONLINE).values(capacity=Agent.capacity)  # the write lock
_OPEN_OF = select(func.count()).where(Ticket.assignee_id == bindparam("agent_id"),
                                      Ticket.status.in_(OPEN))


@dataclass(slots=True)
class TeamToDispatch:
    """What dispatch reads of a team: its settings and its waiting tickets, earliest due
    first, as (ticket id, channel id, language)."""

    mode: str
    last_assigned_user_id: int | None
    name: str
    waiting: list[tuple[int, int, str | None]]


def read_team(team_id: int, now: datetime) -> TeamToDispatch | None:
    """The team and its open unassigned awake tickets in its channels and languages, earliest
    due first, no running clock last (through ix_ticket_unassigned_due), or None."""
    rows = db.session.connection().execute(_TEAM_AND_WAITING,
                                           {"team_id": team_id, "now": now}).all()
    if not rows:
        return None
    mode, last, name = rows[0][:3]
    return TeamToDispatch(mode, last, name, [(ticket_id, channel_id, language)
                                             for *_, ticket_id, channel_id, language in rows
                                             if ticket_id is not None])


def claim_agent(team_id: int, mode: str, last: int | None, channel_id: int,
                language: str | None) -> int | None:
    """The online member with room whose skills fit the ticket, chosen by the team's mode,
    with their row locked and their open tickets counted again under the lock (the count
    from the kept board counts may be a moment old); a member found full is passed over and
    the choice made again. None when nobody fits."""
    connection = db.session.connection()
    postgresql = connection.dialect.name == "postgresql"
    passed: list[int] = []
    while True:
        values = {"team_id": team_id, "channel_id": channel_id, "language": language,
                  "last": last or 0, "passed": passed}
        # PostgreSQL locks the chosen row in the same statement; the count comes in the
        # next one, whose snapshot sees whatever the previous holder of the lock committed.
        chosen = connection.execute(_CHOOSE[mode, postgresql, bool(passed)], values).first()
        if chosen is None:
            return None
        agent_id, capacity = chosen
        if not postgresql and not connection.execute(_LOCK_SQLITE, {"agent_id": agent_id}).rowcount:
            load = None  # gone offline or deactivated meanwhile
        else:
            load = connection.scalar(_OPEN_OF, {"agent_id": agent_id})
        if load is not None and load < capacity:
            return agent_id
        _release()
        passed.append(agent_id)
        connection = db.session.connection()


def _anyone_has_room(team_id: int) -> bool:
    return db.session.connection().execute(_HAS_ROOM.limit(1), {"team_id": team_id}).first() is not None


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
