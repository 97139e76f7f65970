"""Merging two customers who are one person: a preview, the merge (tickets, messages,
surveys, activity, identities, notes and tags move to the customer kept), and its undo. The
roll-up's change marks fire on every moved row, so the service report stays equal to a live
computation without a rebuild (desk/reports/rollup.py)."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from desk.accounts import audit
from desk.accounts.audit import Actor
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.customers.models import Customer, CustomerIdentity, CustomerMerge, CustomerNote, CustomerTag
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Ticket
from desk.people.edit import live_customer

# What moves, in this order; surveys follow their tickets (a survey is one ticket's).
MOVED = {"ticket": Ticket, "message": Message, "survey": Survey, "activity": ActivityEvent,
         "identity": CustomerIdentity, "note": CustomerNote}
# Fields the kept customer takes from the other when its own is empty.
FILLED = ("email", "phone", "language", "timezone", "avatar_url")
CHUNK = 5_000  # ids per UPDATE (bind-parameter limits)


@dataclass
class MergePreview:
    kept: Customer
    merged: Customer
    counts: dict[str, int]  # what moves, per kind
    fields: dict[str, tuple]  # field -> (kept's value now, value after the merge) where they differ
    tags: list[str]  # tags the kept customer gains


def _owned(kind: str, customer_id: int):
    """A WHERE clause: the rows of `kind` that are `customer_id`'s."""
    if kind == "survey":
        return Survey.ticket_id.in_(select(Ticket.id).where(Ticket.customer_id == customer_id))
    return MOVED[kind].customer_id == customer_id


def _ids(kind: str, customer_id: int) -> list[int]:
    model = MOVED[kind]
    return list(db.session.scalars(select(model.id).where(_owned(kind, customer_id)).order_by(model.id)))


def _result_fields(kept: Customer, merged: Customer) -> dict[str, tuple]:
    fields = {name: (getattr(kept, name), getattr(merged, name)) for name in FILLED
              if not getattr(kept, name) and getattr(merged, name)}
    if merged.vip and not kept.vip:
        fields["vip"] = (False, True)
    if (merged.followers or 0) > (kept.followers or 0):
        fields["followers"] = (kept.followers, merged.followers)
    return fields


def _pair(kept_id: int, merged_id: int, *, lock: bool) -> tuple[Customer, Customer]:
    if kept_id == merged_id:
        raise DeskError(_("Choose two different customers."))
    # Locks in id order, so two merges of the same pair cannot deadlock.
    first, second = sorted((kept_id, merged_id))
    customers = {c.id: c for c in (live_customer(first, lock=lock), live_customer(second, lock=lock))}
    return customers[kept_id], customers[merged_id]


def _count(kind: str, customer_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(MOVED[kind])
                             .where(_owned(kind, customer_id)))


def preview(kept_id: int, merged_id: int) -> MergePreview:
    """What merging `merged_id` into `kept_id` would move and change; nothing is written."""
    kept, merged = _pair(kept_id, merged_id, lock=False)
    counts = {kind: _count(kind, merged.id) for kind in MOVED}
    kept_tags = {t.name for t in kept.tags}
    return MergePreview(kept, merged, counts, _result_fields(kept, merged),
                        sorted({t.name for t in merged.tags} - kept_tags))


def _move(model, ids: list[int], source: int, target: int) -> None:
    for start in range(0, len(ids), CHUNK):
        db.session.execute(update(model).where(model.id.in_(ids[start:start + CHUNK]),
                                               model.customer_id == source)
                           .values(customer_id=target).execution_options(synchronize_session=False))


def merge(kept_id: int, merged_id: int, *, by: Actor, now: datetime) -> CustomerMerge:
    """Merge customer `merged_id` into `kept_id`: everything of theirs moves, the kept
    customer fills its empty fields from theirs, and `merged_id` stays only as a pointer.
    Recorded (CustomerMerge and the audit trail). Commits."""
    kept, merged = _pair(kept_id, merged_id, lock=True)
    moved = {kind: _ids(kind, merged.id) for kind in MOVED}  # surveys before their tickets move
    fields = _result_fields(kept, merged)
    kept_tags = {t.name for t in kept.tags}
    new_tags = sorted({t.name for t in merged.tags} - kept_tags)
    record = CustomerMerge(kept_id=kept.id, merged_id=merged.id, actor_id=by.user_id,
                           moved={**moved, "tags": new_tags},
                           kept_before={name: before for name, (before, _after) in fields.items()},
                           created_at=now)
    db.session.add(record)
    for kind, model in MOVED.items():
        _move(model, moved[kind], merged.id, kept.id)
    for name, (_before, after) in fields.items():
        setattr(kept, name, after)
    for name in new_tags:
        kept.tags.append(CustomerTag(name=name))
    merged.merged_into_id, kept.updated_at, merged.updated_at = kept.id, now, now
    audit.record("customer.merged", object_type="customer", object_id=kept.id,
                 data={"merged_id": merged.id, "moved": {k: len(v) for k, v in moved.items()}},
                 at=now, by=by)
    db.session.commit()
    db.session.expire_all()  # the bulk UPDATEs bypassed the identity map
    return record


def undo(merge_id: int, *, by: Actor, now: datetime) -> CustomerMerge:
    """Undo a merge: the rows it moved that are still the kept customer's go back, the kept
    customer's filled fields and gained tags are restored, the other customer is live again.
    Rows that arrived after the merge stay with the kept customer. Commits."""
    record = db.session.scalar(select(CustomerMerge).where(CustomerMerge.id == merge_id)
                               .with_for_update())
    if record is None:
        raise NotFound(_("No merge %(id)s.", id=merge_id))
    if record.undone_at is not None:
        raise Conflict(_("This merge was undone already."))
    kept = live_customer(record.kept_id, lock=True)
    merged = db.session.scalar(select(Customer).where(Customer.id == record.merged_id)
                               .with_for_update())
    if merged is None or merged.merged_into_id != kept.id:
        raise Conflict(_("This merge cannot be undone: the customers changed since."))
    if kept.erased_at is not None:
        raise Conflict(_("This merge cannot be undone: the customer's data was erased."))
    if db.session.scalar(select(func.count()).select_from(CustomerMerge).where(
            CustomerMerge.kept_id == merged.id, CustomerMerge.undone_at.is_(None))):
        raise Conflict(_("Undo the later merges into this customer first."))
    moved = record.moved or {}
    for kind, model in MOVED.items():
        _move(model, list(moved.get(kind) or []), kept.id, merged.id)
    for name, before in (record.kept_before or {}).items():
        setattr(kept, name, before)
    gained = set(moved.get("tags") or [])
    kept.tags = [t for t in kept.tags if t.name not in gained]
    merged.merged_into_id, kept.updated_at, merged.updated_at = None, now, now
    record.undone_at, record.undone_by_id = now, by.user_id
    audit.record("customer.merge_undone", object_type="customer", object_id=kept.id,
                 data={"merged_id": merged.id, "merge_id": record.id}, at=now, by=by)
    db.session.commit()
    db.session.expire_all()
    return record


def merges_of(customer_id: int) -> list[CustomerMerge]:
    """The merges into `customer_id`, newest first."""
    return list(db.session.scalars(select(CustomerMerge).where(CustomerMerge.kept_id == customer_id)
                                   .order_by(CustomerMerge.id.desc())))
