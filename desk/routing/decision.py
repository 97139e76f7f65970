"""The assignment decision: a team's next waiting ticket and the member who gets it, with
that member's row locked and their open tickets counted again under the lock.

The statements are built once from one set of builders. On SQLite they run one after another
(no round trips there). On PostgreSQL the same statements, compiled into a PL/pgSQL function,
run in one call: a decision there was five round trips, most of its time. Each statement of
a (volatile) function takes a fresh snapshot under READ COMMITTED, so the count after the
lock still sees whatever the previous holder of the lock committed. The function's name
carries a hash of its body: a changed statement is a new function, installed on first use
(or by `db.create_all` and the migrations), so a stale one is never called.
"""
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (Integer, String, any_, bindparam, event, exists, func, literal_column,
                        not_, select, update)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import ProgrammingError

from desk.accounts.users import User
from desk.core.extensions import db
from desk.core.jsonlists import list_allows
from desk.inbox.snooze import awake
from desk.inbox.tickets import Ticket
from desk.routing.models import Agent, Team, TeamMember
from desk.sla.board_counts import open_by_assignee

OPEN = ("open", "pending")  # what counts against capacity: anything not resolved
_LOADS = open_by_assignee()
_LOAD = func.coalesce(_LOADS.c.open, 0)


@dataclass(slots=True)
class Next:
    """One step of a dispatch: the team's settings, its next waiting ticket (None: nothing
    waits, or the team assigns nothing) and the member chosen for it (None: nobody fits, and
    `anyone_has_room` says whether anyone could take another ticket at all)."""

    mode: str
    last_assigned_user_id: int | None
    team_name: str
    ticket_id: int | None = None
    agent_id: int | None = None
    anyone_has_room: bool = True


def waiting(team_id, now, skipped):
    """The team's next open unassigned awake ticket in its channels and languages, earliest
    due first, no running clock last (through ix_ticket_unassigned_due), not in `skipped`."""
    channels = select(Team.channel_ids).where(Team.id == team_id).scalar_subquery()
    languages = select(Team.languages).where(Team.id == team_id).scalar_subquery()
    return (select(Ticket.id, Ticket.channel_id, Ticket.language).where(
        Ticket.assignee_id.is_(None), Ticket.status == "open", awake(now),
        list_allows(channels, Ticket.channel_id), list_allows(languages, Ticket.language),
        *([skipped] if skipped is not None else []))
        .order_by(Ticket.sla_due_at.asc().nulls_last(), Ticket.id).limit(1))


def has_room(team_id):
    """The team's online active members under capacity (by the board's kept counts)."""
    return (select(Agent.user_id, Agent.capacity)
            .join(TeamMember, TeamMember.user_id == Agent.user_id)
            .join(User, User.id == Agent.user_id)
            .outerjoin(_LOADS, _LOADS.c.assignee_id == Agent.user_id)
            .where(TeamMember.team_id == team_id, Agent.status == "online",
                   User.active.is_(True),  # deactivated: never assigned
                   _LOAD < Agent.capacity))


def choice(mode: str, team_id, channel_id, language, last, passed, lock: bool):
    """The member with room whose skills fit, first in the mode's order (round robin: the
    first after the last one served, else from the start), not in `passed`; locked if `lock`."""
    order = ((_LOAD, Agent.user_id) if mode == "least_loaded"
             else (Agent.user_id <= last, Agent.user_id))
    query = (has_room(team_id).where(
        list_allows(Agent.channel_ids, channel_id), list_allows(Agent.languages, language),
        *([passed] if passed is not None else [])).order_by(*order).limit(1))
    return query.with_for_update(of=Agent) if lock else query


def open_of(agent_id):
    return select(func.count()).where(Ticket.assignee_id == agent_id, Ticket.status.in_(OPEN))


# SQLite: the statements with bound values, run one after another.
_TEAM = select(Team.mode, Team.last_assigned_user_id, Team.name).where(
    Team.id == bindparam("team_id"))
_SKIPPED = Ticket.id.not_in(bindparam("skipped", expanding=True))
_WAITING = {skipping: waiting(bindparam("team_id"), bindparam("now"),
                              _SKIPPED if skipping else None) for skipping in (False, True)}
_PASSED = Agent.user_id.not_in(bindparam("passed", expanding=True))
_CHOOSE = {(mode, passing): choice(mode, bindparam("team_id"),
                                   bindparam("channel_id", type_=Integer),
                                   bindparam("language", type_=String), bindparam("last"),
                                   _PASSED if passing else None, lock=False)
           for mode in ("least_loaded", "round_robin") for passing in (False, True)}
_HAS_ROOM = has_room(bindparam("team_id")).limit(1)
_ONLINE = (Agent.user_id == bindparam("agent_id"), Agent.status == "online",
           exists().where(User.id == Agent.user_id, User.active.is_(True)))
_LOCK = update(Agent).where(*_ONLINE).values(capacity=Agent.capacity)  # the one write lock
_OPEN_OF = open_of(bindparam("agent_id"))


