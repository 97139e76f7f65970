"""GET /api/v1/reports/service: the service report's figures as JSON."""
from flask import jsonify, request
from pydantic import BaseModel

from desk.core.clock import now as clock_now
from desk.reports.periods import PRESETS, filters_from_args
from desk.reports.retention import Retention
from desk.reports.service import Figures, service_report
from desk.views.access import token_required, token_scope
from desk.views.api.base import bp
from desk.views.api.spec import document


class ServiceReportOut(BaseModel):
    filters: dict
    generated_at: str
    totals: Figures
    escalations: dict
    distribution: list[dict]
    trend: list[Figures]
    channels: list[Figures]
    agents: list[Figures]
    teams: list[Figures]
    canned_replies: list[dict]
    retention: Retention
    extra: dict


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


document("/reports/service", "get",
         "Service report: volume, response times (seconds), SLA attainment, CSAT, retention",
         response=ServiceReportOut, parameters=[
             _query("period", "preset (default last_30_days)", {"type": "string", "enum": list(PRESETS)}),
             _query("start", "first day of a custom period", {"type": "string", "format": "date"}),
             _query("end", "last day of a custom period (inclusive)", {"type": "string", "format": "date"}),
             _query("channel_id", "only this channel", {"type": "integer"}),
             _query("agent_id", "only this agent", {"type": "integer"}),
             _query("team_id", "only the tickets of this team's members", {"type": "integer"}),
             _query("granularity", "trend buckets", {"type": "string", "enum": ["day", "week"]}),
         ], errors=(400, 401, 403), scope="reports", response_example={
             "filters": {"period": "last_30_days", "start": "2026-11-01", "end": "2026-11-30"},
             "generated_at": "2026-12-01T08:00:00Z",
             "totals": {"key": None, "label": "All", "volume": 120, "answered": 110,
                        "waived": 4, "response_rate": 0.95, "frt_median": 1260.0,
                        "frt_p90": 3300.0, "frt_mean": 1500.0, "met": 96, "late": 14,
                        "breached": 2, "breaches": 16, "attainment": 0.86,
                        "surveys_sent": 80, "surveys_answered": 31, "csat_score": 0.84,
                        "csat_average": 4.3, "csat_response_rate": 0.39},
             "escalations": {"raised": 3}, "distribution": [], "trend": [], "channels": [],
             "agents": [], "teams": [], "canned_replies": [],
             "retention": {"window_days": 30, "total": {"group": "all", "customers": 60,
                                                       "retained": 30, "lost": 20, "open": 8,
                                                       "open_returned": 2, "rate": 0.6},
                           "cohorts": [], "bands": []},
             "extra": {}})


@bp.get("/reports/service")
@token_required
@token_scope("reports")
def report_service():
    now = clock_now()
    report = service_report(filters_from_args(request.args, now), now)
    return jsonify(report.as_dict())
