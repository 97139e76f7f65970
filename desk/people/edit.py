"""Changes agents make to a customer: contact fields, VIP, language and zone, notes, tags, and
the VIP list import. Each is one transaction and leaves an audit row naming the fields (never
their values: the audit trail outlives a customer's erasure)."""
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import available_timezones

from sqlalchemy import func, select

from desk.accounts import audit
from desk.accounts.audit import Actor
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.customers.contact import clean_email, clean_phone
from desk.customers.models import Customer, CustomerIdentity, CustomerNote, CustomerTag

EDITABLE = ("display_name", "email", "phone", "language", "timezone", "vip")
LANGUAGES = ("es", "en", "pt", "fr", "it", "de", "ca")
_TAG = re.compile(r"^[\w][\w\- ]{0,59}$")
NOTE_LIMIT = 5000
IMPORT_LIMIT = 20_000  # rows in one VIP list


def live_customer(customer_id: int, *, lock: bool = False) -> Customer:
    """The customer `customer_id`, not merged away; NotFound otherwise."""
    query = select(Customer).where(Customer.id == customer_id)
    customer = db.session.scalar(query.with_for_update() if lock else query)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound(_("No customer %(id)s.", id=customer_id))
    return customer


def _clean(name: str, value):
    if name == "display_name":
        value = " ".join(str(value or "").split())
        if not value or len(value) > 200:
            raise DeskError(_("A name of 1 to 200 characters is required."))
        return value
    if name == "email":
        return clean_email(value)
    if name == "phone":
        return clean_phone(value)
    if name == "language":
        value = (value or "").strip().lower() or None
        if value is not None and value not in LANGUAGES:
            raise DeskError(_("Unknown language %(value)s.", value=value[:10]))
        return value
    if name == "timezone":
        value = (value or "").strip() or None
        if value is not None and value not in available_timezones():
            raise DeskError(_("Unknown time zone %(value)s.", value=value[:64]))
        return value
    if name == "vip":
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "on", "yes", "y")
        return bool(value)
    raise DeskError(_("%(name)s cannot be changed.", name=str(name)[:40]))


def update_customer(customer_id: int, changes: dict, *, by: Actor, now: datetime) -> list[str]:
    """Apply `changes` (field -> value, of EDITABLE) to the customer, all or nothing; returns
    the fields that changed. Commits."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise DeskError(_("%(name)s cannot be changed.", name=", ".join(sorted(unknown))[:80]))
    customer = live_customer(customer_id, lock=True)
    cleaned = {name: _clean(name, value) for name, value in changes.items()}
    changed = [name for name, value in cleaned.items() if getattr(customer, name) != value]
    if not changed:
        db.session.rollback()
        return []
    for name in changed:
        setattr(customer, name, cleaned[name])
    customer.updated_at = now
    audit.record("customer.updated", object_type="customer", object_id=customer.id,
                 data={"changed": changed}, at=now, by=by)
    db.session.commit()
    return changed


def add_note(customer_id: int, body: str, *, by: Actor, now: datetime) -> CustomerNote:
    """A note on the customer by `by`'s user. Commits."""
    body = (body or "").strip()
    if not body or len(body) > NOTE_LIMIT:
        raise DeskError(_("A note of 1 to %(limit)s characters is required.", limit=NOTE_LIMIT))
    customer = live_customer(customer_id)
    note = CustomerNote(customer_id=customer.id, author_id=by.user_id, body=body, created_at=now)
    db.session.add(note)
    audit.record("customer.note_added", object_type="customer", object_id=customer.id,
                 at=now, by=by)
    db.session.commit()
    return note


def set_tags(customer_id: int, names, *, by: Actor, now: datetime) -> list[str]:
    """Replace the customer's tags by `names` (cleaned, unique, at most 20). Commits."""
    wanted = []
    for name in names:
        name = " ".join(str(name).split()).lower()
        if not name:
            continue
        if not _TAG.match(name):
            raise DeskError(_("%(value)s is not a valid tag.", value=name[:60]))
        if name not in wanted:
            wanted.append(name)
    if len(wanted) > 20:
        raise DeskError(_("At most 20 tags on a customer."))
    customer = live_customer(customer_id, lock=True)
    before = sorted(t.name for t in customer.tags)
    if before == sorted(wanted):
        db.session.rollback()
        return before
    customer.tags = [CustomerTag(name=name) for name in sorted(wanted)]
    customer.updated_at = now
    audit.record("customer.tags_changed", object_type="customer", object_id=customer.id,
                 data={"added": sorted(set(wanted) - set(before)),
                       "removed": sorted(set(before) - set(wanted))}, at=now, by=by)
    db.session.commit()
    return sorted(wanted)


@dataclass
class ImportResult:
    marked: int = 0  # customers made VIP
    already: int = 0  # customers that were VIP already
    unmatched: list[int] = field(default_factory=list)  # line numbers
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _match(row: dict) -> int | None:
    """The live customer a VIP list row names: platform identity, then e-mail, then phone."""
    platform = (row.get("platform") or "").strip().lower()
    handle = (row.get("handle") or "").strip().lstrip("@")
    user_id = (row.get("platform_user_id") or "").strip()
    if platform and (handle or user_id):
        column = CustomerIdentity.platform_user_id if user_id else func.lower(CustomerIdentity.handle)
        found = db.session.scalar(select(CustomerIdentity.customer_id).where(
            CustomerIdentity.platform == platform, column == (user_id or handle.lower())).limit(1))
        if found is not None:
            return kept_id(found)
    email = clean_email(row.get("email"))
    if email:
        found = db.session.scalar(select(Customer.id).where(
            Customer.email == email, Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(1))
        if found is not None:
            return found
    phone = clean_phone(row.get("phone"))
    if phone:
        return db.session.scalar(select(Customer.id).where(
            Customer.phone == phone, Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(1))
    return None


def kept_id(customer_id: int) -> int:
    """The customer that `customer_id` was merged into, following merges to the live one."""
    for _hop in range(20):
        merged_into = db.session.scalar(select(Customer.merged_into_id).where(Customer.id == customer_id))
        if merged_into is None:
            return customer_id
        customer_id = merged_into
    return customer_id


def import_vip_list(text: str, *, by: Actor, now: datetime) -> ImportResult:
    """Mark as VIP every customer a CSV row names (columns: any of email, phone, platform with
    handle or platform_user_id). Rows that match nobody are reported, never create anyone;
    a malformed file changes nothing. Commits."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if not columns & {"email", "phone", "handle", "platform_user_id"}:
        raise DeskError(_("The file needs a header row with email, phone, or platform and handle."))
    result, found = ImportResult(), set()
    for line, raw in enumerate(reader, start=2):
        if line > IMPORT_LIMIT + 1:
            raise DeskError(_("At most %(limit)s rows in one file.", limit=IMPORT_LIMIT))
        row = {(k or "").strip().lower(): (v or "") for k, v in raw.items() if isinstance(v, str)}
        try:
            customer_id = _match(row)
        except DeskError as exc:
            result.rejected.append((line, str(exc)))
            continue
        if customer_id is None:
            result.unmatched.append(line)
        else:
            found.add(customer_id)
    for customer in db.session.scalars(select(Customer).where(Customer.id.in_(found))
                                       .with_for_update()) if found else ():
        if customer.vip:
            result.already += 1
        else:
            customer.vip, customer.updated_at = True, now
            result.marked += 1
    audit.record("customer.vip_imported", object_type="customer",
                 data={"marked": result.marked, "already": result.already,
                       "unmatched": len(result.unmatched), "rejected": len(result.rejected)},
                 at=now, by=by)
    db.session.commit()
    return result
