"""E-mail for escalations, sent by a job on the notify queue through desk.notify.mailer, each
recipient in their own language."""
from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _

from desk.accounts import audit
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.texts import for_reader
from desk.escalation.escalations import REASON_LABELS, Escalation, describe, level_users
from desk.notify.mailer import send_mail
from desk.notify.preferences import wants


def mail_escalation(escalation_id: int, event: str) -> int:
    """Mail the level's people about one escalation event; returns how many were mailed."""
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.resolved_at is not None:
        return 0
    if event == "reminder" and escalation.acknowledged_at is not None:
        return 0  # acknowledged meanwhile: nothing to remind about
    readers: dict[tuple[str, str], list[str]] = {}
    for user in level_users(escalation.level):
        if user.email and wants(user.notification_prefs, "escalation", "mail"):
            readers.setdefault((user.locale or "", user.timezone or ""), []).append(user.email)
    mailed = 0
    for (locale, time_zone), recipients in sorted(readers.items()):
        with for_reader(locale or None, time_zone or None):
            subject, body = _escalation_mail(escalation, event)
        if send_mail(sorted(recipients), subject, body):
            mailed += len(recipients)
    if not mailed:
        return 0
    audit.record("escalation.mailed", ticket_id=escalation.ticket_id, actor="system",
                 at=clock_now(), data={"escalation_id": escalation.id, "event": event, "to": mailed})
    db.session.commit()
    return mailed


def _escalation_mail(escalation: Escalation, event: str) -> tuple[str, str]:
    """(subject, plain-text body) in the current locale."""
    ticket = escalation.ticket
    reason = str(REASON_LABELS.get(escalation.reason, escalation.reason))
    what = _("Reminder: escalation not acknowledged") if event == "reminder" else _("Escalation")
    subject = f"[desk] {what}: {ticket.reference} ({reason})"
    raised_by = (escalation.raised_by.name if escalation.raised_by
                 else _("rule: %(name)s", name=escalation.rule or "system"))
    lines = [str(describe(escalation, ticket, event)), "",
             _("Reason: %(reason)s · level %(level)s", reason=reason, level=escalation.level),
             _("Raised by: %(name)s", name=raised_by),
             _("Note: %(note)s", note=escalation.note_text or "-"),
             _("Acknowledge by: %(when)s", when=format_datetime(escalation.ack_due_at,
                                                                 "d MMM yyyy HH:mm zzzz")), "",
             f"{current_app.config['BASE_URL'].rstrip('/')}/tickets/{ticket.id}"]
    return subject, "\n".join(lines)
