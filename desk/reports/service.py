"""Service figures over one ticket population: volume, responses, SLA, CSAT, escalations.

The database adds up per (day, channel, agent) (desk/reports/cells.py), from the roll-up
corrected for the tickets changed since its last refresh, or live before the first one
(desk/reports/sources.py). Totals, breakdowns and trend points are sums of those rows, so
they equal what one live query over the whole period gives; the first-response median and
p90 come from a histogram, to within one bucket (cells.FRT_BUCKET_NOTE), live or not.
"""
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction

from sqlalchemy import case, func, select, text

from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.escalation.escalations import Escalation
from desk.inbox.tickets import Ticket
from desk.replies.models import CannedReply
from desk.reports import sources
from desk.reports.cells import NO_AGENT, SUMS, period_conditions
from desk.reports.periods import ReportFilter
from desk.reports.retention import retention, retention_dict
from desk.routing.models import Team, TeamMember
from desk.reports.sql import dialect, percentiles, seconds_between

# First-response time histogram: (upper bound in minutes, label); the last bucket is open.
FRT_BUCKETS = [(15, "<15m"), (30, "15-30m"), (60, "30-60m"), (120, "1-2h"), (240, "2-4h"),
               (480, "4-8h"), (1440, "8-24h"), (None, ">24h")]


@dataclass
class Figures:
    """One row of figures: the whole report, one channel, one agent or one day/week."""

    key: str | int | None = None
    label: str = ""
    volume: int = 0
    answered: int = 0
    waived: int = 0
    response_rate: float | None = None
    frt_median: float | None = None  # seconds
    frt_p90: float | None = None
    frt_mean: float | None = None
    met: int = 0
    late: int = 0
    breached: int = 0  # unanswered past the due time
    breaches: int = 0  # late + breached: every first response that missed its target
    attainment: float | None = None  # met / (met + late + breached); waived left out
    surveys_sent: int = 0
    surveys_answered: int = 0
    csat_score: float | None = None  # share of ratings 4-5
    csat_average: float | None = None
    csat_response_rate: float | None = None


@dataclass
class ServiceReport:
    filters: ReportFilter
    generated_at: datetime
    totals: Figures
    escalations: dict
    distribution: list[dict]
    trend: list[Figures]
    channels: list[Figures]
    agents: list[Figures]
    teams: list[Figures]  # each team's members' tickets (an agent in two teams counts in both)
    canned_replies: list[dict]
    retention: object
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["filters"] = {k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in asdict(self.filters).items()}
        data["generated_at"] = self.generated_at.isoformat()
        data["retention"] = retention_dict(self.retention)
        return data


def _ratio(part, whole):
    return round(part / whole, 4) if whole else None


def _round(value, digits=1):
    return None if value is None else round(float(value), digits)


def _sums(cells: dict, key) -> dict:
    """{key(day, channel, agent): summed values} over the cells."""
    out: dict = {}
    for (day, channel, agent), values in cells.items():
        k = key(day, channel, agent)
        acc = out.get(k)
        if acc is None:
            out[k] = list(values)
        else:
            for i, value in enumerate(values):
                acc[i] += value
    return out


def hist_percentile(histogram: dict[int, int], p: float) -> float | None:
    """percentile_cont(p) of the values, each taken as its bucket's lower bound."""
    n = sum(histogram.values())
    if not n:
        return None
    position = p * (n - 1)
    low = math.floor(position)
    ordered = sorted(histogram.items())

    def value_at(rank: int) -> int:
        seen = 0
        for bucket, count in ordered:
            seen += count
            if seen > rank:
                return bucket
        return ordered[-1][0]
    v_low, v_high = value_at(low), value_at(min(low + 1, n - 1))
    return v_low + (v_high - v_low) * (position - low)


def _figures(key, values: list | None, histogram: dict | None) -> Figures:
    s = dict(zip(SUMS, values or [0] * len(SUMS)))
    judged = s["met"] + s["late"] + s["breached"]
    mean = Fraction(s["frt_micros"], s["frt_count"] * 1_000_000) if s["frt_count"] else None
    rating = Fraction(s["rating_sum"], s["surveys_answered"]) if s["surveys_answered"] else None
    return Figures(
        key=key, volume=s["volume"], answered=s["answered"], waived=s["waived"],
        response_rate=_ratio(s["answered"], s["volume"] - s["waived"]),
        frt_median=_round(hist_percentile(histogram, 0.5)) if histogram is not None else None,
        frt_p90=_round(hist_percentile(histogram, 0.9)) if histogram is not None else None,
        frt_mean=_round(mean), met=s["met"], late=s["late"], breached=s["breached"],
        breaches=s["late"] + s["breached"], attainment=_ratio(s["met"], judged),
        surveys_sent=s["surveys_sent"], surveys_answered=s["surveys_answered"],
        csat_score=_ratio(s["positive"], s["surveys_answered"]),
        csat_average=_round(rating, 2),
        csat_response_rate=_ratio(s["surveys_answered"], s["surveys_sent"]))


def _breakdown(cells, histogram_rows, position: int, model, name_attr: str) -> list[Figures]:
    """Figures per channel (position 0) or agent (position 1), labelled, by id; nobody last."""
    hists: dict = {}
    for row in histogram_rows:
        per = hists.setdefault(row[position], {})
        per[row[2]] = per.get(row[2], 0) + int(row[3])
    rows = [_figures(None if k == NO_AGENT and position == 1 else k, s, hists.get(k, {}))
            for k, s in _sums(cells, lambda *key: key[1 + position]).items()]
    ids = [r.key for r in rows if r.key is not None]
    names = dict(db.session.execute(select(model.id, getattr(model, name_attr))
                                    .where(model.id.in_(ids))).all()) if ids else {}
    for row in rows:
        row.label = names.get(row.key, "") if row.key is not None else "—"
    return sorted(rows, key=lambda r: (r.key is None, r.key or 0))


