"""Where a report's figures come from, added up in the same rows.

Once the roll-up is built: the sums of the whole days of the period (report_cell, report_frt,
report_canned), plus the stored ticket rows of its partial first and last days, plus the
unanswered tickets past due at `now` (breaches depend on the report's `now`); then the
tickets changed since the last refresh (the change marks) are corrected: their stored rows
taken away, their rows as they are now added. Each section is one statement, so it sees
one snapshot of roll-up and marks together. Before the first refresh, everything is live.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, literal, select, union_all

from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.reports.cells import (
    CELL_SUMS,
    SUMS,
    canned_pairs,
    canned_select,
    cells_select,
    filter_conditions,
    frt_select,
    in_ranges,
    period_conditions,
    ticket_rows,
)
from desk.reports.periods import ReportFilter
from desk.reports.refresh import midnight, stored_pairs, stored_rows
from desk.reports.rollup import (
    ReportCanned,
    ReportCell,
    ReportFrt,
    ReportRollup,
    ReportTicket,
    report_dirty_ticket,
)


@dataclass
class Sources:
    built: bool  # the roll-up was built: read it (else everything is live)
    days: list[tuple[date, date]]  # whole days read from the per-day sums
    edges: list[tuple[datetime, datetime]]  # partial days read from the stored ticket rows


def _ceil_day(moment: datetime) -> date:
    moment = moment.astimezone(timezone.utc)
    day = moment.date()
    return day if moment == midnight(day) else day + timedelta(days=1)


def plan(f: ReportFilter, live: bool = False) -> Sources:
    """Split the period of `f` into whole days and partial edges (`live`: no roll-up)."""
    built = not live and db.session.scalar(
        select(ReportRollup.built_at).where(ReportRollup.id == 1)) is not None
    first, last = _ceil_day(f.start), f.end.astimezone(timezone.utc).date()
    if not built:
        return Sources(False, [], [])
    if first >= last:
        return Sources(True, [], [(f.start, f.end)])
    edges = [(low, high) for low, high in ((f.start, midnight(first)), (midnight(last), f.end)) if low < high]
    return Sources(True, [(first, last)], edges)


class _Parts:
    """The conditions of a report's pieces: `live` on Ticket (the changed tickets, or all
    before the first refresh), `stored` on ReportTicket (the changed tickets' stored rows, to
    take away), `edges` on ReportTicket (the partial days), and the whole days' sums."""

    def __init__(self, f: ReportFilter, src: Sources):
        self.f, self.src = f, src
        if not src.built:
            self.live, self.stored, self.edges = period_conditions(f), None, None
            return
        changed = select(report_dirty_ticket.c.ticket_id)
        stored_filters = filter_conditions(f, ReportTicket.channel_id, ReportTicket.agent_id)
        self.live = period_conditions(f) + [Ticket.id.in_(changed)]
        self.stored = [ReportTicket.created_at >= f.start, ReportTicket.created_at < f.end,
                       *stored_filters, ReportTicket.ticket_id.in_(changed)]
        self.edges = [in_ranges(ReportTicket.created_at, src.edges), *stored_filters] if src.edges else None

    def day_filters(self, model) -> list:
        return [in_ranges(model.day, self.src.days),
                *filter_conditions(self.f, model.channel_id, model.agent_id)]


