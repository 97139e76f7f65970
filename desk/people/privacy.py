"""A customer's data as the law requires (GDPR arts. 15 and 17; Spain's LOPDGDD, Mexico's
LFPDPPP, Argentina's Ley 25.326): the export of everything the desk holds about one person,
and their erasure (the retention purge of old text is desk/people/purge.py).

Erasure removes what identifies or was written by the person (identities, contact fields,
notes, tags, the text of their conversations, survey comments, the raw platform events and
outgoing event payloads that carried them) and keeps every row that a figure counts (tickets,
messages, surveys with their ratings, activity events), so the service report does not change.
"""
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, delete, func, or_, select, update

from desk.accounts import audit
from desk.accounts.audit import Actor
from desk.core.errors import Conflict
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.customers.models import Customer, CustomerIdentity, CustomerMerge, CustomerNote, CustomerTag
from desk.escalation.crisis import CrisisSignal, Incident
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.inbox.files import delete_files_of
from desk.inbox.tickets import Message, Note, Ticket
from desk.intake.events import InboundEvent
from desk.notify.notifications import Notification
from desk.notify.webhooks import WebhookDelivery
from desk.people.edit import live_customer
from desk.people.merge import merges_of
from desk.replies.models import ReplyExample

EXPORT_FORMAT = 1
ERASED_PAYLOAD = json.dumps({"erased": True})
SCAN_BATCH = 1_000  # rows per read while looking for payloads that carry the person


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- export ------------------------------------------------------------------------------

def export_customer(customer_id: int, *, by: Actor, now: datetime) -> dict:
    """Everything the desk holds about the customer, as one JSON-ready dict (the identities,
    contact fields, notes, tags, every ticket with its messages, surveys, activity and merges).
    Records the export in the audit trail; commits."""
    customer = live_customer(customer_id)
    tickets = db.session.scalars(select(Ticket).where(Ticket.customer_id == customer.id)
                                 .order_by(Ticket.created_at, Ticket.id)).all()
    ticket_ids = [t.id for t in tickets]
    messages: dict[int, list[dict]] = {tid: [] for tid in ticket_ids}
    for message in _in_chunks(ticket_ids, lambda ids: select(Message).where(
            Message.ticket_id.in_(ids)).order_by(Message.sent_at, Message.id)):
        messages[message.ticket_id].append({
            "id": message.id, "from": "customer" if message.direction == "in" else "brand",
            "visibility": message.visibility, "sent_at": _iso(message.sent_at),
            "text": message.text, "attachments": message.attachments or [],
            "edited_at": _iso(message.edited_at), "deleted_on_platform_at": _iso(message.deleted_at),
            "text_removed_at": _iso(message.erased_at)})
    surveys = list(_in_chunks(ticket_ids, lambda ids: select(Survey).where(
        Survey.ticket_id.in_(ids)).order_by(Survey.id)))
    activity = db.session.scalars(select(ActivityEvent).where(
        ActivityEvent.customer_id == customer.id).order_by(ActivityEvent.occurred_at)).all()
    notes = db.session.scalars(select(CustomerNote).where(
        CustomerNote.customer_id == customer.id).order_by(CustomerNote.created_at)).all()
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(now),
        "customer": {
            "id": customer.id, "name": customer.display_name, "email": customer.email,
            "phone": customer.phone, "language": customer.language,
            "time_zone": customer.timezone, "vip": customer.vip,
            "followers": customer.followers, "picture_url": customer.avatar_url,
            "first_seen_at": _iso(customer.created_at), "updated_at": _iso(customer.updated_at),
            "tags": [tag.name for tag in customer.tags]},
        "identities": [{"platform": i.platform, "platform_user_id": i.platform_user_id,
                        "handle": i.handle, "name": i.name, "followers": i.followers,
                        "profile_url": i.profile_url, "first_seen_at": _iso(i.created_at)}
                       for i in customer.identities],
        "notes": [{"text": n.body, "written_at": _iso(n.created_at)} for n in notes],
        "tickets": [{"reference": t.reference, "platform": t.channel.platform,
                     "channel": t.channel.name, "kind": t.kind, "status": t.status,
                     "language": t.language, "opened_at": _iso(t.created_at),
                     "resolved_at": _iso(t.resolved_at), "subject": t.subject,
                     "post_url": t.post_url, "messages": messages[t.id]} for t in tickets],
        "surveys": [{"ticket": f"T-{s.ticket_id:06d}", "state": s.state,
                     "sent_at": _iso(s.sent_at), "answered_at": _iso(s.answered_at),
                     "rating": s.rating, "comment": s.comment, "answered_via": s.answered_via}
                    for s in surveys],
        "activity": [{"kind": a.kind, "occurred_at": _iso(a.occurred_at), "source": a.source,
                      "external_id": a.external_id, "data": a.data or {}} for a in activity],
        "merges": [{"kept_customer": m.kept_id, "merged_customer": m.merged_id,
                    "merged_at": _iso(m.created_at), "undone_at": _iso(m.undone_at)}
                   for m in merges_of(customer.id)],
    }
    audit.record("customer.exported", object_type="customer", object_id=customer.id,
                 data={"tickets": len(tickets)}, at=now, by=by)
    db.session.commit()
    return document


