"""First- and next-response clocks (DESIGN.md, SLA semantics).

This first version applies the default policy (60 minutes, warning 15 minutes before, 24/7);
policies, calendars and the sweep build on the same three entry points:
on_customer_message, on_agent_reply and waive.
"""
from datetime import datetime, timedelta

from desk import signals
from desk.clock import as_utc

DEFAULT_TARGET = timedelta(minutes=60)
DEFAULT_WARNING = timedelta(minutes=15)


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    """A customer wrote: start the first-response clock, or a next-response one after a reply."""
    if message.direction != "in" or ticket.sla_state == "waived" and ticket.status == "resolved":
        return
    started = as_utc(message.sent_at)
    if ticket.first_response_started_at is None:
        ticket.first_response_started_at = started
        ticket.first_response_due_at = started + DEFAULT_TARGET
        _run_clock(ticket, started, now)
    elif ticket.first_response_at is not None and ticket.sla_state in ("met", "late", "waived", None):
        # After the first reply, a new waiting message starts a next-response clock.
        _run_clock(ticket, started, now)


@signals.reply_released.connect
def on_agent_reply(ticket, message, now: datetime, **_) -> None:
    """An agent's reply went to the customer: stop the running clock (notes never get here)."""
    if message.direction != "out" or message.automatic or ticket.sla_due_at is None:
        return
    replied = as_utc(message.sent_at)
    if ticket.sla_state not in ("on_track", "at_risk", "breached"):
        return
    ticket.sla_state = "met" if replied <= ticket.sla_due_at else "late"
    if ticket.first_response_at is None:
        ticket.first_response_at = replied
        ticket.first_responder_id = message.author_id


@signals.ticket_resolved.connect
def waive(ticket, now: datetime, resolution: str = "replied", **_) -> None:
    """Resolved as "no reply needed": the running clock leaves attainment."""
    if resolution != "no_reply_needed":
        return
    if ticket.sla_state in ("on_track", "at_risk", "breached", None):
        ticket.sla_state = "waived"


def current_state(ticket, now: datetime) -> str | None:
    """The state of the running clock at `now` (the stored state may lag one sweep)."""
    if ticket.sla_state not in ("on_track", "at_risk", "breached"):
        return ticket.sla_state
    if now >= ticket.sla_due_at:
        return "breached"
    if ticket.sla_warn_at and now >= ticket.sla_warn_at:
        return "at_risk"
    return "on_track"


def _run_clock(ticket, started: datetime, now: datetime) -> None:
    ticket.sla_due_at = started + DEFAULT_TARGET
    ticket.sla_warn_at = ticket.sla_due_at - DEFAULT_WARNING
    ticket.sla_state = "on_track"
    ticket.sla_state = current_state(ticket, now)
