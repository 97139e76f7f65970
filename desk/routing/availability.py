"""Agents' availability: online, away or offline; set by the agent (or a lead), online at
sign-in, offline at sign-out, away after the configured idle time.

Activity is a hint kept in Redis (one hash of user id -> last request time, written on every
page request, nothing in the database); the periodic tick turns idle online agents away and
brings idle-away agents back when they are seen again. Redis down: nobody changes by idleness.
"""
import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import select

from desk.accounts import audit
from desk.accounts.users import User
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.queue import redis_connection
from desk.routing.assignment import dispatch_after_commit, hand_back, teams_of
from desk.routing.models import STATUSES, Agent, RoutingSettings

log = logging.getLogger(__name__)
SEEN_KEY = "routing:last-seen"


def routing_settings() -> RoutingSettings:
    """The settings row (created with the defaults when missing; the caller commits)."""
    found = db.session.get(RoutingSettings, 1)
    if found is None:
        found = RoutingSettings(id=1)
        db.session.add(found)
        db.session.flush()
    return found


def agent_row(user_id: int, lock: bool = False) -> Agent:
    """The user's Agent row, created offline with the defaults when missing (no commit)."""
    query = select(Agent).where(Agent.user_id == user_id)
    agent = db.session.scalar(query.with_for_update() if lock else query)
    if agent is None:
        with db.session.begin_nested():
            agent = Agent(user_id=user_id, status="offline", idle=False, capacity=5,
                          languages=[], channel_ids=[])
            db.session.add(agent)
    return agent


def set_status(user_id: int, status: str, actor: User, now: datetime, idle: bool = False) -> Agent:
    """Change an agent's status (themself, or anyone for a lead); commits. Going offline hands
    their unanswered tickets back; coming online lets their teams dispatch after the commit."""
    if status not in STATUSES:
        raise DeskError(f"unknown status {status!r}")
    if actor.id != user_id and not actor.has_role("lead"):
        raise DeskError("Only a team lead can change someone else's availability.")
    _change(agent_row(user_id, lock=True), status, now, idle, actor.id)
    db.session.commit()
    return db.session.get(Agent, user_id)


def _change(agent: Agent, status: str, now: datetime, idle: bool, actor_id: int | None) -> None:
    if agent.status == status and agent.idle == idle:
        return
    previous, agent.status, agent.idle, agent.status_since = agent.status, status, idle, now
    audit.record("agent.status", user_id=actor_id, actor="user" if actor_id else "system", at=now,
                 data={"agent": agent.user_id, "previous": previous, "status": status,
                       "idle": idle})
    if status == "offline":
        dispatch_after_commit(hand_back(agent.user_id, now))
    if status == "online":
        dispatch_after_commit(teams_of(agent.user_id))


def touch(user_id: int, now: datetime) -> None:
    """The user did something (a page request): remember when, for the idle rule."""
    try:
        redis_connection().hset(SEEN_KEY, str(user_id), int(now.timestamp()))
    except RedisError as exc:
        log.info("availability activity unavailable: %s", exc)


def sweep_idle(now: datetime) -> tuple[list[int], list[int]]:
    """Online agents unseen for the idle time go away; idle-away agents seen since come back.
    Commits; returns (gone away, back online) user ids."""
    try:
        seen = {int(k): int(v) for k, v in redis_connection().hgetall(SEEN_KEY).items()}
    except RedisError as exc:
        log.info("availability activity unavailable: %s", exc)
        return [], []
    limit = (now - timedelta(minutes=routing_settings().away_after_minutes)).timestamp()
    away, back = [], []
    candidates = db.session.scalars(select(Agent).where(
        (Agent.status == "online") | ((Agent.status == "away") & Agent.idle.is_(True)))
        .order_by(Agent.user_id).with_for_update())
    for agent in candidates:
        last = seen.get(agent.user_id)
        if agent.status == "online" and last is not None and last < limit:
            _change(agent, "away", now, True, None)
            away.append(agent.user_id)
        elif agent.status == "away" and last is not None and last >= limit:
            _change(agent, "online", now, False, None)
            back.append(agent.user_id)
    db.session.commit()
    return away, back


def statuses() -> dict[int, str]:
    """User id -> status for every agent with a row (no row: offline)."""
    return dict(db.session.execute(select(Agent.user_id, Agent.status)).all())