def _in_chunks(ids: list[int], query_for):
    """The rows of `query_for(chunk)` for each chunk of `ids` (bind-parameter limits)."""
    for chunk in _chunks(ids):
        yield from db.session.scalars(query_for(chunk))


# --- erasure -----------------------------------------------------------------------------

@dataclass
class ErasureResult:
    customer_id: int
    tickets: int
    messages: int
    raw_events: int
    deliveries: int


def _their_messages(people: list[int]):
    """A WHERE clause: the people's messages and the brand's replies on their tickets."""
    tickets = select(Ticket.id).where(Ticket.customer_id.in_(people))
    return or_(Message.customer_id.in_(people),
               Message.ticket_id.in_(tickets) & (Message.direction == "out"))


def erasure_counts(customer_id: int) -> dict[str, int]:
    """What an erasure of the customer would touch, for the confirmation page."""
    customer = live_customer(customer_id)
    people = [customer.id] + _merged_into(customer.id)

    def count(model, where) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(where))
    return {"identity": count(CustomerIdentity, CustomerIdentity.customer_id.in_(people)),
            "ticket": count(Ticket, Ticket.customer_id.in_(people)),
            "message": count(Message, _their_messages(people)),
            "note": count(CustomerNote, CustomerNote.customer_id.in_(people)),
            "survey": count(Survey, Survey.customer_id.in_(people))}


def erase_customer(customer_id: int, *, by: Actor, now: datetime) -> ErasureResult:
    """Erase the customer (and any customer merged into them), all in one transaction:
    identities, contact fields, notes and tags go; the text of their messages and of the
    brand's replies to them, their tickets' subjects and notes, survey comments, activity
    details, the raw platform events and outgoing event payloads that carried them are
    removed. Tickets, messages, ratings and activity rows stay for the figures. The name
    becomes the customer's reference (C-000123). Commits; Conflict when already erased."""
    customer = live_customer(customer_id, lock=True)
    if customer.erased_at is not None:
        raise Conflict(_("This customer's data was already erased."))
    people = [customer.id] + _merged_into(customer.id)
    platform_ids = list(db.session.scalars(select(CustomerIdentity.platform_user_id)
                                           .where(CustomerIdentity.customer_id.in_(people))))
    personal = _personal_strings(people)
    ticket_ids = list(db.session.scalars(select(Ticket.id).where(Ticket.customer_id.in_(people))))
    message_ids = list(db.session.scalars(select(Message.id).where(_their_messages(people))))
    for chunk in _chunks(ticket_ids):
        _forget_incident_titles(chunk)  # compares titles with the text, so before it goes
    for chunk in _chunks(message_ids):
        db.session.execute(update(Message).where(Message.id.in_(chunk))
                           .values(text="", attachments=[], erased_at=now)
                           .execution_options(synchronize_session=False))
        delete_files_of(chunk)  # the files agents sent them
    for chunk in _chunks(ticket_ids):
        db.session.execute(update(Ticket).where(Ticket.id.in_(chunk))
                           .values(subject="", thread_key="erased:" + Ticket.id.cast(String))
                           .execution_options(synchronize_session=False))
        db.session.execute(delete(Note).where(Note.ticket_id.in_(chunk)))
        db.session.execute(delete(ReplyExample).where(ReplyExample.ticket_id.in_(chunk)))
        db.session.execute(update(Survey).where(Survey.ticket_id.in_(chunk)).values(comment=None)
                           .execution_options(synchronize_session=False))
        db.session.execute(update(CrisisSignal).where(CrisisSignal.ticket_id.in_(chunk))
                           .values(text_key="").execution_options(synchronize_session=False))
        _redact_notifications(chunk, personal)
    db.session.execute(update(ActivityEvent).where(ActivityEvent.customer_id.in_(people))
                       .values(data={}).execution_options(synchronize_session=False))
    db.session.execute(delete(CustomerNote).where(CustomerNote.customer_id.in_(people)))
    db.session.execute(delete(CustomerTag).where(CustomerTag.customer_id.in_(people)))
    db.session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id.in_(people)))
    # A merge's record keeps the kept customer's former fields: they go, and so does the undo.
    db.session.execute(update(CustomerMerge).where(or_(
        CustomerMerge.kept_id.in_(people), CustomerMerge.merged_id.in_(people)))
        .values(kept_before={}).execution_options(synchronize_session=False))
    # Tag names are the only values the audit trail keeps about a customer.
    db.session.execute(update(audit.AuditEvent).where(
        audit.AuditEvent.object_type == "customer", audit.AuditEvent.object_id.in_(people),
        audit.AuditEvent.action == "customer.tags_changed")
        .values(data={"added": [], "removed": []}).execution_options(synchronize_session=False))
    for person in db.session.scalars(select(Customer).where(Customer.id.in_(people))):
        _blank(person, now)
    # Nothing about the person arrived before their first ticket or their record (a day's
    # margin for platform clocks): the scans of stored events start there.
    first_ticket = db.session.scalar(select(func.min(Ticket.created_at))
                                     .where(Ticket.customer_id.in_(people)))
    first_seen = min(filter(None, (customer.created_at, first_ticket))) - timedelta(days=1)
    raw_events = _erase_raw_events(platform_ids, first_seen)
    deliveries = _erase_deliveries(set(people), set(ticket_ids), first_seen)
    audit.record("customer.erased", object_type="customer", object_id=customer.id,
                 data={"tickets": len(ticket_ids), "messages": len(message_ids),
                       "merged_customers": len(people) - 1}, at=now, by=by)
    db.session.commit()
    return ErasureResult(customer.id, len(ticket_ids), len(message_ids), raw_events, deliveries)


