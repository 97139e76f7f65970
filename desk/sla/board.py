"""Read-only queries for the SLA board and the API's SLA filter (live states at `now`).

Stored ticket states lag the sweep by up to one interval, so the board and the API classify
running clocks by their due and warning times at `now` instead.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import selectinload

from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.sla.board_counts import BoardCount
from desk.sla.policies import OPEN_STATES, SlaClock

LIVE_STATES = ("on_track", "at_risk", "breached")
LIST_LIMIT = 50


def sla_condition(state: str, now: datetime):
    """A WHERE clause selecting tickets whose clock is in `state` at `now`."""
    running = and_(Ticket.sla_state.in_(OPEN_STATES), Ticket.sla_due_at.is_not(None))
    if state == "breached":
        return and_(running, Ticket.sla_due_at <= now)
    if state == "at_risk":
        return and_(running, Ticket.sla_due_at > now, Ticket.sla_warn_at <= now)
    if state == "on_track":
        return and_(running, Ticket.sla_due_at > now,
                    or_(Ticket.sla_warn_at.is_(None), Ticket.sla_warn_at > now))
    return Ticket.sla_state == state


def _waiting():
    return and_(Ticket.status != "resolved", Ticket.sla_state.in_(OPEN_STATES),
                Ticket.sla_due_at.is_not(None))


@dataclass
class AgentLoad:
    user_id: int | None
    name: str
    open: int
    at_risk: int
    breached: int


@dataclass
class Board:
    counts: dict  # state -> tickets waiting (live states) or clocks stopped in the last 24 h
    channels: list  # (Channel, {state: n})
    at_risk: list  # tickets, least time left first
    breached: list  # tickets, longest overdue first
    agents: list  # AgentLoad, most breached first
    attainment: float | None  # share met among first responses stopped in the last 24 h
    keyed: dict  # (channel_id, language, assignee_id) -> live states and open (keyed_states)


def keyed_states(now: datetime) -> dict[tuple, dict[str, int]]:
    """{(channel_id, language, assignee_id): {"open": n, "on_track": n, "at_risk": n,
    "breached": n}} at `now`, in one statement (one snapshot): the kept counts
    (sla/board_counts.py) and the waiting tickets not yet due, which the ticket index reads
    from `now` on; whatever is waiting and not among them is breached. Its cost follows the
    tickets due after `now` (about one target's worth of arrivals), not the open backlog."""
    key = (Ticket.channel_id, Ticket.language, Ticket.assignee_id)
    risk = case((Ticket.sla_warn_at <= now, 1), else_=0)
    kept = select(BoardCount.channel_id, BoardCount.language, BoardCount.assignee_id,
                  func.sum(BoardCount.open), func.sum(BoardCount.waiting),
                  literal(0), literal(0)).group_by(
        BoardCount.channel_id, BoardCount.language, BoardCount.assignee_id)
    not_due = select(*key, literal(0), literal(0), func.count(), func.sum(risk)).where(
        _waiting(), Ticket.sla_due_at > now).group_by(*key)
    states: dict[tuple, dict[str, int]] = {}
    for channel_id, language, assignee_id, n, waiting, ahead, risky in db.session.execute(
            union_all(kept, not_due)):
        s = states.setdefault((channel_id, language, assignee_id),
                              {"open": 0, "on_track": 0, "at_risk": 0, "breached": 0})
        s["open"] += int(n or 0)
        s["breached"] += int(waiting or 0) - int(ahead or 0)
        s["at_risk"] += int(risky or 0)
        s["on_track"] += int(ahead or 0) - int(risky or 0)
    return {k: s for k, s in states.items() if s["open"]}


def build(now: datetime) -> Board:
    """Everything the board shows at `now`."""
    keyed = keyed_states(now)
    by_channel: dict[int, dict] = {}
    counts = dict.fromkeys(("on_track", "at_risk", "breached", "met", "late", "waived"), 0)
    for (channel_id, _language, _assignee), s in keyed.items():
        per = by_channel.setdefault(channel_id, dict.fromkeys(LIVE_STATES, 0))
        for state in LIVE_STATES:
            per[state] += s[state]
            counts[state] += s[state]
    by_channel = {cid: n for cid, n in by_channel.items() if any(n.values())}
    since = now - timedelta(hours=24)
    for state, n in db.session.execute(select(SlaClock.state, func.count()).where(
            SlaClock.state.in_(("met", "late", "waived")),
            func.coalesce(SlaClock.replied_at, SlaClock.waived_at) >= since)
            .group_by(SlaClock.state)):
        counts[state] = n
    answered = counts["met"] + counts["late"]
    channels = {c.id: c for c in db.session.scalars(select(Channel).where(Channel.id.in_(by_channel)))}
    return Board(
        counts=counts,
        channels=sorted(((channels[cid], n) for cid, n in by_channel.items()),
                        key=lambda item: (-item[1]["breached"], -item[1]["at_risk"], item[0].name)),
        at_risk=tickets_in("at_risk", now, Ticket.sla_due_at.asc()),
        breached=tickets_in("breached", now, Ticket.sla_due_at.asc()),
        agents=agent_loads(keyed),
        attainment=counts["met"] / answered if answered else None,
        keyed=keyed)


def tickets_in(state: str, now: datetime, order, limit: int = LIST_LIMIT) -> list[Ticket]:
    """Waiting tickets in a live state, with what the board shows of them loaded."""
    return list(db.session.scalars(
        select(Ticket).where(Ticket.status != "resolved", sla_condition(state, now))
        .options(selectinload(Ticket.channel), selectinload(Ticket.customer),
                 selectinload(Ticket.assignee))
        .order_by(order, Ticket.id).limit(limit)))


def agent_loads(keyed: dict[tuple, dict[str, int]]) -> list[AgentLoad]:
    """Open, at-risk and breached tickets per agent (and unassigned), active agents included."""
    found: dict[int | None, list[int]] = {}
    for (_channel, _language, assignee_id), s in keyed.items():
        acc = found.setdefault(assignee_id, [0, 0, 0])
        acc[0] += s["open"]
        acc[1] += s["at_risk"]
        acc[2] += s["breached"]
    agents = db.session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(("cm", "lead"))).order_by(User.name)).all()
    loads = [AgentLoad(u.id, u.name, *found.pop(u.id, (0, 0, 0))) for u in agents]
    for uid, numbers in found.items():  # assigned to someone who is no longer an agent
        user = db.session.get(User, uid) if uid else None
        loads.append(AgentLoad(uid, user.name if user else "", *numbers))
    return sorted(loads, key=lambda a: (a.user_id is not None, -a.breached, -a.at_risk, -a.open, a.name))


def assignable_agents() -> list[User]:
    return list(db.session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(("cm", "lead", "smm"))).order_by(User.name)))


def change_stamp(now: datetime) -> str:
    """Changes when a ticket or clock changed, and every 30 s (a sweep): two index lookups."""
    updated = db.session.scalar(select(func.max(Ticket.updated_at)))
    newest_clock = db.session.scalar(select(func.max(SlaClock.id)))
    tick = int(now.timestamp() // 30)
    return f"{updated.timestamp() if updated else 0:.3f}-{newest_clock or 0}-{tick}"
