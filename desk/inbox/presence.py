"""Who is viewing and who is typing on a ticket: short-lived Redis entries fed by heartbeats.

Each ticket has two sorted sets (viewers, typists) of user id -> expiry time, and one
index set lists every live (ticket, user, kind) so the inbox can stamp presence cheaply.
The keys expire by themselves shortly after the last heartbeat. Presence is a hint, never
a record: when Redis is down every function answers "nobody" and nothing fails.
"""
import hashlib
import logging
from datetime import datetime

from redis.exceptions import RedisError

from desk.core.queue import redis_connection

log = logging.getLogger(__name__)

VIEW_TTL = 15  # seconds a viewing heartbeat lasts (the page beats every 3-5 s)
TYPING_TTL = 8  # seconds a keystroke keeps someone "typing"
INDEX_KEY = "presence:index"


def _key(kind: str, ticket_id: int) -> str:
    return f"presence:{kind}:{ticket_id}"


def heartbeat(ticket_id: int, user_id: int, now: datetime, typing: bool = False) -> None:
    """`user_id` is looking at the ticket (and typing in its composer when `typing`)."""
    kinds = [("view", VIEW_TTL)] + ([("typing", TYPING_TTL)] if typing else [])
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for kind, ttl in kinds:
            expires = now.timestamp() + ttl
            pipe.zadd(_key(kind, ticket_id), {str(user_id): expires})
            pipe.expire(_key(kind, ticket_id), ttl * 2)
            pipe.zadd(INDEX_KEY, {f"{ticket_id}:{user_id}:{kind}": expires})
        pipe.expire(INDEX_KEY, VIEW_TTL * 2)
        pipe.execute()
    except RedisError as exc:
        log.info("presence unavailable: %s", exc)


def leave(ticket_id: int, user_id: int) -> None:
    """`user_id` closed the ticket or sent their reply: drop their entries at once."""
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for kind in ("view", "typing"):
            pipe.zrem(_key(kind, ticket_id), str(user_id))
            pipe.zrem(INDEX_KEY, f"{ticket_id}:{user_id}:{kind}")
        pipe.execute()
    except RedisError as exc:
        log.info("presence unavailable: %s", exc)


def stop_typing(ticket_id: int, user_id: int) -> None:
    try:
        pipe = redis_connection().pipeline(transaction=False)
        pipe.zrem(_key("typing", ticket_id), str(user_id))
        pipe.zrem(INDEX_KEY, f"{ticket_id}:{user_id}:typing")
        pipe.execute()
    except RedisError as exc:
        log.info("presence unavailable: %s", exc)


def on_tickets(ticket_ids, now: datetime) -> dict[int, dict[int, bool]]:
    """Ticket id -> {user id: typing?} for everyone live on those tickets."""
    ticket_ids = list(ticket_ids)
    if not ticket_ids:
        return {}
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for ticket_id in ticket_ids:
            pipe.zrangebyscore(_key("view", ticket_id), now.timestamp(), "+inf")
            pipe.zrangebyscore(_key("typing", ticket_id), now.timestamp(), "+inf")
        replies = pipe.execute()
    except RedisError as exc:
        log.info("presence unavailable: %s", exc)
        return {}
    found = {}
    for index, ticket_id in enumerate(ticket_ids):
        viewers, typists = replies[2 * index], set(replies[2 * index + 1])
        people = {int(uid): uid in typists for uid in set(viewers) | typists}
        if people:
            found[ticket_id] = people
    return found


def on_ticket(ticket_id: int, now: datetime, exclude: int | None = None) -> dict[int, bool]:
    """{user id: typing?} for everyone live on one ticket, except `exclude`."""
    people = on_tickets([ticket_id], now).get(ticket_id, {})
    people.pop(exclude, None)
    return people


def stamp(now: datetime) -> str:
    """A short hash of everyone live anywhere: it moves when someone comes, goes or types."""
    try:
        pipe = redis_connection().pipeline(transaction=False)
        pipe.zremrangebyscore(INDEX_KEY, "-inf", now.timestamp())
        pipe.zrange(INDEX_KEY, 0, -1)
        members = pipe.execute()[1]
    except RedisError:
        return ""
    if not members:
        return ""
    return hashlib.blake2s(b"|".join(sorted(members)), digest_size=6).hexdigest()
