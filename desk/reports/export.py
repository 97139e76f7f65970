"""The service report as CSV, with spreadsheet formula injection neutralised."""
import csv
import io

from desk.reports.service import ServiceReport

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("volume", "answered", "waived", "response_rate", "frt_median", "frt_p90", "frt_mean",
           "met", "late", "breached", "breaches", "attainment", "surveys_sent",
           "surveys_answered", "csat_score", "csat_average", "csat_response_rate")
# Headers say their unit: durations in seconds, rates and scores as shares from 0 to 1.
UNITS = {"frt_median": "frt_median_seconds", "frt_p90": "frt_p90_seconds",
         "frt_mean": "frt_mean_seconds", "response_rate": "response_rate_0_1",
         "attainment": "attainment_0_1", "csat_score": "csat_score_0_1",
         "csat_average": "csat_average_1_5", "csat_response_rate": "csat_response_rate_0_1"}
# Trend points carry no median or p90 (desk.reports.service: not worth their cost per day);
# their columns are left out rather than left empty.
TREND_COLUMNS = tuple(c for c in COLUMNS if c not in ("frt_median", "frt_p90"))


def safe_cell(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(report: ServiceReport) -> str:
    """Sections (totals, channels, agents, teams, trend, retention, canned replies) in one sheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    row = lambda *cells: writer.writerow([safe_cell(c) for c in cells])  # noqa: E731
    f = report.filters
    row("service report", f.start.date().isoformat(), (f.end.date()).isoformat(),
        f"channel={f.channel_id or 'all'}", f"agent={f.agent_id or 'all'}", f"team={f.team_id or 'all'}")
    sections = (("totals", [report.totals], COLUMNS), ("channel", report.channels, COLUMNS),
                ("agent", report.agents, COLUMNS), ("team", report.teams, COLUMNS),
                (f"trend ({f.granularity})", report.trend, TREND_COLUMNS))
    for title, rows, columns in sections:
        row()
        row(title, *[UNITS.get(c, c) for c in columns])
        for figures in rows:
            row(figures.label or "", *[_blank(getattr(figures, c)) for c in columns])
    row()
    row("retention", "customers", "retained", "lost", "open", "open_returned", "rate_0_1")
    for group in [report.retention.total, *report.retention.cohorts, *report.retention.bands]:
        row(group.group, group.customers, group.retained, group.lost, group.open,
            group.open_returned, _blank(group.rate))
    row()
    row("canned reply", "tickets", "ratings", "csat_score_0_1", "csat_average_1_5")
    for item in report.canned_replies:
        row(item["title"], item["tickets"], item["ratings"], _blank(item["csat_score"]),
            _blank(item["csat_average"]))
    esc = report.escalations
    row()
    row("escalations", esc.get("count", 0), "acknowledged", esc.get("acknowledged", 0),
        "ack_median_seconds", _blank(esc.get("ack_median")), "ack_mean_seconds",
        _blank(esc.get("ack_mean")))
    return "\ufeff" + out.getvalue()  # BOM: spreadsheets then read UTF-8 (accents, ñ, emoji)


def _blank(value):
    return "" if value is None else value
