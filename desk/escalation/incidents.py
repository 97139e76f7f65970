"""What the SMM does with a crisis incident: approve or reject held replies, answer every
grouped ticket with one reviewed reply, switch approval, resolve. Each action commits."""
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from desk.accounts import audit
from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import N_, Later
from desk.escalation.crisis import CrisisSignal, Incident, incident_tickets
from desk.escalation.escalations import Escalation, Forbidden
from desk.escalation.escalations import resolve as resolve_escalation
from desk.inbox.outbound import create_reply, release_reply, reply_options
from desk.inbox.tickets import Message, Ticket
from desk.notify.notifications import notify


def _require_smm(user: User) -> None:
    if not user.has_role("smm"):
        raise Forbidden(_("only the SMM decides on crisis replies"))


def get_incident(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(_("no incident %(id)s", id=incident_id))
    return incident


def _held(message_id: int) -> Message:
    message = db.session.get(Message, message_id)
    if message is None or message.direction != "out":
        raise NotFound(_("no reply %(id)s", id=message_id))
    if message.delivery_state != "held":
        raise DeskError(_("this reply is not waiting for approval"))
    return message


def approve_reply(message_id: int, user: User, now: datetime) -> Message:
    """Release a held reply for delivery (desk.inbox.outbound); Forbidden below SMM."""
    _require_smm(user)
    message = _held(message_id)
    audit.record("reply.approved", ticket_id=message.ticket_id, user_id=user.id, at=now,
                 data={"message_id": message.id})
    return release_reply(message.id, now)


def reject_reply(message_id: int, user: User, note: str, now: datetime) -> Message:
    """Keep a held reply from ever going out and tell its author why; Forbidden below SMM."""
    _require_smm(user)
    message = _held(message_id)
    message.delivery_state = "rejected"
    message.delivery_error = (note or "").strip()[:2000] or None
    audit.record("reply.rejected", ticket_id=message.ticket_id, user_id=user.id, at=now,
                 data={"message_id": message.id, "note": message.delivery_error})
    if message.author_id:
        notify([message.author_id], "approval",
               Later(N_("%(ref)s: your reply was not approved. %(note)s"),
                     ref=message.ticket.reference, note=(note or "").strip()),
               dedupe_key=f"rejected:{message.id}", link=f"/tickets/{message.ticket_id}",
               ticket_id=message.ticket_id, now=now)
    db.session.commit()
    return message


def reply_to_all(incident_id: int, user: User, text: str, now: datetime) -> list[Message]:
    """Send one reviewed reply on every unresolved grouped ticket (public where possible)."""
    _require_smm(user)
    incident = get_incident(incident_id)
    if not (text or "").strip():
        raise DeskError(_("write the reply first"))
    targets = [(t.id, "public" if "public" in reply_options(t) else reply_options(t)[0])
               for t in incident.tickets if t.status != "resolved"]
    if not targets:
        raise DeskError(_("every ticket of this incident is already resolved"))
    audit.record("incident.replied_all", user_id=user.id, at=now,
                 data={"incident_id": incident.id, "tickets": [t for t, _target in targets]})
    db.session.commit()
    return [create_reply(ticket_id, user.id, text, visibility, now)
            for ticket_id, visibility in targets]


def set_approval(incident_id: int, user: User, required: bool, now: datetime) -> Incident:
    _require_smm(user)
    incident = get_incident(incident_id)
    incident.approval_required = bool(required)
    audit.record("incident.approval", user_id=user.id, at=now,
                 data={"incident_id": incident.id, "required": incident.approval_required})
    db.session.commit()
    return incident


def resolve_incident(incident_id: int, user: User, note: str, now: datetime) -> Incident:
    """Close the incident and its crisis escalation; held replies still await a decision."""
    _require_smm(user)
    incident = get_incident(incident_id)
    note = (note or "").strip()
    if not note:
        raise DeskError(_("say how the incident was resolved"))
    if incident.status == "resolved":
        return incident
    incident.status, incident.resolved_at = "resolved", now
    incident.resolved_by_id, incident.resolution_note = user.id, note[:2000]
    audit.record("incident.resolved", user_id=user.id, at=now,
                 data={"incident_id": incident.id, "note": note[:2000]})
    open_escalations = db.session.scalars(select(Escalation.id).where(
        Escalation.incident_id == incident.id, Escalation.resolved_at.is_(None))).all()
    db.session.commit()
    for escalation_id in open_escalations:
        resolve_escalation(escalation_id, user, note, now)
    return incident


def held_replies(incident_id: int | None = None, limit: int = 100) -> list[Message]:
    """Replies waiting for approval, oldest first (of one incident, or all)."""
    query = select(Message).where(Message.delivery_state == "held", Message.direction == "out")
    if incident_id is not None:
        query = query.join(incident_tickets, incident_tickets.c.ticket_id == Message.ticket_id
                           ).where(incident_tickets.c.incident_id == incident_id)
    return list(db.session.scalars(query.order_by(Message.sent_at, Message.id).limit(limit)))


def held_for_ticket(ticket_id: int) -> int:
    """How many replies on this ticket wait for the SMM's approval."""
    return db.session.scalar(select(func.count()).select_from(Message).where(
        Message.ticket_id == ticket_id, Message.delivery_state == "held")) or 0


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # message, opened, replied_all, approval, resolved
    text: str
    signal: CrisisSignal | None = None


@dataclass
class IncidentView:
    incident: Incident
    tickets: list[Ticket]
    reach: int
    channels: list[str]
    timeline: list[TimelineItem]
    escalation: Escalation | None
    held: list[Message]


def incident_view(incident_id: int) -> IncidentView:
    """Everything the incident page shows: tickets, reach (followers), timeline, held replies."""
    incident = get_incident(incident_id)
    tickets = list(incident.tickets)
    customers = {t.customer_id: (t.customer.followers or 0) for t in tickets}
    channels = sorted({t.channel.label for t in tickets})
    timeline = [TimelineItem(s.at, "message", s.message.text, s) for s in db.session.scalars(
        select(CrisisSignal).where(CrisisSignal.incident_id == incident.id)
        .order_by(CrisisSignal.at, CrisisSignal.id))]
    timeline.append(TimelineItem(incident.created_at, "opened", ""))
    steps = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ("incident.replied_all", "incident.approval", "incident.resolved")),
        AuditEvent.created_at >= incident.created_at).order_by(AuditEvent.id).limit(500))
    timeline += [TimelineItem(e.created_at, e.action.split(".")[1], e.data.get("note", ""))
                 for e in steps if e.data.get("incident_id") == incident.id]
    timeline.sort(key=lambda item: item.at)
    escalation = db.session.scalar(select(Escalation).where(
        Escalation.incident_id == incident.id).order_by(Escalation.id).limit(1))
    return IncidentView(incident, tickets, sum(customers.values()), channels, timeline,
                        escalation, held_replies(incident.id))


def recent_incidents(limit: int = 50) -> list[Incident]:
    return list(db.session.scalars(select(Incident).order_by(
        Incident.status, Incident.created_at.desc()).limit(limit)))  # open first
