"""WhatsApp's customer-service window: free text may go only within 24 hours of the customer's
latest message on that number; after it, only an approved template (desk/channels/whatsapp.py).
The window belongs to the customer and the business number, so it is counted from their
latest message on the channel, whichever ticket it is on."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket

WINDOW = timedelta(hours=24)


@dataclass
class Window:
    closes_at: datetime | None  # None: the customer never wrote (only templates go)
    now: datetime

    @property
    def open(self) -> bool:
        return self.closes_at is not None and self.now < self.closes_at

    @property
    def left(self) -> timedelta:
        return max(self.closes_at - self.now, timedelta(0)) if self.closes_at else timedelta(0)

    @property
    def closing(self) -> bool:
        """Under two hours left: the composer says so loudly."""
        return self.open and self.left < timedelta(hours=2)


def whatsapp_window(ticket: Ticket, now: datetime) -> Window | None:
    """The window of the ticket's customer on its channel at `now`; None off WhatsApp."""
    if ticket.channel.platform != "whatsapp":
        return None
    last = db.session.scalar(select(func.max(Message.sent_at)).where(
        Message.customer_id == ticket.customer_id, Message.channel_id == ticket.channel_id,
        Message.direction == "in"))
    return Window(closes_at=last + WINDOW if last else None, now=now)
