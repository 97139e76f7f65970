"""CSAT surveys (docs/architecture.md, Satisfaction): scheduling on resolve, tokens, sending, answers.

A survey row is created when a resolved ticket qualifies (it had an agent reply); the link's
token is made when the survey is sent: 128+ random bits, only its SHA-256 is stored.
"""
import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.channels import whatsapp
from desk.core import signals
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.queue import enqueue, enqueue_after_commit
from desk.core.types import UTCDateTime
from desk.customers.models import Customer
from desk.customers.names import without_name
from desk.inbox.outbound import create_reply, reply_options
from desk.inbox.tickets import Message, Ticket
from desk.inbox.window import whatsapp_window
from desk.notify.webhooks import queue_event
from desk.replies.library import NO_NAME

LANGUAGES = ("en", "es")
TOKEN_BYTES = 24  # 192 random bits in the link
COMMENT_MAX = 2000

# scheduled -> sent (link delivered) | not_sent (no private channel to carry the link)
SURVEY_STATES = ("scheduled", "sent", "not_sent")
# Why a survey was not sent (state_reason; pages translate them).
PUBLIC_ONLY = "public thread only: no private channel to the customer"
WINDOW_CLOSED = ("WhatsApp's 24-hour window had closed and no survey template is set for "
                 "this number")


