"""Escalations to team leads (level 1) and the SMM (level 2): raise, acknowledge, resolve, tell.

docs/architecture.md, Escalation: each (ticket, reason, level) escalates at most once (a unique
constraint, so concurrent rules cannot double it); an escalation not acknowledged within its
deadline notifies again once and, at level 1, climbs to level 2. Rules and the
ladder sweep live in desk.escalation.rules, crisis incidents in desk.escalation.crisis.
"""
import json
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    case,
    exists,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts import audit
from desk.accounts.users import User
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.core.texts import N_, Later, shown, term
from desk.core.types import UTCDateTime
from desk.escalation.settings import current_settings
from desk.inbox.tickets import Ticket
from desk.notify.notifications import in_locale, notify
from desk.notify.webhooks import queue_event

REASONS = ("crisis", "complaint", "legal", "vip", "sla_breach", "other")
REASON_IDS = {"crisis": N_("Crisis"), "complaint": N_("Complaint"), "legal": N_("Legal"),
              "vip": N_("VIP"), "sla_breach": N_("SLA breach"), "other": N_("Other")}
LEVEL_IDS = {1: N_("Team lead"), 2: N_("SMM")}
REASON_LABELS = {key: _l(msgid) for key, msgid in REASON_IDS.items()}
LEVEL_LABELS = {key: _l(msgid) for key, msgid in LEVEL_IDS.items()}
MANUAL_REASONS = ("crisis", "complaint", "legal", "vip", "other")
LEVELS = {1: "lead", 2: "smm"}  # level -> the role that handles (and acknowledges) it


class Forbidden(DeskError):
    status = 403


class Escalation(db.Model):
    __table_args__ = (
        UniqueConstraint("ticket_id", "reason", "level", name="uq_escalation_ticket_reason_level"),
        # The ladder sweep: open, unacknowledged escalations by deadline.
        Index("ix_escalation_open_due", "resolved_at", "acknowledged_at", "ack_due_at"),
        Index("ix_escalation_level_created", "level", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    reason: Mapped[str] = mapped_column(String(12))
    level: Mapped[int]
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    rule: Mapped[str | None] = mapped_column(String(60))  # the rule's name when no user raised it
    note: Mapped[str] = mapped_column(Text, default="")  # as written, or a rule's note in English
    # A rule's note as a message id and its values (desk.core.texts), shown in the reader's
    # language; None for notes people wrote (and rows from before).
    note_message: Mapped[str | None] = mapped_column(String(200))
    note_params: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renotified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))

    ticket: Mapped[Ticket] = relationship()
    raised_by: Mapped[User | None] = relationship(foreign_keys=[raised_by_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])

    @property
    def note_text(self) -> str:
        """The note in the reader's language."""
        return shown(self.note, self.note_message, self.note_params)

    def note_later(self) -> "Later | str":
        """The note to quote in another note: a message when it was one."""
        if self.note_message:
            later = Later(self.note_message)
            later.values = json.loads(self.note_params or "{}")
            return later
        return self.note

    @property
    def state(self) -> str:
        if self.resolved_at:
            return "resolved"
        return "acknowledged" if self.acknowledged_at else "open"


def can_handle(user: User, level: int) -> bool:
    """Leads handle level 1, SMMs (and admins) level 1 and 2."""
    return user.has_role(LEVELS[level])


