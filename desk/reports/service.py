"""Service figures over one ticket population: volume, responses, SLA, CSAT, escalations."""
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, not_, or_, select, text

from desk.auth import User
from desk.channel_accounts import Channel
from desk.extensions import db
from desk.feedback import Survey
from desk.reports.periods import ReportFilter
from desk.reports.sql import bucket, dialect, percentiles, seconds_between
from desk.tickets import Message, Ticket

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
    canned_replies: list[dict]
    retention: object
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        from desk.retention import retention_dict
        data = asdict(self)
        data["filters"] = {k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in asdict(self.filters).items()}
        data["generated_at"] = self.generated_at.isoformat()
        data["retention"] = retention_dict(self.retention)
        return data


def scope(f: ReportFilter) -> list:
    """SQL conditions selecting the report's tickets."""
    conditions = [Ticket.created_at >= f.start, Ticket.created_at < f.end]
    if f.channel_id:
        conditions.append(Ticket.channel_id == f.channel_id)
    if f.agent_id:
        conditions.append(agent_column() == f.agent_id)
    return conditions


def agent_column():
    """Who a ticket counts for: the agent who answered first, else the assignee."""
    return func.coalesce(Ticket.first_responder_id, Ticket.assignee_id)


def _states(now: datetime) -> dict:
    answered = Ticket.first_response_at.is_not(None)
    not_waived = or_(Ticket.sla_state.is_(None), Ticket.sla_state != "waived")
    return {
        "answered": answered,
        "met": and_(answered, Ticket.first_response_at <= Ticket.first_response_due_at),
        "late": and_(answered, Ticket.first_response_at > Ticket.first_response_due_at),
        "waived": and_(not_(answered), Ticket.sla_state == "waived"),
        "breached": and_(not_(answered), not_waived, Ticket.first_response_due_at <= now),
    }


def frt_seconds():
    return seconds_between(Ticket.first_response_at, Ticket.first_response_started_at)


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _columns(now: datetime, with_percentiles: bool, in_sql: bool) -> list:
    s = _states(now)
    frt = case((s["answered"], frt_seconds()), else_=None)
    columns = [func.count(Ticket.id).label("volume")]
    columns += [_count(s[name]).label(name) for name in ("answered", "met", "late", "waived", "breached")]
    columns += [func.avg(frt).label("frt_mean"),
                _count(Survey.state == "sent").label("surveys_sent"),
                _count(Survey.rating.is_not(None)).label("surveys_answered"),
                _count(Survey.rating >= 4).label("positive"),
                func.avg(Survey.rating).label("csat_average")]
    if in_sql and with_percentiles:  # same scan: percentile_cont skips the NULLs of unanswered tickets
        columns += [func.percentile_cont(p).within_group(frt.asc()).label(f"p{int(p * 100)}")
                    for p in (0.5, 0.9)]
    return columns


def figures(f: ReportFilter, now: datetime, group=None, with_percentiles: bool = True) -> list[Figures]:
    """Figures for the scope, one row per value of `group` (one row when None); without
    percentiles the median and p90 stay None (they cost a sort per group)."""
    in_sql = dialect() == "postgresql"
    key = group.label("key") if group is not None else None
    stmt = select(*([key] if key is not None else []), *_columns(now, with_percentiles, in_sql)) \
        .select_from(Ticket).outerjoin(Survey, Survey.ticket_id == Ticket.id).where(*scope(f))
    if key is not None:
        stmt = stmt.group_by(key).order_by(key)
    pcts = {} if in_sql or not with_percentiles else \
        percentiles(frt_seconds(), scope(f) + [_states(now)["answered"]], group=group)
    rows = []
    for row in db.session.execute(stmt):
        k = row.key if key is not None else None
        p = {0.5: row.p50, 0.9: row.p90} if in_sql and with_percentiles else pcts.get(k, {})
        rows.append(_figures(row, k, p.get(0.5), p.get(0.9)))
    return rows


def figures_by_sets(f: ReportFilter, now: datetime) -> tuple[list, list, list]:
    """PostgreSQL: (totals, per channel, per agent) in one scan with GROUPING SETS."""
    agent = agent_column()
    stmt = select(func.grouping(Ticket.channel_id, agent).label("gset"),
                  Ticket.channel_id.label("channel"), agent.label("agent"),
                  *_columns(now, True, True)) \
        .select_from(Ticket).outerjoin(Survey, Survey.ticket_id == Ticket.id).where(*scope(f)) \
        .group_by(text("GROUPING SETS ((), (ticket.channel_id), "
                       "(coalesce(ticket.first_responder_id, ticket.assignee_id)))"))
    # grouping() sets a bit per column left out: 3 = totals, 1 = by channel, 2 = by agent
    out: dict[int, list] = {3: [], 1: [], 2: []}
    for row in db.session.execute(stmt):
        key = row.channel if row.gset == 1 else row.agent if row.gset == 2 else None
        out[row.gset].append(_figures(row, key, row.p50, row.p90))
    by_key = lambda rows: sorted(rows, key=lambda r: (r.key is None, r.key or 0))  # noqa: E731
    return out[3], by_key(out[1]), by_key(out[2])


def _ratio(part, whole):
    return round(part / whole, 4) if whole else None


