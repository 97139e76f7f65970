"""Report periods: presets (last 7/30/90 days, this/last month and quarter) or custom dates."""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from desk.core.errors import DeskError
from desk.core.types import MAX_ID

PRESETS = ("last_7_days", "last_30_days", "last_90_days", "this_month", "last_month",
           "this_quarter", "last_quarter", "custom")
MAX_DAYS = 731


@dataclass(frozen=True)
class ReportFilter:
    """Tickets created in [start, end), optionally on one channel, for one agent or for the
    members of one team (a ticket counts for the agent who answered it first, else its owner)."""

    start: datetime
    end: datetime
    preset: str = "custom"
    channel_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    granularity: str = "day"  # trend buckets: day or week

    @property
    def last_day(self) -> date:
        """The period's last day (end is exclusive)."""
        return (self.end - timedelta(microseconds=1)).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def resolve_period(preset: str | None, now: datetime, start: date | None = None,
                   end: date | None = None) -> tuple[datetime, datetime, str]:
    """(start, end, preset) in UTC; custom uses the inclusive dates `start`..`end`."""
    preset = preset or "last_30_days"
    today = now.astimezone(timezone.utc).date()
    tomorrow = _midnight(today + timedelta(days=1))
    if preset.startswith("last_") and preset.endswith("_days"):
        days = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90}.get(preset)
        if days is None:
            raise DeskError(f"unknown period {preset!r}")
        return tomorrow - timedelta(days=days), tomorrow, preset
    if preset == "this_month":
        return _midnight(today.replace(day=1)), tomorrow, preset
    if preset == "last_month":
        first = today.replace(day=1)
        return _midnight((first - timedelta(days=1)).replace(day=1)), _midnight(first), preset
    if preset == "this_quarter":
        return _midnight(_quarter_start(today)), tomorrow, preset
    if preset == "last_quarter":
        first = _quarter_start(today)
        return _midnight(_quarter_start(first - timedelta(days=1))), _midnight(first), preset
    if preset == "custom":
        if start is None or end is None:
            raise DeskError("a custom period needs a start and an end date")
        if end < start:
            raise DeskError("the end date is before the start date")
        if (end - start).days > MAX_DAYS:
            raise DeskError(f"a report covers at most {MAX_DAYS} days")
        return _midnight(start), _midnight(end + timedelta(days=1)), preset
    raise DeskError(f"unknown period {preset!r}; choose one of {', '.join(PRESETS)}")


def _int_or_none(raw, name: str) -> int | None:
    if raw in (None, "", "all"):
        return None
    if not (str(raw).isascii() and str(raw).isdigit() and int(raw) <= MAX_ID):
        raise DeskError(f"{name} must be a number")
    return int(raw)


def _date_or_none(raw, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise DeskError(f"{name} must be a date like 2026-06-30") from None


def filters_from_args(args, now: datetime) -> ReportFilter:
    """A ReportFilter from query parameters: period, start, end, channel_id, agent_id, team_id,
    granularity (day, week; default: day up to 31 days, else week). DeskError on bad input."""
    start, end, preset = resolve_period(args.get("period") or None, now,
                                        _date_or_none(args.get("start"), "start"),
                                        _date_or_none(args.get("end"), "end"))
    granularity = args.get("granularity") or ("day" if (end - start).days <= 31 else "week")
    if granularity not in ("day", "week"):
        raise DeskError("granularity must be day or week")
    return ReportFilter(start=start, end=end, preset=preset, granularity=granularity,
                        channel_id=_int_or_none(args.get("channel_id"), "channel_id"),
                        agent_id=_int_or_none(args.get("agent_id"), "agent_id"),
                        team_id=_int_or_none(args.get("team_id"), "team_id"))