def cells_and_histogram(f: ReportFilter, now: datetime, src: Sources) -> tuple[dict, list[tuple]]:
    """{(day, channel, agent): [SUMS]} and [(channel, agent, bucket, first responses)]."""
    parts = _Parts(f, src)
    cells: dict[tuple, list[int]] = {}
    histogram: list[tuple] = []
    if not src.built:
        for row in db.session.execute(cells_select(ticket_rows(parts.live), now, by_bucket=True)):
            _add(cells, (row.day, row.channel_id, row.agent_id), [getattr(row, name) for name in SUMS], 1)
            if row.bucket is not None:
                histogram.append((row.channel_id, row.agent_id, row.bucket, int(row.frt_count)))
        return cells, histogram
    selects = [cells_select(ticket_rows(parts.live), now, sign=1),
               cells_select(stored_rows(parts.stored), now, sign=-1)]
    frts = [frt_select(ticket_rows(parts.live), by_day=False, sign=1),
            frt_select(stored_rows(parts.stored), by_day=False, sign=-1)]
    if parts.edges is not None:
        selects.append(cells_select(stored_rows(parts.edges), now, sign=1))
        frts.append(frt_select(stored_rows(parts.edges), by_day=False, sign=1))
    if src.days:
        keys = (ReportCell.day, ReportCell.channel_id, ReportCell.agent_id)
        selects.append(select(*keys, *[getattr(ReportCell, n) for n in CELL_SUMS],
                              literal(0).label("breached"), literal(1).label("sign"))
                       .where(*parts.day_filters(ReportCell)))
        due = (ReportTicket.day, ReportTicket.channel_id, ReportTicket.agent_id)
        selects.append(select(*due, *[literal(0).label(n) for n in CELL_SUMS],
                              func.count().label("breached"), literal(1).label("sign"))
                       .where(*parts.day_filters(ReportTicket), ReportTicket.due_at <= now).group_by(*due))
        bucket = (ReportFrt.channel_id, ReportFrt.agent_id, ReportFrt.bucket)
        frts.append(select(*bucket, func.sum(ReportFrt.tickets).label("tickets"), literal(1).label("sign"))
                    .where(*parts.day_filters(ReportFrt)).group_by(*bucket))
    for day, channel, agent, *values, sign in db.session.execute(_union(selects)):
        _add(cells, (day, channel, agent), values, sign)
    counts: dict[tuple, int] = {}
    for channel, agent, bucket, tickets, sign in db.session.execute(_union(frts)):
        counts[(channel, agent, bucket)] = counts.get((channel, agent, bucket), 0) + sign * int(tickets)
    histogram = [(*key, n) for key, n in counts.items() if n]
    # A cell whose every ticket moved away (say, to the agent who answered) is no cell at all.
    return {key: values for key, values in cells.items() if values[0]}, histogram


def _union(selects: list):
    return selects[0] if len(selects) == 1 else union_all(*selects)


def _add(cells: dict, key: tuple, values, sign: int) -> None:
    acc = cells.get(key)
    if acc is None:
        cells[key] = [sign * int(v) for v in values]
    else:
        for i, value in enumerate(values):
            acc[i] += sign * int(value)


def canned(f: ReportFilter, src: Sources) -> dict[int, dict]:
    """reply id: {tickets, ratings, rating_sum, positive}."""
    parts = _Parts(f, src)
    selects = [canned_select(canned_pairs(parts.live).subquery(), ticket_rows(parts.live),
                             by_day=False, sign=1)]
    if src.built:
        selects.append(canned_select(stored_pairs(), stored_rows(parts.stored), by_day=False, sign=-1))
        if parts.edges is not None:
            selects.append(canned_select(stored_pairs(), stored_rows(parts.edges),
                                         by_day=False, sign=1))
        if src.days:
            names = ("tickets", "ratings", "rating_sum", "positive")
            selects.append(select(ReportCanned.channel_id, ReportCanned.agent_id, ReportCanned.reply_id,
                                  *[func.sum(getattr(ReportCanned, n)).label(n) for n in names],
                                  literal(1).label("sign"))
                           .where(*parts.day_filters(ReportCanned))
                           .group_by(ReportCanned.channel_id, ReportCanned.agent_id, ReportCanned.reply_id))
    totals: dict[int, list[int]] = {}
    for _channel, _agent, reply_id, *values, sign in db.session.execute(_union(selects)):
        acc = totals.setdefault(reply_id, [0, 0, 0, 0])
        for i, value in enumerate(values):
            acc[i] += sign * int(value)
    return {reply_id: dict(zip(("tickets", "ratings", "rating_sum", "positive"), acc))
            for reply_id, acc in totals.items() if acc[0]}