def escalate(ticket_id: int, reason: str, level: int, note: str, now: datetime,
             user_id: int | None = None, rule: str | None = None) -> Escalation:
    """Raise an escalation once per (ticket, reason, level); a repeat returns the first. Commits."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(_("no ticket %(id)s", id=ticket_id))
    escalation, _created = raise_escalation(ticket, reason, level, note, now, user_id=user_id,
                                            rule=rule)
    db.session.commit()
    return escalation


def raise_escalation(ticket: Ticket, reason: str, level: int, note: "str | Later", now: datetime, *,
                     user_id: int | None = None, rule: str | None = None,
                     incident_id: int | None = None) -> tuple[Escalation, bool]:
    """The escalation for (ticket, reason, level), created if new; no commit (for receivers)."""
    if reason not in REASONS:
        raise DeskError(f"unknown reason {reason!r}; choose one of {', '.join(REASONS)}")
    if level not in LEVELS:
        raise DeskError(_("the level is 1 (team lead) or 2 (SMM)"))
    message = params = None
    if isinstance(note, Later):  # a rule's note: stored as a message, English kept beside it
        message, params = note.msgid, note.params()
        note = in_locale(note, "en")
    note = (note or "").strip()
    if len(note) > 2000:
        raise DeskError(_("a note has at most 2000 characters"))
    existing = _find(ticket.id, reason, level)
    if existing is not None:
        return existing, False
    escalation = Escalation(ticket_id=ticket.id, reason=reason, level=level, note=note,
                            note_message=message, note_params=params,
                            raised_by_id=user_id, rule=None if user_id else (rule or "system"),
                            created_at=now, ack_due_at=now + ack_window(),
                            incident_id=incident_id)
    try:
        # A savepoint: a concurrent rule that inserted the same key first wins, we read it.
        with db.session.begin_nested():
            db.session.add(escalation)
    except IntegrityError:
        return _find(ticket.id, reason, level), False
    ticket.escalated = True
    audit.record("escalation.raised", ticket_id=ticket.id, user_id=user_id,
                 actor="user" if user_id else f"rule:{escalation.rule}", at=now,
                 data={"escalation_id": escalation.id, "reason": reason, "level": level,
                       "note": note, "incident_id": incident_id})
    announce(escalation, "raised", now)
    return escalation, True


def acknowledge(escalation_id: int, user: User, now: datetime) -> Escalation:
    """Record who acknowledged it (stops the ladder); Forbidden below the level's role. Commits."""
    escalation = _get_for(escalation_id, user)
    if escalation.acknowledged_at is None and escalation.resolved_at is None:
        escalation.acknowledged_at, escalation.acknowledged_by_id = now, user.id
        audit.record("escalation.acknowledged", ticket_id=escalation.ticket_id, user_id=user.id,
                     at=now, data={"escalation_id": escalation.id, "level": escalation.level})
        announce(escalation, "acknowledged", now, notify_users=False)
        _tell_raiser(escalation, user, now)
        db.session.commit()
    return escalation


def _tell_raiser(escalation: Escalation, user: User, now: datetime) -> None:
    """The person who raised it hears that it was acknowledged (not when they did it)."""
    if escalation.raised_by_id and escalation.raised_by_id != user.id:
        ticket = escalation.ticket or db.session.get(Ticket, escalation.ticket_id)
        notify([escalation.raised_by_id], "escalation",
               Later(N_("%(name)s acknowledged your escalation of %(ref)s (%(reason)s)."),
                     name=user.name, ref=ticket.reference,
                     reason=term(REASON_IDS.get(escalation.reason, N_("Other")))),
               dedupe_key=f"escalation:{escalation.id}:acknowledged", link=f"/tickets/{ticket.id}",
               ticket_id=ticket.id, now=now)


def resolve(escalation_id: int, user: User, note: str, now: datetime) -> Escalation:
    """Close it with a resolution note; the ticket stays escalated while others are open. Commits."""
    escalation = _get_for(escalation_id, user)
    note = (note or "").strip()
    if not note:
        raise DeskError(_("say how it was resolved (a resolution note is required)"))
    if len(note) > 2000:
        raise DeskError(_("a note has at most 2000 characters"))
    if escalation.resolved_at is not None:
        return escalation
    escalation.resolved_at, escalation.resolved_by_id = now, user.id
    escalation.resolution_note = note
    if escalation.acknowledged_at is None:
        escalation.acknowledged_at, escalation.acknowledged_by_id = now, user.id
    db.session.flush()
    escalation.ticket.escalated = db.session.scalar(select(exists().where(
        Escalation.ticket_id == escalation.ticket_id, Escalation.resolved_at.is_(None))))
    audit.record("escalation.resolved", ticket_id=escalation.ticket_id, user_id=user.id, at=now,
                 data={"escalation_id": escalation.id, "note": note})
    announce(escalation, "resolved", now, notify_users=False)
    db.session.commit()
    return escalation


def ack_window() -> timedelta:
    return timedelta(minutes=current_settings().ack_minutes)


def level_users(level: int) -> list[User]:
    """Who handles a level: leads for 1 (SMMs when there are none), SMMs for 2."""
    role = LEVELS[level]
    users = db.session.scalars(select(User).where(User.role == role, User.active)).all()
    if not users and level == 1:
        users = db.session.scalars(select(User).where(User.role == "smm", User.active)).all()
    return list(users)


