"""Reputation-crisis detection: a burst of similar negative messages forms one incident.

docs/architecture.md, Escalation: many similar negative messages in a short window (default 5 within 30 minutes,
rapidfuzz similarity, across channels) form one incident that groups the tickets and
escalates to the SMM once; later similar messages join the open incident. While an incident
that requires approval is open, public replies on its tickets by non-SMMs are held.
Actions on incidents (approve, reject, reply to all, resolve) are in desk.escalation.incidents.
"""
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from rapidfuzz import fuzz
from sqlalchemy import Column, ForeignKey, String, Table, Text, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts import audit
from desk.accounts.users import User
from desk.core import signals
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.core.texts import N_, Later
from desk.core.types import UTCDateTime
from desk.escalation.escalations import raise_escalation
from desk.escalation.sentiment import is_negative, tokens
from desk.escalation.settings import current_settings
from desk.inbox.tickets import Message, Ticket
from desk.notify.notifications import notify
from desk.notify.webhooks import queue_event

incident_tickets = Table(
    "incident_ticket", db.metadata,
    Column("incident_id", ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True),
    Column("ticket_id", ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)

# Words that carry no topic: two complaints are "similar" by what they are about.
STOPWORDS = set("""
    a al algo con de del el en es esta este esto estoy ha han he la las le les lo los me mi mis
    muy nos os para pero por que se si su sus te tu un una uno unos y ya yo ahora hoy
    the an and are as at be been but by do for from has have i im in is it its me my of on or
    our so that the this to was we were with you your just
""".split())
MIN_SHARED_WORDS = 2  # token_set_ratio is 100 for any subset; demand real overlap too
CRISIS_LOCK_KEY = 0x6465736B  # "desk": the advisory lock id for crisis detection


class Incident(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open, resolved
    approval_required: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)

    tickets: Mapped[list[Ticket]] = relationship(secondary=incident_tickets, order_by=Ticket.id)


class CrisisSignal(db.Model):
    """A negative customer message, kept with its comparable text for burst detection."""

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    text_key: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)

    ticket: Mapped[Ticket] = relationship()
    message: Mapped[Message] = relationship()


def comparable(text: str) -> str:
    """Normalised topic words (no stopwords, no emoji), for similarity."""
    return " ".join(t for t in tokens(text) if t[0].isalnum() and t not in STOPWORDS)[:500]


def similar(a: str, b: str, threshold: int) -> bool:
    """Same complaint: rapidfuzz token_set_ratio >= threshold and enough shared words."""
    if len(set(a.split()) & set(b.split())) < MIN_SHARED_WORDS:
        return False
    return fuzz.token_set_ratio(a, b) >= threshold


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    """Record negative messages; join an open incident or open one on a burst (no commit).

    On PostgreSQL detection is serialised by an advisory lock. An inbound batch only tries
    it: waiting there, with the batch's thread locks held, could deadlock with the other
    worker; when it is busy the message is looked at by a job of its own after the commit.
    """
    settings = current_settings()
    if not settings.crisis_enabled or message.direction != "in":
        return
    key = comparable(message.text or "")
    if len(key.split()) < MIN_SHARED_WORDS or not is_negative(message.text or ""):
        return
    db.session.flush()
    if db.session.get_bind().dialect.name == "postgresql":
        locked = db.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                   {"key": CRISIS_LOCK_KEY})
        if not locked:
            enqueue_after_commit("default", "workers.escalations.detect_crisis", message.id)
            return
    _detect(ticket, message, key, settings, now)


