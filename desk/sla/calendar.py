"""Business-hours arithmetic: pure functions over an IANA timezone, weekly windows and holidays.

Open time is real elapsed time inside the open windows, so a window that spans a DST change
is one hour shorter or longer, exactly as the clock on the wall would count it. No database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

UTC = timezone.utc
# A calendar with no open window in this many days is a configuration error, not a wait.
_HORIZON_DAYS = 800


@dataclass(frozen=True)
class Calendar:
    """Weekly open windows (weekday 0 = Monday) in `timezone`; closed on `holidays`.

    A window whose end is not after its start runs past midnight into the next day
    (22:00-06:00); 00:00-00:00 is the whole day. A window belongs to the day it opens on.
    """

    timezone: str
    windows: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_hhmm(value: str) -> time:
    """"09:30" -> time(9, 30); ValueError on anything else."""
    hours, _, mins = (value or "").strip().partition(":")
    if not (hours.isdigit() and mins.isdigit() and len(mins) == 2):
        raise ValueError(f"not a time of day (HH:MM): {value!r}")
    return time(int(hours), int(mins))


def make_calendar(tz: str, windows: dict, holidays=()) -> Calendar:
    """A Calendar from plain data: {weekday: [["09:00", "18:00"], ...]}, ISO date strings."""
    ZoneInfo(tz)  # raises for an unknown timezone
    parsed = {}
    for day, spans in (windows or {}).items():
        weekday = int(day)
        if not 0 <= weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {day!r}")
        parsed[weekday] = tuple((parse_hhmm(a), parse_hhmm(b)) for a, b in spans)
    days = frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays)
    return Calendar(tz, parsed, days)


def _local(day: date, moment: time, zone: ZoneInfo) -> datetime:
    # A wall time that does not exist (spring forward) resolves with the offset before the
    # change, i.e. to the first real instant after the gap; fold=0 picks the first of a repeat.
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def _day_intervals(calendar: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    if day in calendar.holidays:
        return []
    zone = calendar.zone
    spans = []
    for opens, closes in calendar.windows.get(day.weekday(), ()):
        end_day = day if closes > opens else day + timedelta(days=1)
        start, end = _local(day, opens, zone), _local(end_day, closes, zone)
        if end > start:
            spans.append((start, end))
    return sorted(spans)


def open_intervals(calendar: Calendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Merged open intervals in UTC, in order, that end after `since` (ValueError if none)."""
    since = since.astimezone(UTC)
    day = since.astimezone(calendar.zone).date() - timedelta(days=1)  # yesterday's night shift
    current = None
    for offset in range(_HORIZON_DAYS):
        for start, end in _day_intervals(calendar, day + timedelta(days=offset)):
            if current and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current and current[1] > since:
                yield current
            current = (start, end)
    if current and current[1] > since:
        yield current
        return
    raise ValueError("the calendar has no open time in the next two years")


def add_working_time(start: datetime, amount: timedelta, calendar: Calendar | None) -> datetime:
    """The instant when `amount` of open time has passed since `start` (24/7 when None)."""
    start = start.astimezone(UTC)
    if calendar is None or amount <= timedelta(0):
        return start + max(amount, timedelta(0))
    left = amount
    for opens, closes in open_intervals(calendar, start):
        begin = max(opens, start)
        if begin + left <= closes:
            return begin + left
        left -= closes - begin
    raise ValueError("the calendar has no open time in the next two years")


def add_working_minutes(start: datetime, minutes: float, calendar: Calendar | None) -> datetime:
    """`add_working_time` with a number of minutes."""
    return add_working_time(start, timedelta(minutes=minutes), calendar)


def working_time_between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Open time between two instants (zero when end <= start)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for opens, closes in open_intervals(calendar, start):
        if opens >= end:
            break
        total += min(closes, end) - max(opens, start)
    return total


def is_open(instant: datetime, calendar: Calendar | None) -> bool:
    """True when `instant` falls inside an open window."""
    if calendar is None:
        return True
    opens, closes = next(open_intervals(calendar, instant))
    return opens <= instant.astimezone(UTC) < closes