def _figures(row, key, median, p90) -> Figures:
    judged = row.met + row.late + row.breached
    return Figures(
        key=key, volume=row.volume, answered=row.answered, waived=row.waived,
        response_rate=_ratio(row.answered, row.volume - row.waived),
        frt_median=_round(median), frt_p90=_round(p90), frt_mean=_round(row.frt_mean),
        met=row.met, late=row.late, breached=row.breached, breaches=row.late + row.breached,
        attainment=_ratio(row.met, judged), surveys_sent=row.surveys_sent,
        surveys_answered=row.surveys_answered, csat_score=_ratio(row.positive, row.surveys_answered),
        csat_average=_round(row.csat_average, 2),
        csat_response_rate=_ratio(row.surveys_answered, row.surveys_sent))


def _round(value, digits=1):
    return None if value is None else round(float(value), digits)


def distribution(f: ReportFilter, now: datetime) -> list[dict]:
    """How many first responses fell in each time bucket (<15m ... >24h)."""
    s = _states(now)
    minutes = frt_seconds() / 60.0
    whens = [(minutes < bound, label) for bound, label in FRT_BUCKETS if bound is not None]
    label = case(*whens, else_=FRT_BUCKETS[-1][1]).label("bucket")
    counts = dict(db.session.execute(select(label, func.count()).where(
        *scope(f), s["answered"], Ticket.first_response_started_at.is_not(None)).group_by(label)).all())
    return [{"bucket": name, "count": counts.get(name, 0)} for _, name in FRT_BUCKETS]


def escalations(f: ReportFilter) -> dict:
    """Escalations of the scope's tickets and the time to acknowledge them (when the
    escalations area is installed)."""
    try:
        from desk.escalations import Escalation
    except ImportError:
        return {"available": False, "count": 0}
    ack = seconds_between(Escalation.acknowledged_at, Escalation.created_at)
    joins = [(Ticket, Ticket.id == Escalation.ticket_id)]
    row = db.session.execute(select(
        func.count(Escalation.id), _count(Escalation.acknowledged_at.is_not(None)),
        func.avg(case((Escalation.acknowledged_at.is_not(None), ack), else_=None)),
        _count(Escalation.level >= 2)).join(*joins[0]).where(*scope(f))).one()
    pct = percentiles(ack, scope(f) + [Escalation.acknowledged_at.is_not(None)],
                      joins=joins).get(None, {})
    return {"available": True, "count": row[0], "acknowledged": row[1],
            "ack_mean": _round(row[2]), "ack_median": _round(pct.get(0.5)),
            "ack_p90": _round(pct.get(0.9)), "level_2": row[3]}


def canned_replies(f: ReportFilter, limit: int = 10) -> list[dict]:
    """The canned replies used on most tickets, with the CSAT of those tickets."""
    pairs = select(Message.canned_reply_id.label("reply_id"), Message.ticket_id.label("ticket_id")) \
        .join(Ticket, Ticket.id == Message.ticket_id) \
        .where(*scope(f), Message.direction == "out", Message.canned_reply_id.is_not(None)) \
        .distinct().subquery()
    stmt = select(pairs.c.reply_id, func.count(pairs.c.ticket_id).label("tickets"),
                  func.count(Survey.rating).label("ratings"), func.avg(Survey.rating).label("average"),
                  _count(Survey.rating >= 4).label("positive")) \
        .outerjoin(Survey, Survey.ticket_id == pairs.c.ticket_id) \
        .group_by(pairs.c.reply_id).order_by(func.count(pairs.c.ticket_id).desc(), pairs.c.reply_id).limit(limit)
    rows = db.session.execute(stmt).all()
    titles = _canned_titles([row.reply_id for row in rows])
    return [{"id": row.reply_id, "title": titles.get(row.reply_id, f"#{row.reply_id}"),
             "tickets": row.tickets, "ratings": row.ratings, "csat_average": _round(row.average, 2),
             "csat_score": _ratio(row.positive, row.ratings)} for row in rows]


def _canned_titles(ids: list[int]) -> dict:
    if not ids:
        return {}
    try:
        from desk.replies import CannedReply
    except ImportError:
        return {}
    title = getattr(CannedReply, "title", None) or getattr(CannedReply, "name")
    return dict(db.session.execute(select(CannedReply.id, title).where(CannedReply.id.in_(ids))).all())


def _labels(rows: list[Figures], model, name_attr: str) -> list[Figures]:
    ids = [r.key for r in rows if r.key is not None]
    names = dict(db.session.execute(select(model.id, getattr(model, name_attr))
                                    .where(model.id.in_(ids))).all()) if ids else {}
    for row in rows:
        row.label = names.get(row.key, "") if row.key is not None else "—"
    return rows


def service_report(f: ReportFilter, now: datetime) -> ServiceReport:
    """Every figure of the service report for `f`, as of `now` (read-only)."""
    from desk.retention import retention
    if dialect() == "postgresql":
        # Compiling these one-off aggregates costs more than it saves (read-only transaction).
        db.session.execute(text("SET LOCAL jit = off"))
    if dialect() == "postgresql":
        totals, channels, agents = figures_by_sets(f, now)
    else:
        totals, channels, agents = figures(f, now), figures(f, now, Ticket.channel_id), \
            figures(f, now, agent_column())
    total = totals[0] if totals else Figures()
    total.key, total.label = None, "all"
    # Trend points show counts, rates and the mean; a median per day is not worth its sort.
    trend = figures(f, now, bucket(Ticket.created_at, f.granularity), with_percentiles=False)
    for row in trend:
        row.label = str(row.key)
    return ServiceReport(
        filters=f, generated_at=now, totals=total, escalations=escalations(f),
        distribution=distribution(f, now), trend=trend,
        channels=_labels(channels, Channel, "name"), agents=_labels(agents, User, "name"),
        canned_replies=canned_replies(f), retention=retention(f, now))
