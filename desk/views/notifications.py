"""The notification centre: the user's notifications, mark read, and the live unread badge."""
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from desk.core.clock import now as clock_now
from desk.notify import centre

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("")
@login_required
def index():
    return render_template("notify/index.html", items=centre.recent(current_user.id),
                           unread=centre.unread_count(current_user.id))


@bp.route("/badge")
@login_required
def badge():
    """The bell's contents (polled every 15 s by base.html); never 286: counts change."""
    response = render_template("notify/_badge.html", unread=centre.unread_count(current_user.id))
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id):
    """Mark one of the user's notifications read (someone else's is silently left alone)."""
    centre.mark_read(current_user.id, notification_id, clock_now())
    return _back()


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    centre.mark_read(current_user.id, None, clock_now())
    return _back()


def _back():
    if request.headers.get("HX-Request"):
        return render_template("notify/_list.html", items=centre.recent(current_user.id),
                               unread=centre.unread_count(current_user.id))
    return redirect(url_for("notifications.index"))
