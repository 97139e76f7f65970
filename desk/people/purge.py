"""The retention purge: message text older than DESK_TEXT_RETENTION_MONTHS is removed for
every customer, nightly, in batches; every row a figure counts stays."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, delete, select, update

from desk.core.extensions import db
from desk.escalation.crisis import CrisisSignal, Incident
from desk.feedback.surveys import Survey
from desk.inbox.files import ReplyFile
from desk.inbox.tickets import Message, Ticket
from desk.intake.events import InboundEvent
from desk.notify.webhooks import WebhookDelivery
from desk.people.privacy import ERASED_PAYLOAD
from desk.replies.models import ReplyExample

PURGE_BATCH = 2_000  # rows per transaction


@dataclass
class PurgeResult:
    messages: int = 0
    files: int = 0  # files agents sent with those messages
    subjects: int = 0
    comments: int = 0
    examples: int = 0
    raw_events: int = 0
    signals: int = 0
    incidents: int = 0
    deliveries: int = 0

    @property
    def total(self) -> int:
        return sum(vars(self).values())


def retention_cutoff(now: datetime, months: int) -> datetime:
    """The time before which text is removed: `months` calendar months before `now`, on the
    same day of the month (the last day when that month is shorter)."""
    month_index = now.year * 12 + (now.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    for day in range(now.day, 27, -1):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return now.replace(year=year, month=month, day=min(now.day, 28))


def purge_old_text(now: datetime, months: int) -> PurgeResult:
    """Remove message text older than `months` months for every customer: message text and
    attachments, the subjects of tickets with no newer message, survey comments, what the
    suggestions and crisis detection kept of those messages, the raw platform events and the
    finished outgoing events. Figures stay. Runs in transactions of PURGE_BATCH rows, so it
    can be stopped and run again (idempotent); does nothing when `months` is 0 or less."""
    result = PurgeResult()
    if months <= 0:
        return result
    cutoff = retention_cutoff(now, months)
    result.messages = _purge(Message, (Message.sent_at < cutoff, Message.erased_at.is_(None)),
                             {"text": "", "attachments": [], "erased_at": now})
    # The files agents sent with those messages go with their text.
    result.files = _purge(ReplyFile, (ReplyFile.message_id.in_(
        select(Message.id).where(Message.sent_at < cutoff)),))
    result.subjects = _purge(Ticket, (Ticket.last_message_at < cutoff, Ticket.subject != ""),
                             {"subject": ""})
    result.comments = _purge(Survey, (Survey.answered_at < cutoff, Survey.comment.is_not(None)),
                             {"comment": None})
    result.examples = _purge(ReplyExample, (ReplyExample.created_at < cutoff,))
    result.raw_events = _purge(InboundEvent, (InboundEvent.status == "processed",
                                              InboundEvent.received_at < cutoff,
                                              InboundEvent.payload != ERASED_PAYLOAD),
                               {"payload": ERASED_PAYLOAD})
    result.signals = _purge(CrisisSignal, (CrisisSignal.at < cutoff, CrisisSignal.text_key != ""),
                            {"text_key": ""})
    # An incident is named after its first complaint: past the cutoff, by its number.
    numbered = "#" + Incident.id.cast(String)
    result.incidents = _purge(Incident, (Incident.created_at < cutoff, Incident.title != numbered),
                              {"title": numbered})
    # The outgoing events' log carried the text too; past the cutoff it has served its purpose.
    result.deliveries = _purge(WebhookDelivery, (WebhookDelivery.created_at < cutoff,
                                                 WebhookDelivery.status != "pending"))
    return result


def _purge(model, conditions: tuple, values: dict | None = None) -> int:
    """Set `values` on (or, without them, delete) the rows of `model` that meet `conditions`,
    PURGE_BATCH at a time in id order, committing each batch; returns how many rows changed.
    Each batch starts after the last one's ids, so the table is read once, not once a batch."""
    done, last = 0, 0
    while True:
        ids = list(db.session.scalars(select(model.id).where(model.id > last, *conditions)
                                      .order_by(model.id).limit(PURGE_BATCH)))
        if not ids:
            return done
        change = update(model).values(values) if values is not None else delete(model)
        db.session.execute(change.where(model.id.in_(ids))
                           .execution_options(synchronize_session=False))
        db.session.commit()
        done += len(ids)
        last = ids[-1]
