"""The inbound worker's job: claim stored events, turn each batch into customers, tickets and
messages (desk.intake.messages), and record every event's outcome.

A batch holds its threads' locks and reads their tickets and messages in a few statements;
the whole batch commits once (a crash rolls it back for the retry).
"""
import json
import logging
import time
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload

from desk.channels import senders
from desk.channels.base import NormalizedMessage, SendError, plain_text
from desk.channels.parse import parse_event
from desk.core.extensions import db
from desk.core.queue import clear_flag, enqueue
from desk.core.txcache import per_transaction
from desk.customers.identities import identity_key, prefetch_identities
from desk.inbox.tickets import Message, Ticket
from desk.intake.events import BATCH_SIZE, DRAIN_SECONDS, PENDING_FLAG, WAITING, InboundEvent
from desk.intake.messages import channel_for, ingest, thread_lock_key

log = logging.getLogger(__name__)


def drain(ids: list[int], now: datetime) -> dict:
    """The worker's job: process `ids` and everything else waiting, batch after batch, for
    about DRAIN_SECONDS; then a new job at the back of the queue carries on, so a reply's
    send job (queued meanwhile) never waits behind a whole backlog."""
    clear_flag(PENDING_FLAG)  # from here on, new webhooks enqueue a new job (see enqueue_batches)
    totals: dict[str, int] = {}
    handover = time.monotonic() + DRAIN_SECONDS  # a work budget, not a domain time
    while True:
        counts = process_events(ids, now)
        if not counts:
            return totals
        for outcome, n in counts.items():
            totals[outcome] = totals.get(outcome, 0) + n
        ids = []
        if time.monotonic() >= handover:
            break
    enqueue("inbound", "workers.inbound.process_events", [])  # more waiting: continue in a new job
    return totals

def process_events(ids: list[int], now: datetime, coalesce: bool = True) -> dict:
    """Turn stored events into tickets and messages, once each; returns counts by outcome.

    Events are claimed with a conditional UPDATE, so a duplicated or retried job skips what
    another run finished; the whole batch commits once (a crash rolls it back for the retry).
    With `coalesce`, other waiting events are claimed too (up to BATCH_SIZE): under load one
    job does the work of many and the jobs that follow find nothing left to do.
    """
    waiting = (select(InboundEvent.id).where(InboundEvent.status.in_(WAITING))
               .order_by(case((InboundEvent.id.in_(list(ids)), 0), else_=1), InboundEvent.id)
               .limit(BATCH_SIZE))
    if not coalesce:
        waiting = waiting.where(InboundEvent.id.in_(list(ids)))
    if db.session.get_bind().dialect.name == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)  # another worker has those
    claimed = db.session.scalars(
        update(InboundEvent).where(InboundEvent.id.in_(waiting.scalar_subquery()))
        .values(attempts=InboundEvent.attempts + 1)
        .returning(InboundEvent.id)
        .execution_options(synchronize_session=False)).all()
    if not claimed:
        db.session.commit()
        return {}
    events = db.session.execute(
        select(InboundEvent.id, InboundEvent.source, InboundEvent.payload, InboundEvent.received_at)
        .where(InboundEvent.id.in_(claimed)).order_by(InboundEvent.id)).all()
    counts = ingest_events(events, now)
    db.session.commit()
    return counts


def ingest_events(events: list, now: datetime) -> dict:
    """Process claimed InboundEvents in the caller's transaction; returns counts by outcome.

    `events` are rows with id, source, payload and received_at; their outcomes are written
    back in one statement at the end (no commit). The batch first runs in one savepoint with
    its threads locked and looked up in a few statements; if anything in it fails (a bug, a
    race on a unique constraint), that savepoint is rolled back and the batch runs again with
    one savepoint per event, so one bad event never blocks the others.
    """
    counts: dict[str, int] = {}
    finished: list[dict] = []
    work = []
    for event in events:
        try:
            messages = parse_event(event.source, json.loads(event.payload))
        except Exception as exc:  # a payload we cannot read stays visible as failed
            finished.append(_finish(event, "failed", now, f"{type(exc).__name__}: {exc}"))
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        work.append((event, messages))
    # Each thread's events together, in the order they were stored.
    work.sort(key=lambda item: (_lock_key(item[1][0]) if item[1] else "", item[0].id))
    messages = [message for _event, batch in work for message in batch]
    memo = prefetch_identities(messages)
    _complete_instagram_mentions(messages, memo)
    _lock_threads(messages, memo)  # before the savepoint: held by both ways below
    try:
        with db.session.begin_nested():
            outcomes = _apply_batch(work, now, memo)
    except OperationalError:
        raise  # deadlock or lost connection: the whole job is retried
    except Exception:
        log.info("inbound batch of %d events retried one event at a time", len(work), exc_info=True)
        outcomes = _apply_one_by_one(work, now, prefetch_identities(messages))
    for event, event_outcomes in outcomes:
        if isinstance(event_outcomes, Exception):
            finished.append(_finish(event, "failed", now,
                                    f"{type(event_outcomes).__name__}: {event_outcomes}"))
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        status = "processed" if any(o != "dropped" for o in event_outcomes) else "dropped"
        finished.append(_finish(event, status, now, None))
        for outcome in event_outcomes or ["ignored"]:
            counts[outcome] = counts.get(outcome, 0) + 1
    if finished:  # one executemany by primary key, not one UPDATE per event
        db.session.execute(update(InboundEvent), finished)
    return counts

