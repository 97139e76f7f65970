"""The shared inbox: the page, the list fragment, the cheap poll, bulk actions."""
from flask import Blueprint, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from desk.accounts.users import User
from desk.channels.accounts import KINDS, PLATFORMS, Channel
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.inbox import actions as ticket_actions
from desk.inbox import presence
from desk.inbox import query as inbox_query
from desk.inbox.tickets import PRIORITIES, STATUSES, Tag
from desk.views.access import role_required

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


@bp.before_request
@role_required("cm")
def _agents_only():
    """Every inbox route is for signed-in agents (cm and above)."""


def _list_context(params, now):
    page = inbox_query.page(params, current_user.id, now)
    live = presence.on_tickets([t.id for t in page.tickets], now)
    names = _names({uid for people in live.values() for uid in people})
    stamp = inbox_query.change_stamp(params, now, presence.stamp(now))
    return {"params": params, "page": page, "live": live, "names": names, "stamp": stamp,
            "now": now, "me": current_user.id}


def _names(user_ids) -> dict:
    if not user_ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())


def _fragment(template, context, push=False):
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    if push:
        response.headers["HX-Push-Url"] = url_for("inbox.index", **context["params"].args())
    return response


@bp.route("")
def index():
    """The inbox page; an htmx request (filters, views, search) gets just the list."""
    params = inbox_query.parse_params(request.args)
    now = clock_now()
    context = _list_context(params, now)
    partial = request.headers.get("HX-Request") and not (
        request.headers.get("HX-Boosted") or request.headers.get("HX-History-Restore-Request"))
    if partial:
        return _fragment("inbox/_list.html", context, push=True)
    context["choices"] = _choices()
    return _fragment("inbox/index.html", context)


@bp.route("/list")
def list_fragment():
    """The list fragment (`#inbox-list`); with a cursor, only the next rows."""
    params = inbox_query.parse_params(request.args)
    context = _list_context(params, clock_now())
    return _fragment("inbox/_rows.html" if params.cursor else "inbox/_list.html", context)


@bp.route("/poll")
def poll():
    """204 when nothing moved since `stamp` (a few index reads), else the fresh list."""
    stamp = request.args.get("stamp", "")[:200]
    params = inbox_query.parse_params(request.args, ignore=("stamp",))
    now = clock_now()
    if stamp and stamp == inbox_query.change_stamp(params, now, presence.stamp(now)):
        return "", 204
    return _fragment("inbox/_list.html", _list_context(params, now))


@bp.route("/bulk", methods=["POST"])
def bulk():
    """Assign, tag or resolve the selected tickets; the list reloads itself afterwards."""
    ids = request.form.getlist("ids")
    if not all(parse_id(i) is not None for i in ids):
        raise DeskError(_("Select tickets from the list."))
    action = request.form.get("action", "")
    action, value = {"assign_me": ("assign", "me"), "assign": ("assign", request.form.get("assignee")),
                     "tag": ("tag", request.form.get("tag"))}.get(action, (action, None))
    result = ticket_actions.bulk([int(i) for i in ids], current_user._get_current_object(),
                                 action, value, clock_now())
    response = make_response(render_template("inbox/_bulk_result.html", result=result))
    response.headers["HX-Trigger"] = "inboxChanged"
    return response


def _choices() -> dict:
    """Options for the filter bar and the bulk bar."""
    return {
        "channels": db.session.scalars(select(Channel).order_by(Channel.platform, Channel.name)).all(),
        "platforms": PLATFORMS, "kinds": KINDS, "statuses": STATUSES, "priorities": PRIORITIES,
        "tags": db.session.scalars(select(Tag.name).order_by(Tag.name).limit(200)).all(),
        "users": db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name)).all(),
        "languages": ("es", "en"),
    }