def _team_breakdown(cells, histogram_rows) -> list[Figures]:
    """Figures per team: the sums of its members' agent rows, and their histograms (exact,
    since a ticket counts for one agent)."""
    members: dict[int, set[int]] = {}
    for team_id, user_id in db.session.execute(select(TeamMember.team_id, TeamMember.user_id)):
        members.setdefault(team_id, set()).add(user_id)
    per_agent = _sums(cells, lambda _day, _channel, agent: agent)
    rows = []
    for team in db.session.scalars(select(Team).order_by(Team.name)):
        mine = members.get(team.id, set())
        sums = None
        for agent, values in per_agent.items():
            if agent in mine:
                sums = list(values) if sums is None else [a + b for a, b in zip(sums, values)]
        histogram: dict[int, int] = {}
        for _channel, agent, bucket, count in histogram_rows:
            if agent in mine:
                histogram[bucket] = histogram.get(bucket, 0) + int(count)
        row = _figures(team.id, sums, histogram)
        row.label = team.name
        rows.append(row)
    return rows


def _trend_key(day, granularity: str) -> str:
    day = day if isinstance(day, date) else date.fromisoformat(str(day))
    return (day - timedelta(days=day.weekday()) if granularity == "week" else day).isoformat()


def _distribution(total: dict[int, int]) -> list[dict]:
    counts = dict.fromkeys([name for _, name in FRT_BUCKETS], 0)
    for bucket, count in total.items():
        name = next((n for bound, n in FRT_BUCKETS if bound is not None and bucket < bound * 60),
                    FRT_BUCKETS[-1][1])
        counts[name] += count
    return [{"bucket": name, "count": count} for name, count in counts.items()]


def escalations(f: ReportFilter) -> dict:
    """Escalations of the scope's tickets and the time to acknowledge them."""
    ack = seconds_between(Escalation.acknowledged_at, Escalation.created_at)
    joins = [(Ticket, Ticket.id == Escalation.ticket_id)]
    acknowledged = Escalation.acknowledged_at.is_not(None)
    row = db.session.execute(select(
        func.count(Escalation.id), func.count(Escalation.acknowledged_at),
        func.avg(case((acknowledged, ack), else_=None)),
        func.count(case((Escalation.level >= 2, 1), else_=None))).join(*joins[0])
        .where(*period_conditions(f))).one()
    pct = percentiles(ack, period_conditions(f) + [acknowledged], joins=joins).get(None, {})
    return {"available": True, "count": row[0], "acknowledged": row[1],
            "ack_mean": _round(row[2]), "ack_median": _round(pct.get(0.5)),
            "ack_p90": _round(pct.get(0.9)), "level_2": row[3]}


def canned_replies(f: ReportFilter, src, limit: int = 10) -> list[dict]:
    """The canned replies used on most tickets, with the CSAT of those tickets."""
    used = sorted(sources.canned(f, src).items(), key=lambda item: (-item[1]["tickets"], item[0]))[:limit]
    titles = _canned_titles([reply_id for reply_id, _ in used])
    return [{"id": reply_id, "title": titles.get(reply_id, f"#{reply_id}"), "tickets": s["tickets"],
             "ratings": s["ratings"],
             "csat_average": _round(Fraction(s["rating_sum"], s["ratings"]) if s["ratings"] else None, 2),
             "csat_score": _ratio(s["positive"], s["ratings"])} for reply_id, s in used]


def _canned_titles(ids: list[int]) -> dict:
    if not ids:
        return {}
    return dict(db.session.execute(
        select(CannedReply.id, CannedReply.title).where(CannedReply.id.in_(ids))).all())


def service_report(f: ReportFilter, now: datetime, live: bool = False) -> ServiceReport:
    """Every figure of the service report for `f`, as of `now` (read-only; `live`: ignore
    the roll-up, which gives the same figures, only slower)."""
    if dialect() == "postgresql":
        # Compiling these one-off aggregates costs more than it saves; the retention sort
        # of a quarter's served tickets fits in memory instead of spilling to disk.
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
    src = sources.plan(f, live)
    cells, histogram_rows = sources.cells_and_histogram(f, now, src)
    total_hist: dict[int, int] = {}
    for _channel, _agent, bucket, count in histogram_rows:
        total_hist[bucket] = total_hist.get(bucket, 0) + int(count)
    total = _figures(None, _sums(cells, lambda *key: None).get(None), total_hist)
    total.label = "all"
    # Trend points show counts, rates and the mean; a median per day is not worth its cost.
    trend = [_figures(key, s, None) for key, s in
             sorted(_sums(cells, lambda day, *_: _trend_key(day, f.granularity)).items())]
    for row in trend:
        row.label = str(row.key)
    return ServiceReport(
        filters=f, generated_at=now, totals=total, escalations=escalations(f),
        distribution=_distribution(total_hist), trend=trend,
        channels=_breakdown(cells, histogram_rows, 0, Channel, "name"),
        agents=_breakdown(cells, histogram_rows, 1, User, "name"),
        teams=_team_breakdown(cells, histogram_rows),
        canned_replies=canned_replies(f, src), retention=retention(f, now, live=not src.built))