def _apply_batch(work: list, now: datetime, memo: dict) -> list:
    """Every event of a batch with no savepoint of its own: the threads' tickets and messages
    read in a few statements, the writes flushed together at the end."""
    messages = [message for _event, batch in work for message in batch]
    memo["threads"] = _prefetch_threads(messages, memo)
    outcomes = [(event, [ingest(message, event.received_at, now, memo) for message in batch])
                for event, batch in work]
    db.session.flush()  # a refused write fails the batch here, inside its savepoint
    return outcomes

def _apply_one_by_one(work: list, now: datetime, memo: dict) -> list:
    """The careful way: each message in its own savepoint; a failing event is reported failed."""
    outcomes = []
    for event, batch in work:
        try:
            outcomes.append((event, [_ingest_one(message, event.received_at, now, memo)
                                     for message in batch]))
        except OperationalError:
            raise
        except Exception as exc:  # a bug on one event must not block the others
            log.exception("inbound event %s failed", event.id)
            outcomes.append((event, exc))
    return outcomes

def _complete_instagram_mentions(messages: list[NormalizedMessage], memo: dict) -> None:
    """Fill in the text, time and post link of Instagram mentions that arrived as bare ids
    (Facebook-login webhooks), from the Graph API. A refused lookup leaves the mention as it
    came (logged): a ticket without text beats a lost mention."""
    config = current_app.config
    for message in messages:
        if (message.platform != "instagram" or message.kind != "mention" or message.text
                or message.verb != "new" or config["SANDBOX"]):
            continue
        channel = channel_for(message, memo)
        if channel is None:
            continue
        try:
            comment = senders.fetch_mentioned_comment(channel.account_id, message.platform_message_id,
                                                      channel.access_token, config)
        except SendError as exc:
            log.warning("instagram mention %s left without its text: %s",
                        message.platform_message_id, exc)
            continue
        message.text = plain_text(comment.get("text"))
        message.sent_at = _graph_time(comment.get("timestamp")) or message.sent_at
        media = comment.get("media") if isinstance(comment.get("media"), dict) else {}
        if isinstance(media.get("permalink"), str) and media["permalink"].startswith("https://"):
            message.post_url = media["permalink"]

def _graph_time(value) -> datetime | None:
    """A Graph API timestamp ("2017-05-03T16:09:08+0000"), or None."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except (TypeError, ValueError):
        return None

def _finish(event, status: str, now: datetime, error: str | None) -> dict:
    return {"id": event.id, "status": status, "processed_at": now,
            "error": error[:2000] if error else None}

def _lock_key(message: NormalizedMessage) -> str:
    return f"{message.platform}:{message.account_id}:{message.thread_key}"

def _ingest_one(message: NormalizedMessage, received_at: datetime, now: datetime,
                memo: dict) -> str:
    """One message in a savepoint; a lost race on a unique constraint is retried once."""
    for attempt in (1, 2):
        try:
            with db.session.begin_nested():
                return ingest(message, received_at, now, memo, recheck=attempt == 2)
        except IntegrityError:
            if attempt == 2:
                raise
            memo.pop(identity_key(message.platform, message.author.id), None)  # look again
    return "duplicate"

def _lock_threads(messages: list[NormalizedMessage], memo: dict) -> None:
    """Take the locks of every thread in `messages` in one statement, in ascending key order
    (the order every worker uses, so two batches never wait on each other in a cycle)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    held = per_transaction("thread_locks", (), set)
    wanted = {thread_lock_key(channel, message) for message in messages
              if (channel := channel_for(message, memo)) is not None} - held
    if wanted:
        db.session.execute(text(
            "SELECT count(pg_advisory_xact_lock(key)) FROM "
            "(SELECT unnest(CAST(:keys AS bigint[])) AS key ORDER BY 1) AS ordered"),
            {"keys": sorted(wanted)})
        held.update(wanted)

def _prefetch_threads(messages: list[NormalizedMessage], memo: dict) -> dict:
    """A batch memo of what its messages look up: each stored message by platform id (the
    message itself and its parent), with its ticket, and the latest ticket of each DM
    conversation and comment thread (None where there is none). Read once the batch holds
    its thread locks, so no other worker changes these until the batch commits."""
    threads: dict = {}
    wanted: dict[int, dict[str, set]] = {}
    for message in messages:
        channel = channel_for(message, memo)
        if channel is None:
            continue
        need = wanted.setdefault(channel.id, {"message": set(), "dm": set(), "thread": set()})
        need["message"].update(filter(None, (message.platform_message_id, message.parent_id)))
        if message.kind != "dm":
            need["thread"].add(message.thread_key)
            continue
        identity = memo.get(identity_key(message.platform, message.author.id))
        if identity is not None:
            need["dm"].add(identity.customer_id)
    for channel_id, need in wanted.items():
        for kind, keys in need.items():
            threads.update(((kind, channel_id, key), None) for key in keys)
        for chunk in _chunks(need["message"]):
            for stored in db.session.scalars(select(Message).options(joinedload(Message.ticket)).where(
                    Message.channel_id == channel_id, Message.platform_message_id.in_(chunk))):
                threads[("message", channel_id, stored.platform_message_id)] = stored
        for kind, column, match in (("dm", Ticket.customer_id, Ticket.kind == "dm"),
                                    ("thread", Ticket.thread_key, Ticket.kind != "dm")):
            for chunk in _chunks(need[kind]):
                latest = (select(func.max(Ticket.id)).where(
                    Ticket.channel_id == channel_id, match, column.in_(chunk)).group_by(column))
                for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_(latest))):
                    key = ticket.customer_id if kind == "dm" else ticket.thread_key
                    threads[(kind, channel_id, key)] = ticket
    return threads

def _chunks(values: set, size: int = 500):
    values = sorted(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]
