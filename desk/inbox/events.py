"""Events out for what happens to tickets, through the signed outgoing webhook (the outbox in
desk.notify.webhooks): ticket.created, ticket.updated (priority, reopened), ticket.assigned,
ticket.resolved, message.created (in
and out), reply.delivered / reply.recorded / reply.failed, reply.bridge (a reply for the
bridge of a network without an adapter), sla.warning and sla.breached. (Escalations, incidents
and surveys send theirs from their own areas.) Receivers of the domain signals,
inside the publisher's transaction; nothing is built for a type the endpoint's filter
(DESK_OUTGOING_WEBHOOK_EVENTS) leaves out."""
from datetime import datetime

from desk.core import signals
from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from desk.notify.webhooks import queue_event, wanted


def ticket_data(ticket: Ticket) -> dict:
    return {"ticket_id": ticket.id, "reference": ticket.reference, "status": ticket.status,
            "priority": ticket.priority, "kind": ticket.kind, "channel_id": ticket.channel_id,
            "customer_id": ticket.customer_id, "assignee_id": ticket.assignee_id,
            "subject": ticket.subject}


def message_data(message: Message) -> dict:
    if message.id is None:
        db.session.flush()  # an ingest batch flushes at its end; the event needs the id now
    return {"message_id": message.id, "direction": message.direction,
            "visibility": message.visibility, "text": message.text,
            "author_id": message.author_id, "customer_id": message.customer_id,
            "automatic": message.automatic, "sent_at": message.sent_at.isoformat(),
            "platform_message_id": message.platform_message_id,
            "parent_platform_id": message.parent_platform_id,
            "delivery_state": message.delivery_state, "delivery_error": message.delivery_error}


def _send(event_type: str, ticket: Ticket, now: datetime, **extra) -> None:
    if wanted(event_type):
        queue_event(event_type, {"ticket": ticket_data(ticket), **{
            name: build() for name, build in extra.items()}}, now)


@signals.ticket_created.connect
def on_ticket_created(ticket, now: datetime, message=None, **_) -> None:
    _send("ticket.created", ticket, now)


@signals.ticket_assigned.connect
def on_ticket_assigned(ticket, now: datetime, previous=None, **_) -> None:
    _send("ticket.assigned", ticket, now, previous_assignee_id=lambda: previous)


@signals.ticket_resolved.connect
def on_ticket_resolved(ticket, now: datetime, resolution=None, **_) -> None:
    _send("ticket.resolved", ticket, now, resolution=lambda: resolution)


@signals.ticket_priority_changed.connect
def on_priority_changed(ticket, now: datetime, previous=None, **_) -> None:
    _send("ticket.updated", ticket, now, change=lambda: {"priority": [previous, ticket.priority]})


@signals.ticket_reopened.connect
def on_reopened(ticket, now: datetime, **_) -> None:
    _send("ticket.updated", ticket, now, change=lambda: {"status": ["resolved", ticket.status]})


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    _send("message.created", ticket, now, message=lambda: message_data(message))


@signals.reply_created.connect
def on_reply_created(ticket, message, now: datetime, **_) -> None:
    _send("message.created", ticket, now, message=lambda: message_data(message))


@signals.reply_bridged.connect
def on_reply_bridged(ticket, message, now: datetime, **_) -> None:
    """What the bridge needs to post the reply, and where to confirm it."""
    identity = next((i for i in ticket.customer.identities
                     if i.platform == ticket.channel.platform), None)
    queue_event("reply.bridge", {
        "ticket": ticket_data(ticket), "message": message_data(message),
        "channel": {"platform": ticket.channel.platform, "account_id": ticket.channel.account_id},
        "recipient_id": identity.platform_user_id if identity else None,
        "thread_id": ticket.thread_key,
        "confirm": f"/api/v1/tickets/{ticket.id}/messages/{message.id}/delivery"}, now)


@signals.reply_finished.connect
def on_reply_finished(ticket, message, state: str, now: datetime, **_) -> None:
    _send(f"reply.{state}", ticket, now, message=lambda: message_data(message))


def _clock_data(clock) -> dict:
    return {"kind": clock.kind, "cycle": clock.cycle, "due_at": clock.due_at.isoformat(),
            "warn_at": clock.warn_at.isoformat(), "target_minutes": clock.target_minutes}


@signals.sla_warned.connect
def on_sla_warned(ticket, now: datetime, clock=None, **_) -> None:
    _send("sla.warning", ticket, now, clock=lambda: _clock_data(clock))


@signals.sla_breached.connect
def on_sla_breached(ticket, now: datetime, clock=None, **_) -> None:
    _send("sla.breached", ticket, now, clock=lambda: _clock_data(clock))