def announce(escalation: Escalation, event: str, now: datetime, notify_users: bool = True) -> None:
    """Tell the level's people (in-app, e-mail job) and the chat bridge (signed webhook job)."""
    ticket = escalation.ticket or db.session.get(Ticket, escalation.ticket_id)
    if notify_users:
        recipients = [u.id for u in level_users(escalation.level)]
        text = describe(escalation, ticket, event)
        created = notify(recipients, "escalation", text, dedupe_key=f"escalation:{escalation.id}:{event}",
                         link=f"/tickets/{ticket.id}", ticket_id=ticket.id, now=now)
        if created and current_app.config.get("SMTP_HOST"):
            enqueue_after_commit("notify", "workers.escalations.mail_escalation",
                                 escalation.id, event)
    queue_event(f"escalation.{event}", payload(escalation, ticket), now)


def describe(escalation: Escalation, ticket: Ticket, event: str = "raised") -> Later:
    """One line for notifications and e-mail, a message rendered in the reader's language
    (plain text; templates escape it)."""
    values = {"ref": ticket.reference, "level": term(LEVEL_IDS[escalation.level]),
              "reason": term(REASON_IDS[escalation.reason]) if escalation.reason in REASON_IDS
              else escalation.reason, "subject": (ticket.subject or "")[:120]}
    if event == "reminder":
        return Later(N_("Reminder: not acknowledged yet. %(ref)s escalated to %(level)s "
                        "(%(reason)s): %(subject)s"), **values)
    return Later(N_("%(ref)s escalated to %(level)s (%(reason)s): %(subject)s"), **values)


def payload(escalation: Escalation, ticket: Ticket) -> dict:
    return {"escalation_id": escalation.id, "ticket_id": ticket.id,
            "ticket_reference": ticket.reference, "reason": escalation.reason,
            "level": escalation.level, "state": escalation.state, "note": escalation.note,
            "raised_by": escalation.raised_by_id, "rule": escalation.rule,
            "incident_id": escalation.incident_id,
            "created_at": escalation.created_at.isoformat(),
            "ack_due_at": escalation.ack_due_at.isoformat()}


def queue(level: int | None, state: str, limit: int = 200) -> list[Escalation]:
    """Escalations in one state (open, acknowledged, resolved), optionally of one level."""
    query = select(Escalation)
    if level:
        query = query.where(Escalation.level == level)
    if state == "resolved":
        query = query.where(Escalation.resolved_at.is_not(None)).order_by(Escalation.resolved_at.desc())
    elif state == "acknowledged":
        query = query.where(Escalation.resolved_at.is_(None), Escalation.acknowledged_at.is_not(None)
                            ).order_by(Escalation.acknowledged_at.desc())
    else:
        query = query.where(Escalation.resolved_at.is_(None), Escalation.acknowledged_at.is_(None)
                            ).order_by(Escalation.ack_due_at)
    return list(db.session.scalars(query.limit(limit)))


def counts(level: int | None) -> dict[str, int]:
    """How many escalations are open, acknowledged and resolved (of one level, or all)."""
    state = case((Escalation.resolved_at.is_not(None), "resolved"),
                 (Escalation.acknowledged_at.is_not(None), "acknowledged"), else_="open")
    query = select(state, func.count()).group_by(state)
    if level:
        query = query.where(Escalation.level == level)
    found = dict(db.session.execute(query).all())
    return {name: found.get(name, 0) for name in ("open", "acknowledged", "resolved")}


def for_ticket(ticket_id: int) -> list[Escalation]:
    return list(db.session.scalars(select(Escalation).where(Escalation.ticket_id == ticket_id)
                                   .order_by(Escalation.created_at.desc(), Escalation.id.desc())))


def _find(ticket_id: int, reason: str, level: int) -> Escalation | None:
    return db.session.scalar(select(Escalation).where(
        Escalation.ticket_id == ticket_id, Escalation.reason == reason, Escalation.level == level))


def _get_for(escalation_id: int, user: User) -> Escalation:
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None:
        raise NotFound(_("no escalation %(id)s", id=escalation_id))
    if not can_handle(user, escalation.level):
        raise Forbidden(_("only a team lead can handle level 1 and only the SMM level 2"))
    return escalation