def detect_later(message_id: int, now: datetime) -> bool:
    """The job for a message a busy batch could not look at: waits for the crisis lock, in a
    transaction holding nothing else, then detects as the receiver would. Commits."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CRISIS_LOCK_KEY})
    message = db.session.get(Message, message_id)
    if message is None:
        db.session.commit()
        return False
    _detect(message.ticket, message, comparable(message.text or ""), current_settings(), now)
    db.session.commit()
    return True


def _detect(ticket, message, key: str, settings, now: datetime) -> None:
    """Record the signal once; join a matching open incident or open one on a burst."""
    if db.session.scalar(select(CrisisSignal.id).where(CrisisSignal.message_id == message.id)):
        return  # the same message published twice
    signal = CrisisSignal(message=message, ticket=ticket, text_key=key,
                          at=message.sent_at)
    db.session.add(signal)
    incident = _matching_open_incident(key, settings.crisis_similarity)
    if incident is not None:
        _join(incident, signal, ticket, now)
        return
    window = timedelta(minutes=settings.crisis_window_minutes)
    # Plain rows, not ORM objects: every negative message scans its window.
    recent = db.session.execute(select(CrisisSignal.id, CrisisSignal.ticket_id, CrisisSignal.text_key)
                                .where(CrisisSignal.incident_id.is_(None),
                                       CrisisSignal.at >= signal.at - window,
                                       CrisisSignal.at <= signal.at + window)
                                .order_by(CrisisSignal.at).limit(1000)).all()
    matches = [row for row in recent if row.ticket_id != ticket.id
               and similar(key, row.text_key, settings.crisis_similarity)]
    if len({row.ticket_id for row in matches}) + 1 >= settings.crisis_burst:
        burst = list(db.session.scalars(select(CrisisSignal).where(
            CrisisSignal.id.in_([row.id for row in matches])))) + [signal]
        _open_incident(burst, settings.crisis_approval, now)


def _matching_open_incident(key: str, threshold: int) -> Incident | None:
    incidents = db.session.scalars(select(Incident).where(Incident.status == "open")
                                   .order_by(Incident.created_at.desc()).limit(20)).all()
    for incident in incidents:
        keys = db.session.scalars(select(CrisisSignal.text_key).where(
            CrisisSignal.incident_id == incident.id).order_by(CrisisSignal.at.desc()).limit(30))
        if any(similar(key, other, threshold) for other in keys):
            return incident
    return None


def _join(incident: Incident, signal: CrisisSignal, ticket: Ticket, now: datetime) -> None:
    signal.incident_id = incident.id
    member = db.session.scalar(select(incident_tickets.c.ticket_id).where(
        incident_tickets.c.incident_id == incident.id, incident_tickets.c.ticket_id == ticket.id))
    if member is None:  # one row, not the incident's whole (growing) ticket list
        db.session.execute(incident_tickets.insert().values(incident_id=incident.id,
                                                            ticket_id=ticket.id))
        db.session.expire(incident, ["tickets"])
        ticket.escalated = True
        audit.record("incident.joined", ticket_id=ticket.id, actor="rule:crisis", at=now,
                     data={"incident_id": incident.id})


def _open_incident(burst: list[CrisisSignal], approval: bool, now: datetime) -> None:
    burst = sorted(burst, key=lambda s: (s.at, s.id or 0))
    # Named after the first complaint of the burst, as the SMM will recognise it.
    title = " ".join((burst[0].message.text or "").split())
    incident = Incident(title=(title[:117] + "...") if len(title) > 120 else title,
                        status="open", approval_required=approval, created_at=now)
    db.session.add(incident)
    db.session.flush()
    tickets = []
    for signal in burst:
        signal.incident_id = incident.id
        ticket = signal.ticket or db.session.get(Ticket, signal.ticket_id)
        if ticket not in tickets:
            tickets.append(ticket)
    incident.tickets.extend(tickets)
    for ticket in tickets:
        ticket.escalated = True
        audit.record("incident.opened", ticket_id=ticket.id, actor="rule:crisis", at=now,
                     data={"incident_id": incident.id, "tickets": len(tickets)})
    queue_event("incident.opened", {"incident_id": incident.id, "title": incident.title,
                                    "approval_required": approval,
                                    "ticket_ids": [t.id for t in tickets]}, now)
    # One escalation for the whole incident, filed on its first ticket.
    raise_escalation(tickets[0], "crisis", 2,
                     Later(N_("Possible reputation crisis: %(n)s similar negative messages."),
                           n=len(tickets)),
                     now, rule="crisis", incident_id=incident.id)


def open_incident_for(ticket_id: int) -> Incident | None:
    """The open incident this ticket belongs to, if any."""
    return db.session.scalar(select(Incident).join(
        incident_tickets, incident_tickets.c.incident_id == Incident.id).where(
        incident_tickets.c.ticket_id == ticket_id, Incident.status == "open").limit(1))


def incidents_for(ticket_id: int) -> list[Incident]:
    return list(db.session.scalars(select(Incident).join(
        incident_tickets, incident_tickets.c.incident_id == Incident.id).where(
        incident_tickets.c.ticket_id == ticket_id).order_by(Incident.created_at.desc())))


@signals.reply_created.connect
def hold_for_approval(ticket, message, now: datetime, **_) -> None:
    """A public reply by a non-SMM on a ticket of an open incident needing approval waits."""
    if message.direction != "out" or message.visibility != "public" or message.automatic:
        return
    author = db.session.get(User, message.author_id) if message.author_id else None
    if author is not None and author.has_role("smm"):
        return  # the SMM's own reply is the reviewed one
    incident = open_incident_for(ticket.id)
    if incident is None or not incident.approval_required:
        return
    message.delivery_state = "held"
    db.session.flush()
    audit.record("reply.held", ticket_id=ticket.id, user_id=message.author_id, at=now,
                 actor="rule:crisis", data={"message_id": message.id, "incident_id": incident.id})
    smms = db.session.scalars(select(User.id).where(User.role == "smm", User.active)).all()
    notify(smms, "approval", _l("%(ref)s: a reply waits for your approval (incident #%(id)s).",
                                ref=ticket.reference, id=incident.id), dedupe_key=f"held:{message.id}",
           link=f"/escalations/incidents/{incident.id}", ticket_id=ticket.id, now=now)
