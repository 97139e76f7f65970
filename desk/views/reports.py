"""The service report page for SMMs: filters, figures, charts, CSV download, print view."""
from flask import Blueprint, Response, render_template, request
from flask_babel import format_date, format_decimal
from sqlalchemy import select

from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.reports.export import to_csv
from desk.reports.format import duration
from desk.reports.periods import PRESETS, filters_from_args
from desk.reports.service import service_report
from desk.routing.models import Team
from desk.views.access import role_required

bp = Blueprint("reports", __name__)


@bp.before_request
@role_required("smm")
def _smm_only():
    """The service report is for SMMs (and admins)."""


def _report():
    now = clock_now()
    filters = filters_from_args(request.args, now)
    return filters, service_report(filters, now)


def _choices():
    channels = db.session.execute(select(Channel.id, Channel.name, Channel.platform).order_by(Channel.name)).all()
    agents = db.session.execute(select(User.id, User.name).where(User.active.is_(True))
                                .order_by(User.name)).all()
    teams = db.session.execute(select(Team.id, Team.name).order_by(Team.name)).all()
    return {"channels": channels, "agents": agents, "teams": teams, "presets": PRESETS}


@bp.get("/reports")
def service():
    filters, report = _report()
    template = "reports/_body.html" if request.headers.get("HX-Request") else "reports/service.html"
    response = Response(render_template(template, report=report, filters=filters,
                                        chart_data=chart_data(report), **_choices()))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.get("/reports.csv")
def service_csv():
    filters, report = _report()
    name = f"service-report-{filters.start.date()}-{filters.end.date()}.csv"
    return Response(to_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/reports/print")
def service_print():
    filters, report = _report()
    return render_template("reports/print.html", report=report, filters=filters,
                           chart_data=chart_data(report), **_choices())


def chart_data(report) -> dict:
    """What static/reports.js draws: plain numbers and labels only."""
    return {
        "distribution": {"labels": [row["bucket"] for row in report.distribution],
                         "counts": [row["count"] for row in report.distribution]},
        "trend": {"labels": [row.label for row in report.trend],
                  "attainment": [_pct(row.attainment) for row in report.trend],
                  "csat": [_pct(row.csat_score) for row in report.trend],
                  "volume": [row.volume for row in report.trend]},
        "retention": {"labels": [row.group for row in report.retention.cohorts],
                      "rate": [_pct(row.rate) for row in report.retention.cohorts],
                      "retained": [row.retained for row in report.retention.cohorts],
                      "lost": [row.lost for row in report.retention.cohorts],
                      "open_returned": [row.open_returned for row in report.retention.cohorts],
                      "open": [row.open for row in report.retention.cohorts]},
    }


def _pct(value):
    return None if value is None else round(value * 100, 1)


@bp.app_template_filter("percent")
def percent(value) -> str:
    """A 0..1 ratio as a percentage in the viewer's locale; an em dash when undefined."""
    return "—" if value is None else format_decimal(value * 100, format="#,##0.#") + " %"


@bp.app_template_filter("day")
def day(value) -> str:
    """A date in the viewer's language ("Jun 30, 2026" / "30 jun 2026")."""
    return format_date(value, "medium")


bp.app_template_filter("duration")(duration)