def next_assignment(team_id: int, now: datetime, skipped: list[int]) -> Next | None:
    """The next step of the team's dispatch (see Next), the chosen member's row locked until
    the transaction ends; None when there is no such team."""
    if db.session.connection().dialect.name == "postgresql":
        return _next_in_postgresql(team_id, now, skipped)
    connection = db.session.connection()
    team = connection.execute(_TEAM, {"team_id": team_id}).first()
    if team is None:
        return None
    step = Next(*team)
    if step.mode == "off":
        return step
    ticket = connection.execute(_WAITING[bool(skipped)], {
        "team_id": team_id, "now": now, "skipped": skipped}).first()
    if ticket is None:
        return step
    step.ticket_id, channel_id, language = ticket
    passed: list[int] = []
    while step.agent_id is None:
        chosen = connection.execute(_CHOOSE[step.mode, bool(passed)], {
            "team_id": team_id, "channel_id": channel_id, "language": language,
            "last": step.last_assigned_user_id or 0, "passed": passed}).first()
        if chosen is None:
            room = connection.execute(_HAS_ROOM, {"team_id": team_id}).first()
            step.anyone_has_room = room is not None
            return step
        # The write takes SQLite's one write lock; the count after it sees every commit.
        locked = connection.execute(_LOCK, {"agent_id": chosen.user_id}).rowcount
        if locked and connection.scalar(_OPEN_OF, {"agent_id": chosen.user_id}) < chosen.capacity:
            step.agent_id = chosen.user_id
        else:
            passed.append(chosen.user_id)  # full, offline or deactivated meanwhile
    return step


# PostgreSQL: the same statements in one function. Its parameters and variables stand where
# the bound values stood.
def _sql(statement) -> str:
    return str(statement.compile(dialect=postgresql.dialect(),
                                 compile_kwargs={"literal_binds": True}))


def _function_body() -> str:
    var = literal_column
    first = waiting(var("p_team_id"), var("p_now"), not_(Ticket.id == any_(var("p_skipped"))))
    pick = {mode: choice(mode, var("p_team_id"), var("w_channel"), var("w_language"),
                         var("coalesce(o_last, 0)"), not_(Agent.user_id == any_(var("passed"))),
                         lock=True) for mode in ("least_loaded", "round_robin")}
    return f"""
#variable_conflict use_column
DECLARE
  w_channel integer; w_language varchar; chosen integer; room integer; load bigint;
  passed integer[] := '{{}}';
BEGIN
  SELECT team.mode, team.last_assigned_user_id, team.name INTO o_mode, o_last, o_name
    FROM team WHERE team.id = p_team_id;
  IF NOT FOUND OR o_mode = 'off' THEN RETURN; END IF;
  SELECT q.id, q.channel_id, q.language INTO o_ticket, w_channel, w_language
    FROM ({_sql(first)}) AS q;
  IF o_ticket IS NULL THEN RETURN; END IF;
  o_room := true;
  LOOP
    -- A block of its own (a subtransaction): a member found full is let go by raising,
    -- which rolls the block back and releases their row, so that two dispatches passing
    -- over full members never wait on each other's locks.
    BEGIN
      IF o_mode = 'least_loaded' THEN
        SELECT q.user_id, q.capacity INTO chosen, room FROM ({_sql(pick["least_loaded"])}) AS q;
      ELSE
        SELECT q.user_id, q.capacity INTO chosen, room FROM ({_sql(pick["round_robin"])}) AS q;
      END IF;
      IF chosen IS NULL THEN
        o_room := EXISTS ({_sql(has_room(var("p_team_id")))});
        RETURN;
      END IF;
      SELECT q.count_1 INTO load FROM ({_sql(open_of(var("chosen")))}) AS q;
      IF load < room THEN o_agent := chosen; RETURN; END IF;
      RAISE EXCEPTION 'full' USING ERRCODE = 'DK001';
    EXCEPTION WHEN SQLSTATE 'DK001' THEN
      passed := passed || chosen;  -- variables keep their values through the rollback
    END;
  END LOOP;
END"""


_BODY = _function_body()
FUNCTION = "routing_next_" + hashlib.sha256(_BODY.encode()).hexdigest()[:12]
_CALL = f"SELECT * FROM {FUNCTION}(%(team_id)s, %(now)s, %(skipped)s::integer[])"


def install(connection) -> None:
    """Create the function (PostgreSQL only; a no-op elsewhere)."""
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {FUNCTION}(p_team_id integer, p_now timestamptz, "
        "p_skipped integer[], OUT o_mode varchar, OUT o_last integer, OUT o_name varchar, "
        "OUT o_ticket integer, OUT o_agent integer, OUT o_room boolean) "
        f"LANGUAGE plpgsql AS $fn${_BODY}$fn$")


@event.listens_for(db.metadata, "after_create")
def _after_create(metadata, connection, **kw):
    install(connection)


def _next_in_postgresql(team_id: int, now: datetime, skipped: list[int]) -> Next | None:
    values = {"team_id": team_id, "now": now, "skipped": list(skipped)}
    try:
        row = db.session.connection().exec_driver_sql(_CALL, values).first()
    except ProgrammingError as exc:
        if FUNCTION not in str(exc.orig):
            raise
        db.session.rollback()  # not there yet (statements changed since the last install)
        install(db.session.connection())
        db.session.commit()
        row = db.session.connection().exec_driver_sql(_CALL, values).first()
    mode, last, name, ticket_id, agent_id, room = row
    if mode is None:
        return None
    return Next(mode, last, name, ticket_id, agent_id, True if room is None else room)
