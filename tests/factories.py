"""Test data built through the same models and signals the product uses.

`make_ticket` stands in for the ingest path (a customer message arriving) so that areas can
be tested on their own; the ingest tests cover the real path from webhook to ticket.
"""
import itertools
from datetime import datetime, timedelta

from desk.channels.accounts import Channel
from desk.core import signals
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity
from desk.inbox.tickets import Message, Ticket

_ids = itertools.count(1)


def make_channel(platform="instagram", account_id=None, name=None) -> Channel:
    """A connected channel (committed)."""
    channel = Channel(platform=platform, account_id=account_id or f"acct-{next(_ids)}",
                      name=name or f"Brand {platform}")
    db.session.add(channel)
    db.session.commit()
    return channel


def make_customer(name="Lucía Pérez", platform="instagram", followers=120, vip=False,
                  language="es", email=None) -> Customer:
    """A customer with one identity on `platform` (committed)."""
    customer = Customer(display_name=name, followers=followers, vip=vip, language=language,
                        email=email)
    customer.identities.append(CustomerIdentity(
        platform=platform, platform_user_id=f"user-{next(_ids)}", handle=name.split()[0].lower(),
        name=name, followers=followers))
    db.session.add(customer)
    db.session.commit()
    return customer


def make_ticket(text="¿Dónde está mi pedido?", *, channel=None, customer=None, kind="dm",
                sent_at: datetime | None = None, now: datetime | None = None,
                priority="normal", language="es") -> Ticket:
    """A ticket opened by one customer message, with its SLA clock started (committed)."""
    now = now or clock_now()
    sent_at = sent_at or now
    channel = channel or make_channel()
    customer = customer or make_customer(platform=channel.platform)
    ticket = Ticket(channel=channel, customer=customer, kind=kind, priority=priority,
                    thread_key=f"thread-{next(_ids)}", subject=text[:200], language=language,
                    created_at=sent_at, updated_at=sent_at, last_message_at=sent_at,
                    last_customer_message_at=sent_at)
    db.session.add(ticket)
    add_customer_message(ticket, text, sent_at=sent_at, now=now, commit=False)
    db.session.commit()
    return ticket


def add_customer_message(ticket, text, *, sent_at=None, now=None, commit=True) -> Message:
    """Append a customer message and publish customer_message (as ingest does)."""
    now = now or clock_now()
    message = Message(ticket=ticket, channel_id=ticket.channel.id, direction="in",
                      visibility="private" if ticket.kind == "dm" else "public",
                      platform_message_id=f"m-{next(_ids)}", customer_id=ticket.customer.id,
                      text=text, sent_at=sent_at or now, received_at=now)
    db.session.add(message)
    ticket.last_message_at = ticket.last_customer_message_at = message.sent_at
    signals.customer_message.send(ticket, message=message, now=now)
    if commit:
        db.session.commit()
    return message


def add_agent_reply(ticket, author, text="¡Hola! Lo revisamos ahora mismo.", *, sent_at=None,
                    now=None, canned_reply_id=None) -> Message:
    """An agent reply released for delivery, publishing the reply signals (committed)."""
    now = now or clock_now()
    message = Message(ticket=ticket, channel_id=ticket.channel.id, direction="out",
                      visibility="private" if ticket.kind == "dm" else "public",
                      author_id=author.id, text=text, sent_at=sent_at or now, received_at=now,
                      delivery_state="delivered", canned_reply_id=canned_reply_id,
                      idempotency_key=f"test-{next(_ids)}")
    db.session.add(message)
    ticket.last_message_at = message.sent_at
    signals.reply_created.send(ticket, message=message, now=now)
    signals.reply_released.send(ticket, message=message, now=now)
    db.session.commit()
    return message


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def demo_pages(app) -> list[tuple[str, str]]:
    """(name, path) of every page of a seeded desk, with one of each kind of detail page
    (the layout and language walks go through these)."""
    from desk.escalation.crisis import Incident
    from desk.escalation.escalations import Escalation
    from desk.replies.models import CannedReply
    from desk.sla.policies import BusinessCalendar, SlaPolicy

    def first(column):
        return db.session.scalar(db.select(column).order_by(column).limit(1))
    with app.app_context():
        ticket_id, incident_id = first(Escalation.ticket_id), first(Incident.id)
        reply_id, policy_id, calendar_id = first(CannedReply.id), first(SlaPolicy.id), first(BusinessCalendar.id)
        customer_id = db.session.get(Ticket, ticket_id).customer_id
        other_id = db.session.scalar(db.select(Customer.id).where(Customer.id != customer_id)
                                     .order_by(Customer.id).limit(1))
    found = [("inbox", "/inbox"), ("ticket", f"/tickets/{ticket_id}"), ("board", "/board"),
             ("escalations", "/escalations"), ("incident", f"/escalations/incidents/{incident_id}"),
             ("escalation-rules", "/escalations/rules"), ("notifications", "/notifications"),
             ("preferences", "/preferences"), ("replies", "/replies"), ("reply-new", "/replies/new"),
             ("reply-edit", f"/replies/{reply_id}/edit"), ("report", "/reports"),
             ("report-print", "/reports/print"), ("sla-policies", "/sla/policies"),
             ("sla-policy", f"/sla/policies/{policy_id}"), ("sla-calendars", "/sla/calendars"),
             ("admin-users", "/admin/users"), ("admin-channels", "/admin/channels"),
             ("admin-tokens", "/admin/tokens"), ("customers", "/customers?q=a"),
             ("customer", f"/customers/{customer_id}"), ("vip-import", "/customers/import"),
             ("customer-erase", f"/customers/{customer_id}/erase"),
             ("customer-merge", f"/customers/{customer_id}/merge?other={other_id}")]
    if calendar_id:
        found.append(("sla-calendar", f"/sla/calendars/{calendar_id}"))
    return found