def _chunks(ids: list[int], size: int = 5_000):
    """`ids` in slices a statement's bind parameters can hold."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _merged_into(customer_id: int) -> list[int]:
    """Every customer merged (directly or through others) into this one."""
    found, frontier = [], [customer_id]
    while frontier:
        frontier = list(db.session.scalars(select(Customer.id).where(
            Customer.merged_into_id.in_(frontier))))
        found.extend(frontier)
    return found


def _personal_strings(people: list[int]) -> list[str]:
    """The names, handles and contact details that identify the people, longest first (so a
    full name is replaced before its first word could be)."""
    values = set()
    for person in db.session.scalars(select(Customer).where(Customer.id.in_(people))):
        values.update((person.display_name, person.email, person.phone))
        for identity in person.identities:
            values.update((identity.handle, identity.name, identity.platform_user_id))
            if identity.handle:
                values.add("@" + identity.handle.lstrip("@"))
    return sorted((v for v in values if v and len(v) >= 3), key=len, reverse=True)


def _blank(person: Customer, now: datetime) -> None:
    person.display_name = f"C-{person.id:06d}"
    person.name_key = None
    for name in ("email", "phone", "language", "timezone", "avatar_url", "followers",
                 "profile_checked_at"):
        setattr(person, name, None)
    person.erased_at = now
    person.updated_at = now


def _forget_incident_titles(ticket_ids: list[int]) -> None:
    """An incident is named after its first complaint: where that was one of these tickets'
    messages, the name becomes the incident's number."""
    rows = db.session.execute(
        select(Incident, Message.text).distinct().join(CrisisSignal, CrisisSignal.incident_id == Incident.id)
        .join(Message, Message.id == CrisisSignal.message_id)
        .where(CrisisSignal.ticket_id.in_(ticket_ids))).all()
    for incident, text in rows:
        shown = " ".join((text or "").split())
        if incident.title in (shown, shown[:117] + "..."):
            incident.title = f"#{incident.id}"


def _redact_notifications(ticket_ids: list[int], personal: list[str]) -> None:
    """Notifications about these tickets keep their link and kind; names and handles of the
    person in their stored text and values are replaced by the ticket's reference."""
    if not personal:
        return
    for notification in db.session.scalars(select(Notification).where(
            Notification.ticket_id.in_(ticket_ids))):
        ref = f"T-{notification.ticket_id:06d}"
        notification.text = _replace_all(notification.text, personal, ref)
        if notification.params:
            notification.params = _replace_all(notification.params, personal, ref)


def _replace_all(value: str, personal: list[str], replacement: str) -> str:
    for text in personal:
        value = value.replace(text, replacement)
    return value


def _like_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _erase_raw_events(platform_ids: list[str], since: datetime) -> int:
    """Replace the stored JSON of processed platform events received since `since` that name
    one of the person's platform ids (as a JSON string); the dedupe key stays, so a
    redelivery of an erased event is still recognised and not stored again."""
    if not platform_ids:
        return 0
    matches = or_(*(InboundEvent.payload.like(f'%"{_like_literal(pid)}"%', escape="\\")
                    for pid in platform_ids))
    result = db.session.execute(
        update(InboundEvent).where(InboundEvent.status == "processed",
                                   InboundEvent.received_at >= since, matches)
        .values(payload=ERASED_PAYLOAD).execution_options(synchronize_session=False))
    return result.rowcount or 0


def _names_person(data: dict, people: set[int], tickets: set[int]) -> bool:
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    return (data.get("customer_id") in people or data.get("ticket_id") in tickets
            or ticket.get("ticket_id") in tickets or ticket.get("customer_id") in people)


def _erase_deliveries(people: set[int], tickets: set[int], since: datetime) -> int:
    """Replace the data of outgoing events about the person or their tickets (their text was
    in them) with {"erased": true}; the delivery log keeps type, time and outcome."""
    erased, last = 0, 0
    while True:
        batch = db.session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.id > last, WebhookDelivery.created_at >= since)
            .order_by(WebhookDelivery.id).limit(SCAN_BATCH)).all()
        if not batch:
            return erased
        for delivery in batch:
            data = (delivery.payload or {}).get("data") or {}
            if isinstance(data, dict) and _names_person(data, people, tickets):
                delivery.payload = {**delivery.payload, "data": {"erased": True}}
                erased += 1
        last = batch[-1].id
