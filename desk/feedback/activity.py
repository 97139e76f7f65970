"""Customer activity events (purchases, visits, sign-ups...) that feed retention.

Events are matched to people by platform identity, e-mail or phone (a merged customer's
identities and contact details lead to the customer kept) and are idempotent per
(source, external_id): sending the same event twice stores it once.
"""
import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import UTCDateTime
from desk.customers.contact import clean_email, clean_phone
from desk.customers.models import Customer, CustomerIdentity

FUTURE_SLACK = timedelta(minutes=5)  # clock skew allowed on occurred_at


class ActivityEvent(db.Model):
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_activity_customer_occurred", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(40))  # purchase, visit, sign-up or any word
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(60), default="api")
    external_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)


@dataclass
class ActivityInput:
    """One event as received, before matching (API body item or CSV row)."""

    kind: str
    occurred_at: datetime
    source: str = "api"
    external_id: str | None = None
    platform: str | None = None
    platform_user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    data: dict = field(default_factory=dict)


@dataclass
class Outcome:
    index: int  # position in the batch (CSV: the line number)
    status: str  # imported, duplicate, unmatched, rejected
    reason: str = ""
    event_id: int | None = None


def match_customer(item: ActivityInput) -> int | None:
    """The customer id for an event: platform identity first, then e-mail, then phone; only
    customers not merged away (a merge moves the identities, not the contact details)."""
    if item.platform and item.platform_user_id:
        found = db.session.scalar(select(CustomerIdentity.customer_id).where(
            CustomerIdentity.platform == item.platform.strip().lower(),
            CustomerIdentity.platform_user_id == str(item.platform_user_id).strip()))
        if found is not None:
            return found
    for column, value in ((Customer.email, _or_none(clean_email, item.email)),
                          (Customer.phone, _or_none(clean_phone, item.phone))):
        if value:
            found = db.session.scalar(select(Customer.id).where(
                column == value, Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(1))
            if found is not None:
                return found
    return None


def _or_none(clean, value: str | None) -> str | None:
    """`value` cleaned, or None when it is blank or malformed (such an event goes unmatched)."""
    try:
        return clean(value)
    except DeskError:
        return None


def check(item: ActivityInput, now: datetime) -> str:
    """Why an event cannot be stored, or "" when it can."""
    if not (item.kind or "").strip() or len(item.kind.strip()) > 40:
        return "kind is required (at most 40 characters)"
    if item.occurred_at.tzinfo is None:
        item.occurred_at = item.occurred_at.replace(tzinfo=timezone.utc)
    if item.occurred_at > now + FUTURE_SLACK:
        return "occurred_at is in the future"
    if not ((item.platform and item.platform_user_id) or item.email or item.phone):
        return "needs platform + platform_user_id, email or phone, to find the customer"
    return ""


def record_events(items: list[ActivityInput], now: datetime, indexes: list[int] | None = None,
                  commit: bool = True, seen: set | None = None) -> list[Outcome]:
    """Store the matched, new events (commits unless commit=False); one Outcome per item."""
    outcomes, seen = [], seen if seen is not None else set()
    for offset, item in enumerate(items):
        index = indexes[offset] if indexes else offset
        reason = check(item, now)
        if reason:
            outcomes.append(Outcome(index, "rejected", reason))
            continue
        key = (item.source, item.external_id)
        if item.external_id and (key in seen or _exists(*key)):
            outcomes.append(Outcome(index, "duplicate", "already recorded"))
            continue
        customer_id = match_customer(item)
        if customer_id is None:
            outcomes.append(Outcome(index, "unmatched", "no customer with that identity, e-mail or phone"))
            continue
        seen.add(key)
        event = ActivityEvent(customer_id=customer_id, kind=item.kind.strip().lower(),
                              occurred_at=item.occurred_at, source=item.source,
                              external_id=item.external_id, data=item.data or {}, created_at=now)
        try:
            with db.session.begin_nested():  # a concurrent twin wins the unique key: duplicate
                db.session.add(event)
        except IntegrityError:
            outcomes.append(Outcome(index, "duplicate", "already recorded"))
            continue
        outcomes.append(Outcome(index, "imported", event_id=event.id))
    if commit:
        db.session.commit()
    return outcomes


def _exists(source: str, external_id: str) -> bool:
    return db.session.scalar(select(ActivityEvent.id).where(
        ActivityEvent.source == source, ActivityEvent.external_id == external_id)) is not None


def summarize(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"imported": 0, "duplicate": 0, "unmatched": 0, "rejected": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts


CSV_REQUIRED = ("kind", "occurred_at")
CSV_KNOWN = ("kind", "occurred_at", "source", "external_id", "platform", "platform_user_id", "email",
             "phone")


def read_csv(path: str, default_source: str = "import") -> tuple[list[tuple[int, ActivityInput]], list[Outcome]]:
    """Parse an activity CSV into (line, event) pairs and rejected lines; DeskError when the
    file itself is unusable (missing, not UTF-8, no header, required columns missing)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DeskError(f"no such file: {path}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DeskError(f"{path} is not a UTF-8 CSV file ({exc})") from None
    if not rows:
        raise DeskError(f"{path} is empty: expected a header with {', '.join(CSV_REQUIRED)}")
    header = [name.strip().lower() for name in rows[0]]
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing or not ({"email", "phone"} & set(header) or {"platform", "platform_user_id"} <= set(header)):
        raise DeskError(f"{path}: the header needs {', '.join(CSV_REQUIRED)} and email, phone or "
                        f"platform + platform_user_id (missing: {', '.join(missing) or 'an identity column'})")
    items, rejected = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            rejected.append(Outcome(line, "rejected", f"{len(row)} cells, the header has {len(header)}"))
            continue
        values = {name: cell.strip() for name, cell in zip(header, row)}
        try:
            occurred = _parse_time(values["occurred_at"])
        except ValueError:
            rejected.append(Outcome(line, "rejected", f"occurred_at is not a date/time: {values['occurred_at'][:40]!r}"))
            continue
        items.append((line, ActivityInput(
            kind=values["kind"], occurred_at=occurred, source=values.get("source") or default_source,
            external_id=values.get("external_id") or None, platform=values.get("platform") or None,
            platform_user_id=values.get("platform_user_id") or None, email=values.get("email") or None,
            phone=values.get("phone") or None,
            data={k: v for k, v in values.items() if k not in CSV_KNOWN and v})))
    return items, rejected


def _parse_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
