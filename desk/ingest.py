"""NormalizedMessage -> customer, ticket and message, threaded as DESIGN.md says.

Idempotent by the unique (channel_id, platform_message_id) constraint: a duplicate event
(twice, ten times, concurrently) yields one message and one ticket. Per-thread work is
serialised on PostgreSQL with a transaction-scoped advisory lock (SQLite serialises writers).
"""
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload

from desk import signals
from desk.channel_accounts import Channel
from desk.channels import parse_event, senders
from desk.channels.base import NormalizedMessage, SendError, plain_text
from desk.customers import Customer, CustomerIdentity
from desk.extensions import db
from desk.inbound import InboundEvent
from desk.language import guess_language
from desk.tickets import Message, Ticket
from desk.txcache import per_transaction

log = logging.getLogger(__name__)
REOPEN_WITHIN = timedelta(days=7)
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)


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
    memo = _prefetch_identities(messages)
    _complete_instagram_mentions(messages, memo)
    _lock_threads(messages, memo)  # before the savepoint: held by both ways below
    try:
        with db.session.begin_nested():
            outcomes = _apply_batch(work, now, memo)
    except OperationalError:
        raise  # deadlock or lost connection: the whole job is retried
    except Exception:
        log.info("inbound batch of %d events retried one event at a time", len(work), exc_info=True)
        outcomes = _apply_one_by_one(work, now, _prefetch_identities(messages))
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
    from flask import current_app
    config = current_app.config
    for message in messages:
        if (message.platform != "instagram" or message.kind != "mention" or message.text
                or message.verb != "new" or config["SANDBOX"]):
            continue
        channel = _channel(message, memo)
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
            memo.pop(_identity_key(message.platform, message.author.id), None)  # look again
    return "duplicate"


def ingest(message: NormalizedMessage, received_at: datetime, now: datetime,
           memo: dict | None = None, recheck: bool = True) -> str:
    """Apply one message; returns created, appended, reopened, updated, deleted, duplicate or dropped.

    With recheck=False a new customer message skips the duplicate lookup: the unique
    constraint refuses a duplicate, and the caller retries with the lookup.
    """
    memo = memo if memo is not None else {}
    channel = _channel(message, memo)
    if channel is None:
        log.warning("event for unknown %s account %s dropped", message.platform, message.account_id)
        return "dropped"
    _lock(channel, message)
    existing = None
    if memo.get("threads") is not None:  # a batch read them all at once
        existing = _stored_message(channel, message.platform_message_id, memo)
    elif recheck or message.verb != "new" or message.direction != "in":
        existing = db.session.scalar(select(Message).where(
            Message.channel_id == channel.id,
            Message.platform_message_id == message.platform_message_id))
    if message.verb == "status":
        return _status(existing, message)
    if message.verb == "delete":
        if existing is None:
            return "dropped"
        existing.deleted_at = existing.deleted_at or now
        return "deleted"
    sent_at = clamp(message.sent_at, received_at)
    if existing is not None:
        if message.verb == "edit" and existing.text != message.text:
            existing.text, existing.edited_at = message.text, sent_at
            return "updated"
        return "duplicate"
    if message.direction == "out":
        return _outbound(channel, message, sent_at, received_at, now, memo)
    return _inbound(channel, message, sent_at, received_at, now, memo)


def clamp(sent_at: datetime | None, received_at: datetime) -> datetime:
    """The platform time, unless missing, before 2015 or after the receipt: then the receipt."""
    if sent_at is None or sent_at < EARLIEST or sent_at > received_at:
        return received_at
    return sent_at


def _channel(message: NormalizedMessage, memo: dict) -> Channel | None:
    key = ("channel", message.platform, message.account_id)
    if key not in memo:
        memo[key] = db.session.scalar(select(Channel).where(
            Channel.platform == message.platform, Channel.account_id == message.account_id,
            Channel.active.is_(True)))
    return memo[key]


