"""First- and next-response clocks (docs/architecture.md, SLA).

Every clock is a row in `sla_clock`; the ticket mirrors its latest clock in sla_state,
sla_due_at and sla_warn_at (the inbox sorts on them) and keeps first_response_*.
Receivers: customer_message starts a clock, reply_released stops it, ticket_resolved with
"no reply needed" waives it. Clocks start `on_track`; only the sweep (desk.sla.sweep)
records at_risk and breached, exactly once.
"""
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk.core import signals
from desk.core.clock import as_utc
from desk.core.extensions import db
from desk.inbox.tickets import Message
from desk.sla.calendar import add_working_time
from desk.sla.policies import OPEN_STATES, RUNNING, SlaClock, SlaPolicy, policy_for

DEFAULT_TARGET = timedelta(minutes=60)
DEFAULT_WARNING = timedelta(minutes=15)


def latest_clock(ticket) -> SlaClock | None:
    """The ticket's newest clock (the one its sla_* fields mirror), or None."""
    if ticket.id is None:
        db.session.flush()
    return db.session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket.id)
                             .order_by(SlaClock.started_at.desc(), SlaClock.id.desc()).limit(1))


def clocks_of(ticket_id: int) -> list[SlaClock]:
    """Every clock of a ticket, oldest first."""
    return list(db.session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id)
                                   .order_by(SlaClock.started_at, SlaClock.id)))


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    """A customer wrote: start the first-response clock, or a next-response one after a reply."""
    if message.direction != "in" or (ticket.status == "resolved" and ticket.sla_state == "waived"):
        return
    start_clock_for(ticket, as_utc(message.sent_at) or now)


def start_clock_for(ticket, started: datetime) -> SlaClock | None:
    """Start the clock a customer message at `started` needs; earlier messages move it back."""
    if _first_clock_runs_since(ticket, started):
        return None  # a follow-up while the first response is owed: the common case, no query
    clock = latest_clock(ticket)
    if clock is not None and clock.state in OPEN_STATES:
        # Follow-ups never restart a running clock; one that arrives late but was written
        # earlier moves the start back, because the customer has waited since then.
        if started < clock.started_at and clock.breached_at is None:
            _set_times(clock, clock.policy or policy_for(ticket), started)
            _mirror(ticket, clock)
        return None
    if clock is not None and clock.stopped_at and started <= clock.stopped_at:
        return None  # written before the last answer (or waiver): already taken care of
    kind = "first" if clock is None else "next"
    cycle = 0 if clock is None else (clock.cycle + 1 if clock.kind == "next" else 1)
    policy = policy_for(ticket)
    new = SlaClock(ticket_id=ticket.id, kind=kind, cycle=cycle, policy_id=policy.id)
    _set_times(new, policy, started)
    try:
        with db.session.begin_nested():  # a concurrent worker may have started this cycle
            db.session.add(new)
    except IntegrityError:
        return None
    ticket.sla_policy_id = policy.id
    if kind == "first":
        ticket.first_response_started_at = new.started_at
        ticket.first_response_due_at = new.due_at
    _mirror(ticket, new)
    return new


def _first_clock_runs_since(ticket, started: datetime) -> bool:
    """True when the ticket's mirror shows its first-response clock running since `started`
    or earlier (a later clock would have a due time of its own)."""
    return (ticket.id is not None and ticket.first_response_at is None
            and ticket.sla_state in OPEN_STATES and ticket.first_response_started_at is not None
            and ticket.sla_due_at == ticket.first_response_due_at
            and started >= as_utc(ticket.first_response_started_at))


