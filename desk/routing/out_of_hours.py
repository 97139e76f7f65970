"""Out-of-hours acknowledgements: when a customer writes while a channel's business calendar
is closed, one automatic reply in their language says when the team is back, once per
conversation per closed period. It is not an answer: the SLA clock keeps running (automatic
messages never stop a clock) and the ticket still waits for an agent. Leads set it per
channel on the routing page."""
from dataclasses import dataclass
from datetime import datetime

from flask_babel import format_datetime, force_locale
from sqlalchemy import ForeignKey, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts import audit
from desk.accounts.audit import Actor
from desk.channels.accounts import Channel
from desk.core import signals
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.core.types import UTCDateTime
from desk.inbox.outbound import reply_options, store_reply
from desk.sla.calendar import open_intervals
from desk.sla.policies import BusinessCalendar

TEXT_LIMIT = 600
DEFAULT_TEXTS = {
    "es": "¡Hola! Ahora mismo estamos fuera de horario. Te responderemos el {opens}.",
    "en": "Hi! We're closed right now. We'll answer you on {opens}.",
}


class OutOfHoursReply(db.Model):
    """One channel's acknowledgement: the calendar that says when the team works, the texts
    (with {opens}: when it opens again, in the calendar's zone), and whether public comments
    and mentions get it too (private messages only by default)."""

    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"),
                                            primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("business_calendar.id"))
    active: Mapped[bool] = mapped_column(default=True)
    text_es: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    public_too: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    calendar: Mapped[BusinessCalendar] = relationship()


class OutOfHoursAck(db.Model):
    """A conversation acknowledged in one closed period (named by the time it ends): the
    unique pair keeps it to one, whatever the retries."""

    __table_args__ = (UniqueConstraint("ticket_id", "opens_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))


@dataclass
class Settings:
    channel: Channel
    rule: OutOfHoursReply | None


def settings() -> list[Settings]:
    """Every channel with its acknowledgement (None where none is set up), for the page."""
    rules = {r.channel_id: r for r in db.session.scalars(select(OutOfHoursReply))}
    channels = db.session.scalars(select(Channel).order_by(Channel.name)).all()
    return [Settings(c, rules.get(c.id)) for c in channels]


def save(channel_id: int, *, active: bool, calendar_id: int | None, text_es: str, text_en: str,
         public_too: bool, by: Actor, now: datetime) -> OutOfHoursReply:
    """Create or change a channel's acknowledgement, all or nothing; audited; commits."""
    if db.session.get(Channel, channel_id) is None:
        raise NotFound(_("No channel %(id)s.", id=channel_id))
    if calendar_id is None or db.session.get(BusinessCalendar, calendar_id) is None:
        raise DeskError(_("Choose the calendar that says when the team works."))
    texts = {"es": " ".join((text_es or "").split()), "en": " ".join((text_en or "").split())}
    for language, text in texts.items():
        if not text or len(text) > TEXT_LIMIT:
            raise DeskError(_("Each text needs 1 to %(limit)s characters.", limit=TEXT_LIMIT))
        try:
            text.format(opens="")
        except (KeyError, IndexError, ValueError):
            raise DeskError(_("A text may use {opens} and no other braces.")) from None
    rule = db.session.get(OutOfHoursReply, channel_id) or OutOfHoursReply(channel_id=channel_id)
    rule.active, rule.calendar_id, rule.public_too = bool(active), calendar_id, bool(public_too)
    rule.text_es, rule.text_en, rule.updated_at = texts["es"], texts["en"], now
    db.session.add(rule)
    audit.record("channel.out_of_hours_changed", object_type="channel", object_id=channel_id,
                 data={"active": rule.active, "calendar_id": calendar_id,
                       "public_too": rule.public_too}, at=now, by=by)
    db.session.commit()
    return rule


def next_opening(calendar: BusinessCalendar, now: datetime) -> datetime | None:
    """When the calendar opens next, or None while it is open."""
    opens, _closes = next(open_intervals(calendar.to_calendar(), now))
    return opens if opens > now else None


def acknowledgement(rule: OutOfHoursReply, language: str | None, opens_at: datetime) -> str:
    """The text in the customer's language (Spanish or English), {opens} in the calendar's
    zone and that language ("lunes a las 9:00" / "Monday at 9:00 AM")."""
    language = "es" if (language or "").startswith("es") else "en"
    with force_locale(language):
        opens = format_datetime(opens_at.astimezone(rule.calendar.to_calendar().zone),
                                "EEEE 'a las' H:mm" if language == "es" else "EEEE 'at' h:mm a",
                                rebase=False)
    return (rule.text_es if language == "es" else rule.text_en).format(opens=opens)


def _acknowledging_channels() -> set[int]:
    """Channels with an active acknowledgement, read once per transaction: an ingest batch
    asks for each of its messages, and a query each (with the autoflush it set off) would
    cost two round trips a message."""
    session = db.session()  # the scoped session's own Session (the proxy has no transactions)
    transaction = session.get_transaction()
    cached = session.info.get("out_of_hours_channels")
    if cached is not None and cached[0] is transaction:
        return cached[1]
    with session.no_autoflush:
        channels = set(session.scalars(select(OutOfHoursReply.channel_id)
                                       .where(OutOfHoursReply.active)))
    session.info["out_of_hours_channels"] = (transaction, channels)
    return channels


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    """Acknowledge a message that arrives while its channel is closed (once per period)."""
    if ticket.channel_id not in _acknowledging_channels() or message.direction != "in":
        return
    rule = db.session.get(OutOfHoursReply, ticket.channel_id)
    if rule is None or not rule.active or ticket.status == "resolved":
        return  # (a resolved ticket here: a survey rating by message, which asks for no reply)
    if message.visibility != "private" and not rule.public_too:
        return
    opens_at = next_opening(rule.calendar, now)
    if opens_at is None:
        return
    if db.session.scalar(select(OutOfHoursAck.id).where(OutOfHoursAck.ticket_id == ticket.id,
                                                        OutOfHoursAck.opens_at == opens_at)):
        return
    options = reply_options(ticket)  # answered where it was written: a DM privately, a comment publicly
    visibility = message.visibility if message.visibility in options else options[0]
    language = ticket.language or ticket.customer.language
    waiting_since = ticket.last_message_at
    reply = store_reply(ticket.id, None, acknowledgement(rule, language, opens_at), visibility,
                        now, automatic=True)
    # An acknowledgement is not an answer: the conversation still waits for an agent.
    ticket.last_message_at = waiting_since
    db.session.add(OutOfHoursAck(ticket_id=ticket.id, opens_at=opens_at, message_id=reply.id))
