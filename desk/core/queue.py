"""The only module that knows Redis and RQ: connections, queues by purpose, enqueue by name.

Jobs are enqueued by dotted name (``workers.inbound.process_event``) so that `desk` never
imports `workers`. Callers enqueue only after their transaction committed. The database is
the source of truth: if Redis is down, enqueue logs and returns None, and the periodic
re-sweeps pick the work up from the database later.
"""
import logging
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from desk.core.extensions import db

log = logging.getLogger(__name__)

# In the order a worker on several queues takes jobs: a reply to a customer is one short
# platform call and must never wait behind a webhook backlog (tests/perf/load_run.py measured
# replies queued 20-30 s behind inbound drains at 50 events/s with inbound first).
QUEUES = ("outbound", "inbound", "default", "notify")
_connections: dict[str, Redis] = {}


def redis_connection(url: str | None = None) -> Redis:
    """A shared Redis client for the configured DESK_REDIS_URL (one pool per URL)."""
    url = url or current_app.config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    return _connections[url]


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """The RQ queue for one purpose: inbound, outbound, default or notify."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or redis_connection())


def enqueue(queue_name: str, job_name: str, *args, job_id: str | None = None,
            retry: Retry | None = None, **kwargs):
    """Enqueue `job_name` (a dotted path under workers.) or return None when Redis is down."""
    try:
        return get_queue(queue_name).enqueue_call(
            func=job_name, args=args, kwargs=kwargs, job_id=job_id, retry=retry,
            failure_ttl=7 * 24 * 3600)
    except RedisError as exc:
        log.warning("redis unavailable, %s left for the re-sweep: %s", job_name, exc)
        return None


def enqueue_in(seconds: float, queue_name: str, job_name: str, *args, job_id=None, **kwargs):
    """Enqueue `job_name` to run after `seconds` (needs a worker started with the scheduler)."""
    try:
        return get_queue(queue_name).enqueue_in(
            timedelta(seconds=seconds), job_name, *args, job_id=job_id, **kwargs)
    except RedisError as exc:
        log.warning("redis unavailable, delayed %s not scheduled: %s", job_name, exc)
        return None


def redis_ok() -> bool:
    """True when Redis answers a PING."""
    try:
        return bool(redis_connection().ping())
    except RedisError:
        return False


def enqueue_after_commit(queue_name: str, job_name: str, *args, delay: float | None = None,
                         job_id: str | None = None, **kwargs) -> None:
    """Enqueue once the current transaction commits; nothing if it, or the savepoint the job
    was asked for in, rolls back."""
    pending = db.session.info.setdefault("after_commit_jobs", [])
    savepoint = db.session().get_nested_transaction()
    pending.append((savepoint, (queue_name, job_name, args, kwargs, delay, job_id)))


def _flush_after_commit(session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the data is not committed yet
    for _savepoint, job in session.info.pop("after_commit_jobs", []):
        queue_name, job_name, args, kwargs, delay, job_id = job
        if delay:
            enqueue_in(delay, queue_name, job_name, *args, job_id=job_id, **kwargs)
        else:
            enqueue(queue_name, job_name, *args, job_id=job_id, **kwargs)


def _drop_after_rollback(session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop("after_commit_jobs", None)
        return
    # A savepoint rolled back (one event of a batch): its jobs go, the others' stay.
    pending = session.info.get("after_commit_jobs")
    if pending:
        pending[:] = [(savepoint, job) for savepoint, job in pending
                      if not _within(savepoint, previous_transaction)]


def _within(transaction, ancestor) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def install_session_hooks() -> None:
    """Wire enqueue_after_commit to SQLAlchemy's commit and rollback events (once)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    if not event.contains(Session, "after_commit", _flush_after_commit):
        event.listen(Session, "after_commit", _flush_after_commit)
        event.listen(Session, "after_soft_rollback", _drop_after_rollback)


def set_flag(name: str, ttl_seconds: int) -> bool | None:
    """Set a short-lived flag if absent: True if this call set it, False if it was already
    set, None when Redis is down (used to coalesce jobs: one pending job covers many events)."""
    try:
        return bool(redis_connection().set(f"desk:flag:{name}", 1, nx=True, ex=ttl_seconds))
    except RedisError as exc:
        log.warning("redis unavailable, flag %s not set: %s", name, exc)
        return None


def clear_flag(name: str) -> None:
    """Remove a flag set by set_flag (nothing when Redis is down)."""
    try:
        redis_connection().delete(f"desk:flag:{name}")
    except RedisError:
        pass