def _set_times(clock: SlaClock, policy: SlaPolicy, started: datetime) -> None:
    target = policy.target(clock.kind)
    calendar = policy.calendar.to_calendar() if policy.calendar else None
    clock.started_at = started
    clock.target_minutes = int(target.total_seconds() // 60)
    clock.business_hours = calendar is not None
    clock.due_at = add_working_time(started, target, calendar)
    clock.warn_at = add_working_time(started, target - policy.warning_before(target), calendar)
    if clock.kind == "first" and clock.ticket is not None:
        clock.ticket.first_response_started_at = started
        clock.ticket.first_response_due_at = clock.due_at


def _mirror(ticket, clock: SlaClock) -> None:
    ticket.sla_state = clock.state
    ticket.sla_due_at = clock.due_at
    ticket.sla_warn_at = clock.warn_at
    ticket.sla_started_at = clock.started_at


@signals.reply_released.connect
def on_agent_reply(ticket, message, now: datetime, **_) -> None:
    """An agent's reply went to the customer: stop the running clock (notes never get here)."""
    if message.direction != "out" or message.automatic:
        return
    clock = latest_clock(ticket)
    replied = as_utc(message.sent_at) or now
    if clock is None or clock.state not in OPEN_STATES or replied < clock.started_at:
        return
    clock.state = "met" if replied <= clock.due_at else "late"
    clock.replied_at = replied
    clock.replied_by_id = message.author_id
    _mirror(ticket, clock)
    if clock.kind == "first" and ticket.first_response_at is None:
        ticket.first_response_at = replied
        ticket.first_responder_id = message.author_id


@signals.ticket_resolved.connect
def waive(ticket, now: datetime, resolution: str = "replied", **_) -> None:
    """Resolved as "no reply needed": the running clock leaves attainment.

    Resolving otherwise also closes a running next-response clock (a "thanks!" after the
    answer must not breach a closed ticket); a first response still owed keeps running.
    """
    clock = latest_clock(ticket)
    if clock is None:
        if resolution == "no_reply_needed":
            ticket.sla_state = "waived"
        return
    if clock.state not in OPEN_STATES:
        return
    if resolution == "no_reply_needed" or clock.kind == "next":
        clock.state = "waived"
        clock.waived_at = now
        _mirror(ticket, clock)


@signals.ticket_reopened.connect
def on_reopened(ticket, now: datetime, **_) -> None:
    """Reopened: a customer message written after the last answer waits again."""
    clock = latest_clock(ticket)
    if clock is None or clock.state in OPEN_STATES:
        return
    waiting = db.session.scalar(select(Message.sent_at).where(
        Message.ticket_id == ticket.id, Message.direction == "in",
        Message.sent_at > clock.stopped_at).order_by(Message.sent_at).limit(1))
    if waiting is not None:
        start_clock_for(ticket, waiting)


@signals.ticket_priority_changed.connect
def on_priority_changed(ticket, now: datetime, **_) -> None:
    """A new priority may match another policy: a running clock that has not breached takes
    it, its due and warning times counted again from its own start (a breach stays a breach)."""
    clock = latest_clock(ticket)
    if clock is None or clock.state not in RUNNING or clock.breached_at is not None:
        return
    policy = policy_for(ticket)
    if policy.id == clock.policy_id:
        return
    clock.policy_id, clock.policy = policy.id, policy
    _set_times(clock, policy, clock.started_at)
    if clock.state == "at_risk" and now < clock.warn_at:
        clock.state = "on_track"  # more time now; the warning already sent is not sent again
    ticket.sla_policy_id = policy.id
    _mirror(ticket, clock)


def current_state(ticket, now: datetime) -> str | None:
    """The state of the running clock at `now` (the stored state may lag one sweep)."""
    if ticket.sla_state not in OPEN_STATES:
        return ticket.sla_state
    if now >= ticket.sla_due_at:
        return "breached"
    if ticket.sla_warn_at and now >= ticket.sla_warn_at:
        return "at_risk"
    return "on_track"


def time_left(ticket, now: datetime) -> timedelta | None:
    """Time until the running clock's due time (negative once overdue); None when stopped."""
    if ticket.sla_state not in OPEN_STATES or ticket.sla_due_at is None:
        return None
    return ticket.sla_due_at - now


__all__ = ["RUNNING", "OPEN_STATES", "latest_clock", "clocks_of", "current_state", "time_left"]
