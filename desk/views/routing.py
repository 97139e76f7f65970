"""Routing settings (leads and up: teams, members, modes, capacity, skills, idle time) and every
agent's availability switch; availability follows sign-in, sign-out and activity."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, user_logged_in, user_logged_out
from sqlalchemy import select

from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.routing import availability, out_of_hours, teams
from desk.routing.models import STATUSES, Agent, Team
from desk.sla.policies import BusinessCalendar
from desk.views.access import audit_actor, role_required

bp = Blueprint("routing", __name__, url_prefix="/routing")
STATUS_LABELS = {"online": _l("Online"), "away": _l("Away"), "offline": _l("Offline")}
MODE_LABELS = {"off": _l("Off (claim by hand)"), "round_robin": _l("Round robin"),
               "least_loaded": _l("Least loaded")}
# Requests a page makes by itself (polls, heartbeats): they are not the agent being active.
AUTOMATIC = {"static", "board.poll", "inbox.poll", "notifications.badge", "tickets.heartbeat",
             "tickets.typing"}


def _ids(name: str) -> list[int]:
    values = [parse_id(v) for v in request.form.getlist(name)]
    if any(v is None for v in values):
        raise DeskError(_("Unknown choice."))
    return values


def _agents() -> list[User]:
    return list(db.session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(("cm", "lead", "smm"))).order_by(User.name)))


def _page(status=200, team=None, agent=None, error=None, ooh=None):
    return render_template(
        "routing/settings.html", teams=teams.teams(), editing=team, agent=agent, error=error,
        ooh_rows=out_of_hours.settings(), ooh=ooh, ooh_defaults=out_of_hours.DEFAULT_TEXTS,
        calendars=list(db.session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name))),
        users=_agents(), agent_rows={a.user_id: a for a in db.session.scalars(select(Agent))},
        channels=list(db.session.scalars(select(Channel).order_by(Channel.name))),
        settings=availability.routing_settings(), modes=MODE_LABELS,
        status_labels=STATUS_LABELS), status


@bp.route("")
@role_required("lead")
def settings():
    team = db.session.get(Team, parse_id(request.args.get("team", "")) or 0)
    agent = db.session.get(User, parse_id(request.args.get("agent", "")) or 0)
    ooh = db.session.get(Channel, parse_id(request.args.get("ooh", "")) or 0)
    return _page(team=team, agent=agent, ooh=ooh)


@bp.route("/out-of-hours/<int:channel_id>", methods=["POST"])
@role_required("lead")
def save_out_of_hours(channel_id):
    form = request.form
    try:
        out_of_hours.save(channel_id, active=form.get("active") == "on",
                          calendar_id=parse_id(form.get("calendar_id", "")),
                          text_es=form.get("text_es", ""), text_en=form.get("text_en", ""),
                          public_too=form.get("public_too") == "on", by=audit_actor(),
                          now=clock_now())
    except DeskError as exc:
        db.session.rollback()
        return _page(exc.status if exc.status < 500 else 400, error=str(exc),
                     ooh=db.session.get(Channel, channel_id))
    flash(_("Out-of-hours reply saved."), "info")
    return redirect(url_for("routing.settings") + "#out-of-hours")


@bp.route("/teams", methods=["POST"])
@role_required("lead")
def save_team():
    team_id = parse_id(request.form.get("team_id", ""))
    try:
        team = teams.save_team(
            current_user._get_current_object(), clock_now(), team_id=team_id,
            name=request.form.get("name", ""), channel_ids=_ids("channel_ids"),
            languages=teams.parse_languages(request.form.get("languages", "")),
            mode=request.form.get("mode", "off"),
            return_on_offline=request.form.get("return_on_offline") == "on",
            member_ids=_ids("member_ids"))
    except DeskError as exc:
        db.session.rollback()
        return _page(400 if exc.status < 500 else exc.status,
                     team=db.session.get(Team, team_id or 0), error=str(exc))
    flash(_("Team %(name)s saved.", name=team.name), "info")
    return redirect(url_for("routing.settings"))


@bp.route("/teams/<int:team_id>/delete", methods=["POST"])
@role_required("lead")
def delete_team(team_id):
    teams.delete_team(current_user._get_current_object(), team_id, clock_now())
    flash(_("Team deleted."), "info")
    return redirect(url_for("routing.settings"))


@bp.route("/agents/<int:user_id>", methods=["POST"])
@role_required("lead")
def save_agent(user_id):
    try:
        capacity = int(request.form.get("capacity", ""))
    except ValueError:
        capacity = -1
    try:
        teams.save_agent(current_user._get_current_object(), clock_now(), user_id,
                         capacity=capacity, channel_ids=_ids("channel_ids"),
                         languages=teams.parse_languages(request.form.get("languages", "")))
    except DeskError as exc:
        db.session.rollback()
        return _page(400 if exc.status < 500 else exc.status,
                     agent=db.session.get(User, user_id), error=str(exc))
    flash(_("Agent saved."), "info")
    return redirect(url_for("routing.settings"))


@bp.route("/settings", methods=["POST"])
@role_required("lead")
def save_settings():
    try:
        minutes = int(request.form.get("away_after_minutes", ""))
    except ValueError:
        minutes = 0
    try:
        teams.save_settings(current_user._get_current_object(), clock_now(), minutes)
    except DeskError as exc:
        db.session.rollback()
        return _page(400, error=str(exc))
    flash(_("Routing settings saved."), "info")
    return redirect(url_for("routing.settings"))


@bp.route("/status", methods=["POST"])
@role_required("cm")
def set_status():
    """The agent's own switch (a lead may pass user_id to set someone else's)."""
    status = request.form.get("status", "")
    if status not in STATUSES:
        raise DeskError(_("Unknown status."))
    user_id = parse_id(request.form.get("user_id", "")) or current_user.id
    availability.set_status(user_id, status, current_user._get_current_object(), clock_now())
    if request.headers.get("HX-Request") and user_id == current_user.id:
        return render_template("routing/_availability.html", my_status=status)
    return redirect(request.referrer if request.referrer and request.referrer.startswith(
        request.host_url) else url_for("routing.settings"))


def agent_status(user_id: int) -> str:
    """A user's availability, read once per request for every user."""
    if "agent_statuses" not in g:
        g.agent_statuses = availability.statuses()
    return g.agent_statuses.get(user_id, "offline")


def by_availability(people) -> list[tuple[str, list]]:
    """(status, people) for the statuses anyone has, online first, names in their order."""
    groups = {status: [] for status in STATUSES}
    for person in people:
        groups[agent_status(person.id)].append(person)
    return [(status, group) for status, group in groups.items() if group]


@bp.app_context_processor
def _availability_helpers():
    return {"agent_status": agent_status, "status_labels": STATUS_LABELS, "mode_labels": MODE_LABELS,
            "by_availability": by_availability}


@bp.before_app_request
def _seen():
    """A request the agent made (not a poll) counts as activity for the idle rule."""
    if request.endpoint not in AUTOMATIC and current_user and current_user.is_authenticated:
        availability.touch(current_user.id, clock_now())


@user_logged_in.connect
def _online_at_sign_in(_app, user, **_):
    """An agent with routing settings is online once signed in."""
    if db.session.get(Agent, user.id) is not None:
        availability.set_status(user.id, "online", user, clock_now())


@user_logged_out.connect
def _offline_at_sign_out(_app, user, **_):
    if user is not None and user.is_authenticated and db.session.get(Agent, user.id) is not None:
        availability.set_status(user.id, "offline", user, clock_now())
