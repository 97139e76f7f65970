"""E-mail for escalations, sent by a job on the notify queue through desk.mailer."""
from flask import current_app

from desk import audit
from desk.clock import now as clock_now
from desk.escalations import Escalation, describe, level_users
from desk.extensions import db
from desk.mailer import send_mail

SUBJECTS = {"raised": "Escalation", "reminder": "Reminder: escalation not acknowledged"}


def mail_escalation(escalation_id: int, event: str) -> int:
    """Mail the level's people about one escalation event; returns how many were mailed."""
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.resolved_at is not None:
        return 0
    if event == "reminder" and escalation.acknowledged_at is not None:
        return 0  # acknowledged meanwhile: nothing to remind about
    recipients = sorted(u.email for u in level_users(escalation.level) if u.email)
    ticket = escalation.ticket
    link = f"{current_app.config['BASE_URL'].rstrip('/')}/tickets/{ticket.id}"
    subject = f"[desk] {SUBJECTS.get(event, 'Escalation')}: {ticket.reference} ({escalation.reason})"
    lines = [describe(escalation, ticket, event), "",
             f"Reason: {escalation.reason} · level {escalation.level}",
             f"Raised by: {escalation.raised_by_label}",
             f"Note: {escalation.note or '-'}",
             f"Acknowledge by: {escalation.ack_due_at:%Y-%m-%d %H:%M} UTC", "", link]
    if not send_mail(recipients, subject, "\n".join(lines)):
        return 0
    audit.record("escalation.mailed", ticket_id=ticket.id, actor="system", at=clock_now(),
                 data={"escalation_id": escalation.id, "event": event, "to": len(recipients)})
    db.session.commit()
    return len(recipients)
