"""Macros: the agent's list (personal ones, and their teams' shared by leads), the preview and
the one-click run on a ticket."""
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.inbox.tickets import PRIORITIES
from desk.replies import macros
from desk.routing.teams import teams as all_teams
from desk.sla import board as sla_board
from desk.views.access import role_required

bp = Blueprint("macros", __name__, url_prefix="/macros")
STEP_LABELS = {"assign": _l("Owner"), "tag": _l("Add tag"), "priority": _l("Priority"),
               "reply": _l("Reply"), "status": _l("Status")}
STATUS_LABELS = {"pending": _l("Mark as waiting on the customer"), "resolved": _l("Resolve the ticket")}


@bp.before_request
@role_required("cm")
def _agents_only():
    """Every macro route is for signed-in agents (cm and above)."""


def _me():
    return current_user._get_current_object()


def _page(editing=None, error=None, status=200):
    return render_template(
        "replies/macros.html", macros=macros.visible(_me()), editing=editing, error=error,
        teams=all_teams(), agents=sla_board.assignable_agents(), priorities=PRIORITIES,
        statuses=STATUS_LABELS), status


@bp.route("")
def index():
    macro_id = parse_id(request.args.get("macro", ""))
    editing = next((m for m in macros.visible(_me()) if m.id == macro_id), None)
    return _page(editing)


@bp.route("", methods=["POST"])
def save():
    form = request.form
    macro_id = parse_id(form.get("macro_id", ""))
    try:
        macros.save(_me(), clock_now(), macro_id=macro_id, name=form.get("name", ""),
                    team_id=parse_id(form.get("team_id", "")), reply=form.get("reply", ""),
                    tags=[t for t in form.get("tags", "").split(",") if t.strip()],
                    priority=form.get("priority") or None, assign=form.get("assign") or None,
                    status=form.get("status") or None)
    except DeskError as exc:
        db.session.rollback()
        return _page(error=str(exc), status=exc.status if exc.status < 500 else 400)
    flash(_("Macro saved."), "info")
    return redirect(url_for("macros.index"))


@bp.route("/<int:macro_id>/delete", methods=["POST"])
def delete(macro_id):
    macros.delete(_me(), macro_id, clock_now())
    flash(_("Macro deleted."), "info")
    return redirect(url_for("macros.index"))


@bp.route("/preview")
def preview():
    """What the chosen macro would do to the ticket (an empty answer when none is chosen)."""
    macro_id = parse_id(request.args.get("macro", ""))
    ticket_id = parse_id(request.args.get("ticket", "")) or 0
    if macro_id is None:
        return ""
    seen = macros.preview(macro_id, ticket_id, _me())
    return render_template("replies/_macro_preview.html", preview=seen, macro_id=macro_id,
                           ticket_id=ticket_id, step_labels=STEP_LABELS, statuses=STATUS_LABELS)


@bp.route("/<int:macro_id>/run", methods=["POST"])
def run(macro_id):
    ticket_id = parse_id(request.form.get("ticket", "")) or 0
    macros.run(macro_id, ticket_id, _me(), clock_now())
    response = make_response("", 204)
    response.headers["HX-Refresh"] = "true"  # thread, props and timeline all changed
    return response