def _thread_lock_key(channel: Channel, message: NormalizedMessage) -> int:
    digest = hashlib.sha256(f"{channel.id}:{message.thread_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock(channel: Channel, message: NormalizedMessage) -> None:
    """Serialise work on one thread across workers (PostgreSQL; SQLite has one writer)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    key = _thread_lock_key(channel, message)
    held = per_transaction("thread_locks", (), set)  # held until the transaction ends
    if key not in held:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        held.add(key)


def _lock_threads(messages: list[NormalizedMessage], memo: dict) -> None:
    """Take the locks of every thread in `messages` in one statement, in ascending key order
    (the order every worker uses, so two batches never wait on each other in a cycle)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    held = per_transaction("thread_locks", (), set)
    wanted = {_thread_lock_key(channel, message) for message in messages
              if (channel := _channel(message, memo)) is not None} - held
    if wanted:
        db.session.execute(text(
            "SELECT count(pg_advisory_xact_lock(key)) FROM "
            "(SELECT unnest(CAST(:keys AS bigint[])) AS key ORDER BY 1) AS ordered"),
            {"keys": sorted(wanted)})
        held.update(wanted)


def _status(existing: Message | None, message: NormalizedMessage) -> str:
    """WhatsApp statuses for our messages: never downgrade, keep the platform's error."""
    if existing is None or existing.direction != "out":
        return "dropped"
    if message.status == "failed":
        existing.delivery_state, existing.delivery_error = "failed", message.error
    elif message.status in ("sent", "delivered", "read") and existing.delivery_state != "failed":
        existing.delivery_state = "delivered"
    return "updated"


def _inbound(channel: Channel, message: NormalizedMessage, sent_at: datetime,
             received_at: datetime, now: datetime, memo: dict) -> str:
    customer = upsert_customer(message, memo)
    ticket = _find_ticket(channel, message, customer, memo)
    outcome = "appended"
    if message.kind == "dm" and (ticket is None or ticket.status == "resolved"):
        answered = _answered_ticket(customer, message, now)
        if answered is not None:
            stored = _message(channel, answered, message, sent_at, received_at, customer, memo)
            stored.automatic = True  # e.g. a survey rating: nothing to answer, no clock to start
            answered.last_message_at = max(answered.last_message_at or sent_at, sent_at)
            return "appended"
    if ticket is None or (ticket.status == "resolved" and not _reopenable(ticket, sent_at)):
        ticket = _new_ticket(channel, message, customer, sent_at, memo)
        outcome = "created"
    elif ticket.status == "resolved":
        ticket.status, ticket.resolved_at = "open", None
        ticket.resolution = ticket.resolution_reason = None
        outcome = "reopened"
    elif ticket.status == "pending":
        ticket.status = "open"  # the customer answered
    # The ticket's fields change before the message is flushed: one flush writes both.
    ticket.last_message_at = max(ticket.last_message_at or sent_at, sent_at)
    ticket.last_customer_message_at = max(ticket.last_customer_message_at or sent_at, sent_at)
    ticket.updated_at = now
    if ticket.language is None and message.text:
        ticket.language = guess_language(message.text)
    stored = _message(channel, ticket, message, sent_at, received_at, customer, memo)
    if outcome == "reopened":
        signals.ticket_reopened.send(ticket, now=now)
    signals.customer_message.send(ticket, message=stored, now=now)
    return outcome


def _answered_ticket(customer: Customer, message: NormalizedMessage, now: datetime) -> Ticket | None:
    """The ticket a DM answers (a survey rating) when a receiver takes it, else None."""
    replies = signals.dm_without_open_ticket.send(customer, customer_id=customer.id,
                                                 text=message.text, now=now)
    return next((ticket for _receiver, ticket in replies if ticket is not None), None)


def _outbound(channel: Channel, message: NormalizedMessage, sent_at: datetime,
              received_at: datetime, now: datetime, memo: dict) -> str:
    """The brand's own reply or echo: reconcile with a desk reply, else store it as outbound."""
    identity = _identity(message.platform, message.author.id, memo)
    ticket = _find_ticket(channel, message, identity.customer if identity else None, memo)
    if ticket is None:
        log.info("brand message %s outside any ticket ignored", message.platform_message_id)
        return "dropped"
    pending = db.session.scalar(select(Message).where(
        Message.ticket_id == ticket.id, Message.direction == "out",
        Message.author_id.is_not(None), Message.platform_message_id.is_(None),
        Message.delivery_state.in_(("pending", "sending", "retrying")),
        Message.text == message.text).order_by(Message.id).limit(1))
    if pending is not None:  # the echo of a desk reply whose send call has not returned yet
        pending.platform_message_id = message.platform_message_id
        return "duplicate"
    stored = _message(channel, ticket, message, sent_at, received_at, None, memo)
    stored.delivery_state, stored.delivered_at = "delivered", sent_at
    ticket.last_message_at = max(ticket.last_message_at or sent_at, sent_at)
    ticket.updated_at = now
    # Answered from the platform's own tools: the customer has been answered (SLA).
    signals.reply_released.send(ticket, message=stored, now=now)
    return "appended"


def _find_ticket(channel: Channel, message: NormalizedMessage, customer, memo: dict) -> Ticket | None:
    """The ticket this message belongs to (latest first), or None."""
    if message.kind == "dm" and (customer is None or customer.id is None):
        return None  # no customer, or one first seen in this batch: no conversation yet
    if message.kind != "dm" and message.parent_id:
        parent = _stored_message(channel, message.parent_id, memo)
        if parent is not None:
            return parent.ticket
    threads = memo.get("threads")
    key = _ticket_key(channel, message, customer)
    if threads is not None and key in threads:
        return threads[key]
    if message.kind == "dm":
        where = (Ticket.customer_id == customer.id, Ticket.kind == "dm")
    else:
        where = (Ticket.thread_key == message.thread_key, Ticket.kind != "dm")
    ticket = db.session.scalar(select(Ticket).where(Ticket.channel_id == channel.id, *where)
                               .order_by(Ticket.id.desc()).limit(1))
    if threads is not None:
        threads[key] = ticket
    return ticket


def _ticket_key(channel: Channel, message: NormalizedMessage, customer) -> tuple:
    """A batch memo's key for the latest ticket of a DM conversation or a comment thread."""
    if message.kind == "dm":
        return ("dm", channel.id, customer.id)
    return ("thread", channel.id, message.thread_key)


def _stored_message(channel: Channel, platform_message_id: str, memo: dict) -> Message | None:
    """A message already stored on this channel, by platform id (from a batch's memo)."""
    threads = memo.get("threads")
    key = ("message", channel.id, platform_message_id)
    if threads is not None and key in threads:
        return threads[key]
    stored = db.session.scalar(select(Message).where(
        Message.channel_id == channel.id, Message.platform_message_id == platform_message_id))
    if threads is not None:
        threads[key] = stored
    return stored


def _reopenable(ticket: Ticket, sent_at: datetime) -> bool:
    return ticket.resolved_at is not None and sent_at - ticket.resolved_at <= REOPEN_WITHIN


def _new_ticket(channel: Channel, message: NormalizedMessage, customer: Customer,
                sent_at: datetime, memo: dict) -> Ticket:
    ticket = Ticket(channel=channel, customer=customer, kind=message.kind,
                    thread_key=message.thread_key[:200], status="open", priority="normal",
                    subject=_preview(message), post_url=message.post_url,
                    post_text=message.post_text, language=guess_language(message.text),
                    created_at=sent_at, updated_at=sent_at)
    db.session.add(ticket)
    if memo.get("threads") is not None:
        db.session.flush()  # its id keys the batch memo, and the receivers need it
        memo["threads"][_ticket_key(channel, message, customer)] = ticket
    return ticket


def _preview(message: NormalizedMessage) -> str:
    text = " ".join(message.text.split())
    if not text and message.attachments:
        text = f"[{message.attachments[0].get('type', 'attachment')}]"
    return text[:200]


def _message(channel, ticket, message: NormalizedMessage, sent_at, received_at, customer,
             memo: dict) -> Message:
    """The stored message, flushed now unless a batch flushes it at its end (_apply_batch)."""
    stored = Message(ticket=ticket, channel_id=channel.id, direction=message.direction,
                     visibility="private" if message.kind == "dm" else "public",
                     platform_message_id=message.platform_message_id,
                     parent_platform_id=message.parent_id, customer=customer,
                     text=message.text, attachments=message.attachments, sent_at=sent_at,
                     received_at=received_at,
                     edited_at=sent_at if message.verb == "edit" else None)
    db.session.add(stored)
    threads = memo.get("threads")
    if threads is None:
        db.session.flush()  # the unique constraint speaks here, inside the event's savepoint
    else:  # later events of the batch find this message here
        threads[("message", channel.id, message.platform_message_id)] = stored
    return stored


def upsert_customer(message: NormalizedMessage, memo: dict | None = None) -> Customer:
    """The customer behind a platform user id; created on first sight, profile kept fresh."""
    author = message.author
    identity = _identity(message.platform, author.id, memo)
    if identity is None:
        customer = Customer(display_name=(author.name or author.handle or author.id)[:200],
                            followers=author.followers)
        identity = CustomerIdentity(customer=customer, platform=message.platform,
                                    platform_user_id=author.id[:100], handle=author.handle,
                                    name=author.name, followers=author.followers)
        if memo is not None and memo.get("threads") is not None:
            db.session.add(identity)  # a batch's savepoint takes a concurrent first message
        else:
            with db.session.begin_nested():  # a concurrent first message raises IntegrityError
                db.session.add(identity)
        if memo is not None:
            memo[_identity_key(message.platform, author.id)] = identity
        return customer
    for field in ("handle", "name", "followers"):
        value = getattr(author, field)
        if value is not None and getattr(identity, field) != value:
            setattr(identity, field, value)
    customer = identity.customer
    if author.followers is not None and (customer.followers or 0) < author.followers:
        customer.followers = author.followers
    return customer


def _identity_key(platform: str, user_id: str) -> tuple:
    return ("identity", platform, user_id[:100])


def _identity(platform: str, user_id: str, memo: dict | None = None) -> CustomerIdentity | None:
    """The identity (with its customer) of a platform user; from `memo` when prefetched."""
    key = _identity_key(platform, user_id)
    if memo is not None and key in memo:
        return memo[key]
    identity = db.session.scalar(select(CustomerIdentity).options(joinedload(CustomerIdentity.customer))
                                 .where(CustomerIdentity.platform == platform,
                                        CustomerIdentity.platform_user_id == user_id[:100]))
    if memo is not None:
        memo[key] = identity
    return identity


def _prefetch_identities(messages: list[NormalizedMessage]) -> dict:
    """A batch memo holding the identities of every author in `messages` (one query per
    platform; None for authors not seen before). A stale None costs one IntegrityError retry."""
    memo: dict = {}
    by_platform: dict[str, set] = {}
    for message in messages:
        if message.author and message.author.id:
            by_platform.setdefault(message.platform, set()).add(message.author.id[:100])
    for platform, user_ids in by_platform.items():
        for key in user_ids:
            memo[_identity_key(platform, key)] = None
        found = db.session.scalars(select(CustomerIdentity)
                                   .options(joinedload(CustomerIdentity.customer))
                                   .where(CustomerIdentity.platform == platform,
                                          CustomerIdentity.platform_user_id.in_(user_ids)))
        for identity in found:
            memo[_identity_key(platform, identity.platform_user_id)] = identity
    return memo


def _prefetch_threads(messages: list[NormalizedMessage], memo: dict) -> dict:
    """A batch memo of what its messages look up: each stored message by platform id (the
    message itself and its parent), with its ticket, and the latest ticket of each DM
    conversation and comment thread (None where there is none). Read once the batch holds
    its thread locks, so no other worker changes these until the batch commits."""
    threads: dict = {}
    wanted: dict[int, dict[str, set]] = {}
    for message in messages:
        channel = _channel(message, memo)
        if channel is None:
            continue
        need = wanted.setdefault(channel.id, {"message": set(), "dm": set(), "thread": set()})
        need["message"].update(filter(None, (message.platform_message_id, message.parent_id)))
        if message.kind != "dm":
            need["thread"].add(message.thread_key)
            continue
        identity = memo.get(_identity_key(message.platform, message.author.id))
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
