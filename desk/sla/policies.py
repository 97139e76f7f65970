"""SLA policies, business-hours calendars and the clock table (one row per ticket clock)."""
from datetime import date, datetime, timedelta

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts import audit
from desk.accounts.users import User
from desk.channels.accounts import KINDS, PLATFORMS
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.txcache import per_transaction
from desk.core.types import UTCDateTime
from desk.inbox.tickets import PRIORITIES, Ticket
from desk.sla.calendar import Calendar, make_calendar

CLOCK_KINDS = ("first", "next")
RUNNING = ("on_track", "at_risk")  # states the sweep still watches; breached waits for a reply
OPEN_STATES = ("on_track", "at_risk", "breached")  # no reply yet
DEFAULT_NAME = "Default"


class BusinessCalendar(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"0": [["09:00", "14:00"], ["15:00", "19:00"]], ...}; weekday 0 = Monday.
    windows: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"date": "2026-12-25", "name": "Navidad"}, ...], typed in or loaded for a country.
    holidays: Mapped[list] = mapped_column(JSON, default=list)
    holiday_country: Mapped[str | None] = mapped_column(String(10))

    def to_calendar(self) -> Calendar:
        return make_calendar(self.timezone, self.windows,
                             [h["date"] for h in self.holidays or []])


class SlaPolicy(db.Model):
    """Targets for tickets matching every set condition; the lowest position matches first."""

    __table_args__ = (
        CheckConstraint("first_response_minutes > 0", name="ck_sla_policy_first_positive"),
        CheckConstraint("next_response_minutes > 0", name="ck_sla_policy_next_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(default=100)
    # Conditions: NULL means "any".
    platform: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(10))
    priority: Mapped[str | None] = mapped_column(String(10))
    vip: Mapped[bool | None]
    first_response_minutes: Mapped[int] = mapped_column(default=60)
    next_response_minutes: Mapped[int] = mapped_column(default=60)
    # The warning fires this many minutes before the due time, or when this share of the
    # target is left (percent); the default is 15 minutes.
    warning_minutes: Mapped[int | None]
    warning_percent: Mapped[int | None]
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendar.id"))
    active: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    calendar: Mapped[BusinessCalendar | None] = relationship()

    def matches(self, ticket: Ticket) -> bool:
        customer = ticket.customer
        return ((self.platform is None or self.platform == ticket.channel.platform)
                and (self.kind is None or self.kind == ticket.kind)
                and (self.priority is None or self.priority == ticket.priority)
                and (self.vip is None or bool(customer and customer.vip) == self.vip))

    def warning_before(self, target: timedelta) -> timedelta:
        """How long before the due time the warning fires (never more than the target)."""
        if self.warning_percent is not None:
            lead = target * self.warning_percent / 100
        else:
            lead = timedelta(minutes=15 if self.warning_minutes is None else self.warning_minutes)
        return min(lead, target)

    def target(self, clock_kind: str) -> timedelta:
        minutes = self.first_response_minutes if clock_kind == "first" else self.next_response_minutes
        return timedelta(minutes=minutes)

    def conditions_text(self) -> str:
        parts = [p for p in (self.platform, self.kind, self.priority) if p]
        if self.vip is not None:
            parts.append("VIP" if self.vip else "not VIP")
        return ", ".join(parts)


class SlaClock(db.Model):
    """One response clock of a ticket: the first response (cycle 0) or a next response."""

    __table_args__ = (
        # Invariant I5: one row per (ticket, clock, cycle), so a breach is recorded once.
        UniqueConstraint("ticket_id", "kind", "cycle", name="uq_sla_clock_ticket_kind_cycle"),
        # The sweep reads only clocks that still need an event, through these two ranges.
        Index("ix_sla_clock_state_due", "state", "due_at"),
        Index("ix_sla_clock_state_warn", "state", "warn_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(5))  # first, next
    cycle: Mapped[int] = mapped_column(default=0)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policy.id", ondelete="SET NULL"))
    target_minutes: Mapped[int]
    business_hours: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(10), default="on_track")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the warning went out
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # always the due time
    breach_detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship()
    policy: Mapped[SlaPolicy | None] = relationship()
    replied_by: Mapped[User | None] = relationship()

    @property
    def stopped_at(self) -> datetime | None:
        return self.replied_at or self.waived_at


def default_policy() -> SlaPolicy:
    """The stored fallback policy, created if missing (write paths only: a new database has
    it from its migration)."""
    policy = _stored_default()
    if policy is None:
        policy = unsaved_default()
        db.session.add(policy)
        db.session.flush()
    return policy


def unsaved_default() -> SlaPolicy:
    """The fallback policy's defaults (60 minutes, 24/7, warning 15 minutes before), unsaved."""
    return SlaPolicy(name=DEFAULT_NAME, position=10_000, is_default=True,
                     first_response_minutes=60, next_response_minutes=60,
                     warning_minutes=15, active=True)


def _stored_default() -> SlaPolicy | None:
    return db.session.scalar(select(SlaPolicy).where(SlaPolicy.is_default.is_(True)))


def listed_policies() -> list[SlaPolicy]:
    """Every stored policy in matching order, for pages: read-only, so a missing default is
    shown unsaved rather than created while a page renders."""
    stored = list(db.session.scalars(_in_matching_order()))
    if not any(policy.is_default for policy in stored):
        stored.append(unsaved_default())
    return stored


def _in_matching_order():
    return select(SlaPolicy).order_by(SlaPolicy.is_default, SlaPolicy.position, SlaPolicy.id)


def ordered_policies() -> list[SlaPolicy]:
    """Every policy, in matching order; the default one is always last (read once per
    transaction: every new ticket consults them)."""
    return per_transaction("sla_policies", (SlaPolicy, BusinessCalendar), _load_policies)


def _load_policies() -> list[SlaPolicy]:
    default_policy()
    return list(db.session.scalars(_in_matching_order()))


def policy_for(ticket: Ticket) -> SlaPolicy:
    """The first active policy whose conditions the ticket meets, else the default (the
    matching order puts the default, which matches everything, last)."""
    return next(policy for policy in ordered_policies()
                if policy.is_default or (policy.active and policy.matches(ticket)))


def validate_policy(values: dict) -> dict:
    """Clean policy fields or DeskError naming the first problem."""
    clean = dict(values)
    if not (clean.get("name") or "").strip():
        raise DeskError("a policy needs a name")
    clean["name"] = clean["name"].strip()[:120]
    for key, allowed in (("platform", PLATFORMS), ("kind", KINDS), ("priority", PRIORITIES)):
        clean[key] = clean.get(key) or None
        if clean[key] is not None and clean[key] not in allowed:
            raise DeskError(f"unknown {key} {clean[key]!r}")
    for key in ("first_response_minutes", "next_response_minutes"):
        if not isinstance(clean.get(key), int) or not 1 <= clean[key] <= 60 * 24 * 30:
            raise DeskError(f"{key.replace('_', ' ')} must be between 1 and 43200 minutes")
    if clean.get("warning_percent") is not None:
        if not 1 <= clean["warning_percent"] <= 99:
            raise DeskError("the warning percentage must be between 1 and 99")
        clean["warning_minutes"] = None
    elif clean.get("warning_minutes") is not None and clean["warning_minutes"] < 0:
        raise DeskError("the warning threshold cannot be negative")
    return clean


def _jsonable(value):
    return value if value is None or isinstance(value, (str, int, float, bool, list, dict)) \
        else str(value)


def save_policy(values: dict, policy_id: int | None = None, by: audit.Actor | None = None,
                now: datetime | None = None) -> SlaPolicy:
    """Create or update a policy and commit; DeskError on invalid values or a taken name.
    Audited with the fields that changed (`by`: who, from where)."""
    clean = validate_policy(values)
    default_policy()  # a desk with policies of its own always has its fallback stored
    policy = db.session.get(SlaPolicy, policy_id) if policy_id else SlaPolicy()
    if policy is None:
        raise NotFound(f"no SLA policy {policy_id}")
    taken = db.session.scalar(select(SlaPolicy.id).where(
        SlaPolicy.name == clean["name"], SlaPolicy.id != (policy_id or 0)))
    if taken:
        raise DeskError(f"a policy named {clean['name']!r} already exists")
    if clean.get("calendar_id") and db.session.get(BusinessCalendar, clean["calendar_id"]) is None:
        raise DeskError("that calendar does not exist")
    changed = {key: _jsonable(value) for key, value in clean.items()
               if policy_id is None or getattr(policy, key) != value}
    for key, value in clean.items():
        setattr(policy, key, value)
    if policy.is_default:  # the fallback must match everything and stay on
        policy.platform = policy.kind = policy.priority = policy.vip = None
        policy.active = True
    db.session.add(policy)
    db.session.flush()
    if changed or policy_id is None:
        audit.record("sla_policy.created" if policy_id is None else "sla_policy.updated",
                     at=now, by=by, object_type="sla_policy", object_id=policy.id,
                     data={"name": policy.name, "changed": changed})
    db.session.commit()
    return policy


def delete_policy(policy_id: int, by: audit.Actor | None = None,
                  now: datetime | None = None) -> None:
    """Delete a policy (running clocks keep their due times); the default cannot go."""
    policy = db.session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound(f"no SLA policy {policy_id}")
    if policy.is_default:
        raise DeskError("the default policy cannot be deleted")
    audit.record("sla_policy.deleted", at=now, by=by, object_type="sla_policy",
                 object_id=policy.id, data={"name": policy.name})
    db.session.delete(policy)
    db.session.commit()


def save_calendar(name: str, tz: str, windows: dict, holidays: list,
                  calendar_id: int | None = None, by: audit.Actor | None = None,
                  now: datetime | None = None) -> BusinessCalendar:
    """Create or update a calendar and commit; DeskError on a bad zone, window or date.
    Audited (`by`: who, from where)."""
    if not (name or "").strip():
        raise DeskError("a calendar needs a name")
    try:
        calendar = make_calendar(tz, windows, [h["date"] for h in holidays])
    except (ValueError, KeyError, TypeError, LookupError) as exc:
        raise DeskError(f"invalid calendar: {exc}") from exc
    if not any(calendar.windows.values()):
        raise DeskError("a calendar needs at least one open window")
    row = db.session.get(BusinessCalendar, calendar_id) if calendar_id else BusinessCalendar()
    if row is None:
        raise NotFound(f"no calendar {calendar_id}")
    taken = db.session.scalar(select(BusinessCalendar.id).where(
        BusinessCalendar.name == name.strip(), BusinessCalendar.id != (calendar_id or 0)))
    if taken:
        raise DeskError(f"a calendar named {name.strip()!r} already exists")
    row.name, row.timezone = name.strip(), tz
    row.windows = {str(k): [list(span) for span in v] for k, v in windows.items() if v}
    row.holidays = sorted(holidays, key=lambda h: h["date"])
    db.session.add(row)
    db.session.flush()
    audit.record("sla_calendar.created" if calendar_id is None else "sla_calendar.updated",
                 at=now, by=by, object_type="sla_calendar", object_id=row.id,
                 data={"name": row.name, "timezone": tz, "holidays": len(row.holidays)})
    db.session.commit()
    return row


def country_holidays(country: str, years: list[int], subdiv: str | None = None) -> list[dict]:
    """Public holidays of a country (ISO code) from the `holidays` package."""
    import holidays as holiday_lib
    try:
        found = holiday_lib.country_holidays(country.upper(), subdiv=subdiv, years=years)
    except NotImplementedError as exc:
        raise DeskError(f"no holiday list for country {country!r}") from exc
    return [{"date": day.isoformat(), "name": name} for day, name in sorted(found.items())]


def load_country_holidays(calendar_id: int, country: str, years: list[int],
                          by: audit.Actor | None = None, now: datetime | None = None
                          ) -> BusinessCalendar:
    """Merge a country's public holidays into a calendar (hand-entered ones stay) and commit."""
    row = db.session.get(BusinessCalendar, calendar_id)
    if row is None:
        raise NotFound(f"no calendar {calendar_id}")
    merged = {h["date"]: h for h in row.holidays or []}
    for holiday in country_holidays(country, years):
        merged.setdefault(holiday["date"], holiday)
    row.holidays = sorted(merged.values(), key=lambda h: h["date"])
    row.holiday_country = country.upper()
    audit.record("sla_calendar.holidays_loaded", at=now, by=by, object_type="sla_calendar",
                 object_id=row.id, data={"name": row.name, "country": country.upper(),
                                         "years": list(years)})
    db.session.commit()
    return row


def parse_holiday_lines(text: str) -> list[dict]:
    """"2026-12-25 Navidad" per line -> [{"date", "name"}]; DeskError on a bad date."""
    found = []
    for line in (text or "").splitlines():
        day, _, name = line.strip().partition(" ")
        if not day:
            continue
        try:
            date.fromisoformat(day)
        except ValueError as exc:
            raise DeskError(f"not a date (YYYY-MM-DD): {day!r}") from exc
        found.append({"date": day, "name": name.strip()})
    return found
