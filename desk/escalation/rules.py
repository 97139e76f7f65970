"""Automatic escalation (docs/architecture.md, Escalation): the rules' signal receivers and
the ladder sweep. Receivers never commit.

Rules: a first-response breach -> level 1; still unanswered N minutes after the breach ->
level 2 (applied by the ladder sweep); a complaint from a VIP or an account above a follower
threshold -> level 2; legal or press keywords (Spanish and English, whole words, accent- and
case-insensitive) -> level 2. The ladder renotifies unacknowledged escalations once and
climbs level 1 to level 2.
"""
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select, update

from desk.accounts import audit
from desk.core import signals
from desk.core.extensions import db
from desk.core.texts import N_, Later, number
from desk.escalation.escalations import Escalation, announce, raise_escalation
from desk.escalation.sentiment import is_negative
from desk.escalation.settings import current_settings, matched_keywords
from desk.inbox.tickets import Ticket


@signals.sla_breached.connect
def on_sla_breached(ticket, now: datetime, clock=None, **_) -> None:
    """First-response breach -> level 1 (once per ticket); next-response clocks are left to
    the breach-plus-minutes rule."""
    if getattr(clock, "kind", "first") != "first":
        return
    settings = current_settings()
    if settings.breach_level1 and ticket.status != "resolved":
        raise_escalation(ticket, "sla_breach", 1, Later(N_("First-response target missed.")), now,
                         rule="sla_breach")


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    """Keyword and VIP/reach rules on each customer message."""
    if message.direction != "in" or not (message.text or "").strip():
        return
    settings = current_settings()
    if settings.keywords_enabled:
        found = matched_keywords(message.text, settings.keywords)
        if found:
            raise_escalation(ticket, "legal", 2, Later(N_("Legal or press risk: %(words)s"),
                                                        words=", ".join(found)),
                             now, rule="keywords")
    customer = ticket.customer
    if not is_negative(message.text) or customer is None:
        return
    if settings.vip_level2 and customer.vip:
        raise_escalation(ticket, "vip", 2, Later(N_("Complaint from a VIP customer.")), now,
                         rule="vip")
    elif settings.follower_threshold and (customer.followers or 0) >= settings.follower_threshold:
        raise_escalation(ticket, "complaint", 2,
                         Later(N_("Complaint from an account with %(followers)s followers."),
                               followers=number(customer.followers)),
                         now, rule="reach")


def breach_level2_due(now: datetime) -> int:
    """Tickets still unanswered N minutes after their breach -> level 2 (no commit)."""
    settings = current_settings()
    if not settings.breach_level2_minutes:
        return 0
    cutoff = now - timedelta(minutes=settings.breach_level2_minutes)
    already = exists().where(and_(Escalation.ticket_id == Ticket.id,
                                  Escalation.reason == "sla_breach", Escalation.level == 2))
    tickets = db.session.scalars(select(Ticket).where(
        Ticket.status.in_(("open", "pending")), Ticket.sla_state == "breached",
        Ticket.sla_due_at <= cutoff,
        ~already).order_by(Ticket.sla_due_at).limit(500)).all()
    created = 0
    for ticket in tickets:
        _esc, new = raise_escalation(
            ticket, "sla_breach", 2,
            Later(N_("Still unanswered %(minutes)s minutes after the breach."),
                  minutes=settings.breach_level2_minutes),
            now, rule="breach_level2")
        created += int(new)
    return created


def ladder_sweep(now: datetime) -> dict:
    """Renotify overdue unacknowledged escalations once (level 1 climbs to 2) and apply the
    breach-plus-minutes rule; idempotent, safe to run concurrently. Commits."""
    renotified = climbed = 0
    overdue = db.session.scalars(select(Escalation.id).where(
        Escalation.resolved_at.is_(None), Escalation.acknowledged_at.is_(None),
        Escalation.renotified_at.is_(None), Escalation.ack_due_at <= now)
        .order_by(Escalation.ack_due_at).limit(500)).all()
    for escalation_id in overdue:
        claimed = db.session.execute(
            update(Escalation).where(Escalation.id == escalation_id,
                                     Escalation.renotified_at.is_(None))
            .values(renotified_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            continue  # another sweep took it
        escalation = db.session.get(Escalation, escalation_id)
        db.session.refresh(escalation)
        renotified += 1
        audit.record("escalation.renotified", ticket_id=escalation.ticket_id, actor="rule:ladder",
                     at=now, data={"escalation_id": escalation.id, "level": escalation.level})
        announce(escalation, "reminder", now)
        if escalation.level == 1:
            _up, created = raise_escalation(
                escalation.ticket, escalation.reason, 2,
                Later(N_("Level 1 not acknowledged in time. %(note)s"), note=escalation.note_later()),
                now,
                rule="ladder", incident_id=escalation.incident_id)
            climbed += int(created)
    breach = breach_level2_due(now)
    db.session.commit()
    return {"renotified": renotified, "climbed": climbed, "breach_level2": breach}
