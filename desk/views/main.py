"""Home (each role's first page), preferences and the health check."""
from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import text
from wtforms import SelectField
from wtforms.validators import DataRequired

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.queue import redis_ok
from desk.notify import preferences as notify_preferences
from desk.views.access import audit_actor

bp = Blueprint("main", __name__)

# Where each role starts its day; the first page that exists wins.
ROLE_HOME = {
    "cm": ["inbox.index"],
    "lead": ["board.index", "inbox.index"],
    "smm": ["escalations.index", "reports.service", "inbox.index"],
    "admin": ["admin.users"],
}


@bp.route("/")
@login_required
def home():
    for endpoint in ROLE_HOME[current_user.role]:
        if endpoint in current_app.view_functions:
            return redirect(url_for(endpoint))
    return redirect(url_for("main.preferences"))


TOPIC_LABELS = {"sla": _l("SLA warnings and breaches"), "escalation": _l("Escalations"),
                "approval": _l("Replies waiting for approval (crisis)"),
                "mention": _l("Mentions in notes"),
                "channels": _l("Channels failing or tokens about to expire"),
                "weekly_report": _l("The weekly service report")}
WAY_LABELS = {"app": _l("In the desk"), "mail": _l("By e-mail")}


class PreferencesForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[("en", "English"), ("es", "Español")], validators=[DataRequired()])
    timezone = SelectField(_l("Timezone"), validators=[DataRequired()])


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    from zoneinfo import available_timezones
    form = PreferencesForm(obj=current_user)
    form.timezone.choices = sorted(available_timezones())
    if form.validate_on_submit():
        current_user.locale = form.locale.data
        current_user.timezone = form.timezone.data
        on = {tuple(value.partition(".")[::2]) for value in request.form.getlist("notify")}
        try:  # one transaction: the choices commit the language and zone with them
            notify_preferences.set_choices(current_user.id, on, by=audit_actor(), now=clock_now())
        except DeskError:
            db.session.rollback()
            raise
        flash(_("Preferences saved."), "info")
        return redirect(url_for("main.preferences"))
    return render_template("accounts/preferences.html", form=form, topics=TOPIC_LABELS,
                           ways=WAY_LABELS, notify=notify_preferences.choices(current_user))


@bp.route("/favicon.ico")
def favicon():
    """For clients that ask for /favicon.ico without reading the page's icon link."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.route("/healthz")
def health():
    """200 when the database and Redis answer; 503 naming what is down."""
    checks = {"database": _database_ok(), "redis": redis_ok()}
    status = 200 if all(checks.values()) else 503
    return jsonify({"status": "ok" if status == 200 else "degraded", **checks}), status


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:  # any driver error means "down" to a health check
        current_app.logger.exception("health check: database")
        return False