class Survey(db.Model):
    """One satisfaction survey per ticket; rating 1-5, answered once."""

    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_scale"),
        Index("ix_survey_customer_created", "customer_id", "created_at"),
        Index("ix_survey_answered_at", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    # SHA-256 hex of the raw token; NULL until the survey is sent.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(5), default="en")
    state: Mapped[str] = mapped_column(String(10), default="scheduled")
    state_reason: Mapped[str | None] = mapped_column(String(200))
    # The outbound message that carried the link (a DM), when there was one.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_via: Mapped[str | None] = mapped_column(String(10))  # "web" or "dm"

    ticket: Mapped[Ticket] = relationship()
    customer: Mapped[Customer] = relationship()
    message: Mapped[Message | None] = relationship()



class SurveyExpired(DeskError):
    status = 410

    def __init__(self, message: str, survey: "Survey"):
        super().__init__(message)
        self.survey = survey


class AlreadyAnswered(Conflict):
    pass


class InvalidRating(DeskError):
    status = 422


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def survey_language(ticket: Ticket) -> str:
    """The customer's language among the survey's (es, en); English otherwise."""
    for lang in (ticket.language, ticket.customer.language if ticket.customer else None):
        lang = (lang or "").lower()[:2]
        if lang in LANGUAGES:
            return lang
    return "en"


def had_agent_reply(ticket_id: int) -> bool:
    """True when an agent answered: an outbound, non-automatic, not held or failed message."""
    return db.session.scalar(select(Message.id).where(
        Message.ticket_id == ticket_id, Message.direction == "out",
        Message.automatic.is_(False), Message.deleted_at.is_(None),
        or_(Message.delivery_state.is_(None),
            Message.delivery_state.not_in(("held", "failed")))).limit(1)) is not None


@signals.ticket_resolved.connect
def schedule_survey(ticket, now: datetime, **_) -> Survey | None:
    """A resolved ticket with an agent reply gets one survey, unless the customer had one lately."""
    config = current_app.config
    if not config["CSAT_ENABLED"] or not had_agent_reply(ticket.id):
        return None
    delay = int(config["CSAT_DELAY_SECONDS"])
    survey = db.session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
    if survey is None:
        since = now - timedelta(days=float(config["CSAT_MIN_DAYS_BETWEEN"]))
        recent = db.session.scalar(select(Survey.id).where(
            Survey.customer_id == ticket.customer_id, Survey.created_at > since,
            Survey.state != "not_sent").limit(1))
        if recent is not None:
            return None
        survey = Survey(ticket_id=ticket.id, customer_id=ticket.customer_id, created_at=now,
                        language=survey_language(ticket))
        db.session.add(survey)
    elif survey.state != "scheduled":
        return None  # re-resolving never sends a second survey for the same ticket
    survey.send_after = now + timedelta(seconds=delay)
    enqueue_after_commit("default", "workers.feedback.send_survey", ticket.id, delay=delay)
    return survey


def survey_link(raw_token: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/s/" + raw_token


def send_survey(ticket_id: int, now: datetime) -> Survey | None:
    """Send the scheduled survey of a ticket (idempotent); commits.

    A DM ticket gets the link in a private reply; a ticket whose channel cannot carry a
    private message keeps its survey as "not_sent".
    """
    survey = db.session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    if survey is None or survey.state != "scheduled":
        return survey
    ticket = survey.ticket
    if ticket.status != "resolved":
        return survey  # reopened meanwhile: the next resolution schedules it again
    if "private" not in reply_options(ticket):
        _not_sent(survey, PUBLIC_ONLY, now)
        return survey
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    survey.token_hash = hash_token(raw)
    survey.sent_at = now
    survey.expires_at = now + timedelta(days=float(current_app.config["CSAT_EXPIRY_DAYS"]))
    text = survey_message(survey, raw)
    template = None
    window = whatsapp_window(ticket, now)
    if window is not None and not window.open:
        template = _survey_template(survey, raw)
        if template is None:
            _not_sent(survey, WINDOW_CLOSED, now)
            return survey
    db.session.flush()
    try:
        message = create_reply(ticket.id, author_id=None, text=text, visibility="private",
                               now=now, automatic=True, template=template)
    except DeskError as exc:
        db.session.rollback()
        survey = db.session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
        _not_sent(survey, f"not sent: {exc}"[:200], now)
        return survey
    survey = db.session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    if survey.state == "scheduled":
        survey.state = "sent"
        survey.message_id = getattr(message, "id", None)
        db.session.commit()
    return survey


def resweep(now: datetime) -> int:
    """Enqueue the send of every survey still scheduled SURVEY_STALE_SECONDS after it fell
    due (its delayed job was lost: Redis restarted without its data, or was down when the
    ticket was resolved); returns how many. The send is idempotent, so a survey whose job
    merely runs late is not sent twice."""
    cutoff = now - timedelta(seconds=int(current_app.config["SURVEY_STALE_SECONDS"]))
    ticket_ids = db.session.scalars(select(Survey.ticket_id).where(
        Survey.state == "scheduled", Survey.send_after <= cutoff)
        .order_by(Survey.send_after).limit(500)).all()
    db.session.commit()
    return sum(enqueue("default", "workers.feedback.send_survey", ticket_id) is not None
               for ticket_id in ticket_ids)


def survey_message(survey: Survey, raw_token: str) -> str:
    """The DM text in the survey's language, from DESK_CSAT_MESSAGE_<LANG>; without a known
    name the greeting goes without one ("Hola, ¿qué tal...?"), never with a platform id."""
    template = current_app.config[f"CSAT_MESSAGE_{survey.language.upper()}"]
    name = survey.customer.first_name if survey.customer else ""
    text = template.format(name=name or NO_NAME, link=survey_link(raw_token))
    return without_name(text, NO_NAME).replace("  ", " ")


def _survey_template(survey: Survey, raw_token: str) -> tuple[int, list[str]] | None:
    """(template id, values) of the channel's WhatsApp survey template in the survey's
    language: {{1}} the link, or {{1}} the first name ("👋" when unknown) and {{2}} the link."""
    template = whatsapp.survey_template(survey.ticket.channel_id, survey.language)
    if template is None or template.params not in (1, 2):
        return None
    link = survey_link(raw_token)
    name = (survey.customer.first_name if survey.customer else "") or "👋"
    return template.id, [link] if template.params == 1 else [name, link]


def _not_sent(survey: Survey, reason: str, now: datetime) -> None:
    survey.state = "not_sent"
    survey.state_reason = reason
    survey.sent_at = None
    survey.token_hash = None
    db.session.commit()


def survey_for_token(raw_token: str, now: datetime) -> Survey:
    """The sent survey behind a link; NotFound for an unknown token, SurveyExpired after expiry."""
    if not raw_token or len(raw_token) > 100:
        raise NotFound("no such survey")
    survey = db.session.scalar(select(Survey).where(Survey.token_hash == hash_token(raw_token)))
    if survey is None or survey.state != "sent":
        raise NotFound("no such survey")
    if survey.answered_at is None and now >= survey.expires_at:
        raise SurveyExpired("this survey has expired", survey)
    return survey


def validate_rating(rating) -> int:
    """An integer 1..5 (bool, float, str and anything else raise InvalidRating)."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidRating("the rating must be a whole number from 1 to 5")
    return rating


def answer(raw_token: str, rating, comment: str | None, now: datetime, via: str = "web") -> Survey:
    """Record the answer once (commits); AlreadyAnswered if it was answered before."""
    survey = survey_for_token(raw_token, now)
    _answer_survey(survey, validate_rating(rating), comment, now, via)
    db.session.commit()
    return survey


def _answer_survey(survey: Survey, rating: int, comment: str | None, now: datetime, via: str) -> None:
    comment = (comment or "").strip()[:COMMENT_MAX] or None
    # Conditional update: two concurrent submissions cannot both win.
    result = db.session.execute(
        update(Survey).where(Survey.id == survey.id, Survey.answered_at.is_(None))
        .values(rating=rating, comment=comment, answered_at=now, answered_via=via)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise AlreadyAnswered("this survey was already answered")
    db.session.refresh(survey)
    queue_event("survey.answered", {
        "survey_id": survey.id, "ticket_id": survey.ticket_id, "customer_id": survey.customer_id,
        "rating": rating, "comment": comment, "via": via}, now)


@signals.customer_message.connect
def capture_dm_rating(ticket, message, now: datetime, **_) -> Survey | None:
    """A private message on an open ticket that is only a rating answers the open survey."""
    if message.direction != "in" or message.visibility != "private":
        return None
    return _answer_by_text(ticket.customer_id, message.text, now)


@signals.dm_without_open_ticket.connect
def rating_without_open_ticket(customer, customer_id: int, text: str, now: datetime, **_):
    """A DM rating with no open ticket answers the survey: it belongs to the surveyed ticket."""
    survey = _answer_by_text(customer_id, text, now)
    return survey.ticket if survey is not None else None


def _answer_by_text(customer_id: int, text: str | None, now: datetime) -> Survey | None:
    rating = parse_rating(text)
    if rating is None:
        return None
    survey = db.session.scalar(select(Survey).where(
        Survey.customer_id == customer_id, Survey.state == "sent",
        Survey.answered_at.is_(None), Survey.expires_at > now,
    ).order_by(Survey.sent_at.desc()).limit(1))
    if survey is None:
        return None
    try:
        _answer_survey(survey, rating, None, now, "dm")
    except AlreadyAnswered:
        return None
    return survey


_STARS = set("⭐★🌟")
_RATING = re.compile(
    r"^(?P<n>[1-5])(?:\s*(?:/|de|of|out of|sobre)\s*5)?"
    r"(?:\s*(?:estrellas?|stars?|puntos?|points?|⭐+|★+))?$")


def parse_rating(text: str | None) -> int | None:
    """1..5 from a message that is just a rating ("5", "4/5", "⭐⭐⭐⭐", "5 estrellas"), else None."""
    value = unicodedata.normalize("NFKC", text or "").replace("\ufe0f", "").strip().lower()
    value = value.rstrip("!.¡ ").lstrip("¡ ")
    if not value or len(value) > 30:
        return None
    if all(ch in _STARS or ch.isspace() for ch in value):
        count = sum(ch in _STARS for ch in value)
        return count if 1 <= count <= 5 else None
    match = _RATING.match(value)
    return int(match.group("n")) if match else None


def customer_ratings(customer_id: int, limit: int = 20) -> list[Survey]:
    """The customer's answered surveys, newest first (for agents: no tokens involved)."""
    return list(db.session.scalars(select(Survey).where(
        Survey.customer_id == customer_id, Survey.answered_at.is_not(None),
    ).order_by(Survey.answered_at.desc()).limit(limit)))


def rating_summary(surveys: list[Survey]) -> dict:
    """Count, average and CSAT score (share of 4-5) of answered surveys."""
    ratings = [s.rating for s in surveys if s.rating is not None]
    if not ratings:
        return {"count": 0, "average": None, "csat": None}
    return {"count": len(ratings), "average": round(sum(ratings) / len(ratings), 2),
            "csat": round(sum(r >= 4 for r in ratings) / len(ratings), 4)}
