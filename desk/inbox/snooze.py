"""Snooze: a ticket leaves the working views until a time, or until the customer writes, and
comes back by itself. Snoozing stops no clock: a first response still owed keeps running."""
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from desk.accounts import audit
from desk.accounts.users import User
from desk.core import signals
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.inbox.tickets import Ticket


def awake(now: datetime):
    """A WHERE clause: the ticket is not snoozed at `now` (a snooze whose time passed is over)."""
    return or_(Ticket.snoozed_at.is_(None),
               and_(Ticket.snoozed_until.is_not(None), Ticket.snoozed_until <= now))


def asleep(now: datetime):
    """A WHERE clause: the ticket is snoozed at `now`."""
    return and_(Ticket.snoozed_at.is_not(None),
                or_(Ticket.snoozed_until.is_(None), Ticket.snoozed_until > now))


def is_snoozed(ticket: Ticket, now: datetime) -> bool:
    return ticket.snoozed_at is not None and (ticket.snoozed_until is None or ticket.snoozed_until > now)


def snooze(ticket_id: int, actor: User, until: datetime | None, now: datetime) -> Ticket:
    """Snooze an open ticket until `until` (a future time) or, when None, until the customer
    writes; commits. The SLA clock is left as it is."""
    if until is not None and until <= now:
        raise DeskError(_("Choose a time in the future."))
    ticket = db.session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise NotFound(_("No ticket %(id)s", id=ticket_id))
    if ticket.status == "resolved":
        raise DeskError(_("A resolved ticket cannot be snoozed."))
    ticket.snoozed_at, ticket.snoozed_until, ticket.updated_at = now, until, now
    audit.record("ticket.snoozed", ticket_id=ticket.id, user_id=actor.id, at=now,
                 data={"until": until.isoformat() if until else "customer"})
    db.session.commit()
    return ticket


def unsnooze(ticket_id: int, actor: User, now: datetime) -> Ticket:
    """Bring a snoozed ticket back now; commits (a no-op on one that is awake)."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise NotFound(_("No ticket %(id)s", id=ticket_id))
    if ticket.snoozed_at is not None:
        _wake(ticket, now, "agent", actor.id)
    db.session.commit()
    return ticket


def _wake(ticket: Ticket, now: datetime, reason: str, user_id: int | None = None) -> None:
    ticket.snoozed_at = ticket.snoozed_until = None
    ticket.updated_at = now
    audit.record("ticket.woken", ticket_id=ticket.id, user_id=user_id,
                 actor="user" if user_id else "system", at=now, data={"reason": reason})


def wake_ended(now: datetime) -> int:
    """Clear snoozes whose time has come (the lists already show them); commits; how many."""
    ids = list(db.session.scalars(select(Ticket.id).where(
        Ticket.snoozed_at.is_not(None), Ticket.snoozed_until <= now)))
    for ticket_id in ids:
        audit.record("ticket.woken", ticket_id=ticket_id, actor="system", at=now,
                     data={"reason": "time"})
    if ids:
        db.session.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
            snoozed_at=None, snoozed_until=None, updated_at=now)
            .execution_options(synchronize_session=False))
    db.session.commit()
    return len(ids)


@signals.customer_message.connect
def _on_customer_message(ticket, message, now, **_):
    """The customer wrote: a snoozed ticket comes back (whichever way it was snoozed)."""
    if ticket.snoozed_at is not None:
        _wake(ticket, now, "customer")
