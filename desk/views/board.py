"""The SLA board for team leads: what is breached, what is about to breach, who is overloaded."""
from flask import Blueprint, make_response, render_template, request
from flask_login import current_user

from desk.core.clock import now as clock_now
from desk.core.errors import NotFound
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.inbox.actions import assign
from desk.inbox.tickets import Ticket
from desk.routing.teams import team_loads
from desk.sla import board as sla_board
from desk.views.access import role_required

bp = Blueprint("board", __name__, url_prefix="/board")


@bp.before_request
@role_required("lead")
def _leads_only():
    """Every board route is for leads and above."""


def _body(now, status=200):
    board = sla_board.build(now)
    context = {"board": board, "teams": team_loads(board.keyed), "now": now,
               "stamp": sla_board.change_stamp(now), "agents": sla_board.assignable_agents()}
    template = "sla/_board_body.html" if request.headers.get("HX-Request") else "sla/board.html"
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


@bp.route("")
def index():
    return _body(clock_now())


@bp.route("/poll")
def poll():
    """The cheap auto-refresh: 204 while nothing changed, else the new board body."""
    now = clock_now()
    if request.args.get("stamp") == sla_board.change_stamp(now):
        return "", 204
    return _body(now)


@bp.route("/tickets/<int:ticket_id>/assign", methods=["POST"])
def reassign(ticket_id):
    raw = request.form.get("assignee_id", "")
    assignee_id = parse_id(raw)
    if raw and assignee_id is None:
        raise NotFound("no such agent")
    now = clock_now()
    assign(ticket_id, current_user._get_current_object(), assignee_id, now)
    ticket = db.session.get(Ticket, ticket_id)
    return render_template("sla/_board_row.html", ticket=ticket, now=now, saved=True,
                           agents=sla_board.assignable_agents(),
                           section=request.form.get("section", "at_risk"))
