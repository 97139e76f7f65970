"""One normalised message -> customer, ticket and message, threaded as docs/architecture.md
(Channels and threading) says.

Idempotent by the unique (channel_id, platform_message_id) constraint: a duplicate event
(twice, ten times, concurrently) yields one message and one ticket. Per-thread work is
serialised on PostgreSQL with a transaction-scoped advisory lock (SQLite serialises writers).
"""
import hashlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from desk.channels.accounts import Channel
from desk.channels.base import NormalizedMessage
from desk.core import signals
from desk.core.extensions import db
from desk.core.txcache import per_transaction
from desk.customers.identities import find_identity, upsert_customer
from desk.customers.models import Customer
from desk.customers.profiles import want_profile
from desk.inbox.tickets import Message, Ticket
from desk.intake.language import guess_language

log = logging.getLogger(__name__)
REOPEN_WITHIN = timedelta(days=7)
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)


def ingest(message: NormalizedMessage, received_at: datetime, now: datetime,
           memo: dict | None = None, recheck: bool = True) -> str:
    """Apply one message; returns created, appended, reopened, updated, deleted, duplicate or dropped.

    With recheck=False a new customer message skips the duplicate lookup: the unique
    constraint refuses a duplicate, and the caller retries with the lookup.
    """
    memo = memo if memo is not None else {}
    channel = channel_for(message, memo)
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


def channel_for(message: NormalizedMessage, memo: dict) -> Channel | None:
    key = ("channel", message.platform, message.account_id)
    if key not in memo:
        memo[key] = db.session.scalar(select(Channel).where(
            Channel.platform == message.platform, Channel.account_id == message.account_id,
            Channel.active.is_(True)))
    return memo[key]


def thread_lock_key(channel: Channel, message: NormalizedMessage) -> int:
    digest = hashlib.sha256(f"{channel.id}:{message.thread_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock(channel: Channel, message: NormalizedMessage) -> None:
    """Serialise work on one thread across workers (PostgreSQL; SQLite has one writer)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    key = thread_lock_key(channel, message)
    held = per_transaction("thread_locks", (), set)  # held until the transaction ends
    if key not in held:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        held.add(key)


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
    customer = upsert_customer(message, memo, seen_at=sent_at)
    want_profile(customer, message, channel, now, memo)
    ticket = _find_ticket(channel, message, customer, memo)
    outcome = "appended"
    if message.kind == "dm":
        # A DM that only rates a pending survey answers it, even while the customer has an
        # open ticket: it is kept on the surveyed ticket and asks for no reply (no clock).
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
    elif outcome == "created":
        signals.ticket_created.send(ticket, message=stored, now=now)
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
    identity = find_identity(message.platform, message.author.id, memo)
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
    if not message.text and message.attachments and _sent_file(ticket, message.platform_message_id):
        return "duplicate"  # the echo of a file a desk reply sent apart from its text
    stored = _message(channel, ticket, message, sent_at, received_at, None, memo)
    stored.delivery_state, stored.delivered_at = "delivered", sent_at
    ticket.last_message_at = max(ticket.last_message_at or sent_at, sent_at)
    ticket.updated_at = now
    # Answered from the platform's own tools: the customer has been answered (SLA).
    signals.reply_released.send(ticket, message=stored, now=now)
    return "appended"


def _sent_file(ticket: Ticket, platform_message_id: str) -> bool:
    """True when a recent desk reply on the ticket sent a file as a message of its own with
    this id, or is sending one now (its echo can arrive before the send call returns)."""
    replies = db.session.scalars(select(Message).where(
        Message.ticket_id == ticket.id, Message.direction == "out",
        Message.author_id.is_not(None)).order_by(Message.id.desc()).limit(5))
    for reply in replies:
        sent = [a for a in reply.attachments or [] if isinstance(a, dict) and a.get("file_id")]
        if any(a.get("platform_id") == platform_message_id for a in sent) or (
                sent and reply.delivery_state in ("pending", "sending", "retrying")):
            return True
    return False


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


