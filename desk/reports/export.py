"""The service report as CSV, with spreadsheet formula injection neutralised."""
import csv
import io

from desk.reports.service import ServiceReport

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("volume", "answered", "waived", "response_rate", "frt_median", "frt_p90", "frt_mean",
           "met", "late", "breached", "breaches", "attainment", "surveys_sent",
           "surveys_answered", "csat_score", "csat_average", "csat_response_rate")


def safe_cell(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(report: ServiceReport) -> str:
    """Sections (totals, channels, agents, trend, retention, canned replies) in one sheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    row = lambda *cells: writer.writerow([safe_cell(c) for c in cells])  # noqa: E731
    f = report.filters
    row("service report", f.start.date().isoformat(), (f.end.date()).isoformat(),
        f"channel={f.channel_id or 'all'}", f"agent={f.agent_id or 'all'}")
    for title, rows in (("totals", [report.totals]), ("channel", report.channels),
                        ("agent", report.agents), (f"trend ({f.granularity})", report.trend)):
        row()
        row(title, *COLUMNS)
        for figures in rows:
            row(figures.label or "", *[_blank(getattr(figures, c)) for c in COLUMNS])
    row()
    row("retention", "customers", "retained", "lost", "open", "open_returned", "rate")
    for group in [report.retention.total, *report.retention.cohorts, *report.retention.bands]:
        row(group.group, group.customers, group.retained, group.lost, group.open,
            group.open_returned, _blank(group.rate))
    row()
    row("canned reply", "tickets", "ratings", "csat_score", "csat_average")
    for item in report.canned_replies:
        row(item["title"], item["tickets"], item["ratings"], _blank(item["csat_score"]),
            _blank(item["csat_average"]))
    esc = report.escalations
    row()
    row("escalations", esc.get("count", 0), "acknowledged", esc.get("acknowledged", 0),
        "ack_median_s", _blank(esc.get("ack_median")), "ack_mean_s", _blank(esc.get("ack_mean")))
    return "\ufeff" + out.getvalue()  # BOM: spreadsheets then read UTF-8 (accents, ñ, emoji)


def _blank(value):
    return "" if value is None else value
