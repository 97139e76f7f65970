"""Escalation queues (leads: level 1; SMMs: level 2 and all), the ticket's escalation panel,
crisis incident pages and the rules editor."""
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.escalation import escalations as service
from desk.escalation import incidents
from desk.escalation.crisis import incidents_for
from desk.escalation.settings import EDITABLE, current_settings, save_settings
from desk.inbox.tickets import Ticket
from desk.views.access import audit_actor, role_required

bp = Blueprint("escalations", __name__)

REASON_LABELS, LEVEL_LABELS = service.REASON_LABELS, service.LEVEL_LABELS
STATES = ("open", "acknowledged", "resolved")


class EscalateForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=[(r, REASON_LABELS[r]) for r in service.MANUAL_REASONS])
    level = SelectField(_l("Escalate to"), coerce=int, default=2,
                        choices=[(2, LEVEL_LABELS[2]), (1, LEVEL_LABELS[1])])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ResolveForm(FlaskForm):
    note = TextAreaField(_l("Resolution note"), validators=[DataRequired(), Length(max=2000)])


class ReplyAllForm(FlaskForm):
    text = TextAreaField(_l("Reply to every ticket"), validators=[DataRequired(), Length(max=8000)])
    reviewed = BooleanField(_l("I have reviewed this reply"), validators=[DataRequired()])


class RulesForm(FlaskForm):
    breach_level1 = BooleanField(_l("First-response breach escalates to the team lead"))
    breach_level2_minutes = IntegerField(_l("Minutes after a breach before the SMM is called (0 = off)"), validators=[NumberRange(0, 1440)])
    ack_minutes = IntegerField(_l("Minutes to acknowledge before reminding (level 1 climbs)"), validators=[NumberRange(1, 1440)])
    vip_level2 = BooleanField(_l("A complaint from a VIP goes to the SMM"))
    follower_threshold = IntegerField(_l("A complaint from an account with this many followers goes to the SMM (0 = off)"), validators=[NumberRange(0, 10**9)])
    keywords_enabled = BooleanField(_l("Legal and press keywords go to the SMM"))
    keywords = TextAreaField(_l("Keywords (comma-separated, Spanish and English)"), validators=[Length(max=5000)])
    crisis_enabled = BooleanField(_l("Detect crises"))
    crisis_burst = IntegerField(_l("Similar negative messages that make a crisis"), validators=[NumberRange(2, 1000)])
    crisis_window_minutes = IntegerField(_l("Within minutes"), validators=[NumberRange(1, 1440)])
    crisis_similarity = IntegerField(_l("Similarity (50-100)"), validators=[NumberRange(50, 100)])
    crisis_approval = BooleanField(_l("During a crisis, public replies need SMM approval"))


def _me():
    return current_user._get_current_object()


def _viewer_level(requested: str | None) -> int | None:
    """Leads see level 1 only; SMMs see level 2 by default, or all."""
    if not current_user.has_role("smm"):
        return 1
    return {"1": 1, "all": None}.get(requested or "", 2)


@bp.route("/escalations")
@role_required("lead")
def index():
    state = request.args.get("state", "open")
    state = state if state in STATES else "open"
    level = _viewer_level(request.args.get("level"))
    counts = service.counts(level)
    is_smm = current_user.has_role("smm")
    response = make_response(render_template(
        "escalation/index.html", rows=service.queue(level, state), state=state, level=level,
        counts=counts, resolve_form=ResolveForm(), now=clock_now(),
        held=incidents.held_replies() if is_smm else [],
        incidents=incidents.recent_incidents(10) if is_smm else []))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/escalations/<int:escalation_id>/acknowledge", methods=["POST"])
@role_required("lead")
def acknowledge(escalation_id):
    escalation = service.acknowledge(escalation_id, _me(), clock_now())
    return _after_action(escalation)


@bp.route("/escalations/<int:escalation_id>/resolve", methods=["POST"])
@role_required("lead")
def resolve(escalation_id):
    form = ResolveForm()
    note = form.note.data if form.validate_on_submit() else ""
    escalation = service.resolve(escalation_id, _me(), note, clock_now())
    return _after_action(escalation)


def _after_action(escalation):
    if request.headers.get("HX-Request"):
        if request.form.get("from") == "panel":
            return _panel(escalation.ticket)
        return render_template("escalation/_row.html", e=escalation, now=clock_now(),
                               resolve_form=ResolveForm())
    return redirect(request.referrer or url_for("escalations.index"))


@bp.route("/tickets/<int:ticket_id>/escalation", methods=["GET", "POST"])
@role_required("cm")
def ticket_panel(ticket_id):
    """The ticket's escalation panel (fragment); POST escalates and returns it updated."""
    ticket = db.get_or_404(Ticket, ticket_id)
    form = EscalateForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _panel(ticket, form), 400
        service.escalate(ticket.id, form.reason.data, form.level.data, form.note.data or "",
                         clock_now(), user_id=current_user.id)
        return _panel(ticket)
    return _panel(ticket, form)


def _panel(ticket, form=None):
    return render_template("escalation/_panel.html", ticket=ticket,
                           escalations=service.for_ticket(ticket.id),
                           held=incidents.held_for_ticket(ticket.id),
                           incidents=incidents_for(ticket.id), form=form or EscalateForm(formdata=None),
                           can_handle=lambda e: service.can_handle(current_user, e.level),
                           resolve_form=ResolveForm(formdata=None), now=clock_now())


@bp.route("/escalations/incidents/<int:incident_id>")
@role_required("smm")
def incident(incident_id):
    view = incidents.incident_view(incident_id)
    return render_template("escalation/incident.html", v=view, reply_form=ReplyAllForm(),
                           resolve_form=ResolveForm(), now=clock_now())


@bp.route("/escalations/incidents/<int:incident_id>/reply", methods=["POST"])
@role_required("smm")
def incident_reply(incident_id):
    form = ReplyAllForm()
    if not form.validate_on_submit():
        flash(_("Write the reply and tick that you reviewed it."), "error")
    else:
        sent = incidents.reply_to_all(incident_id, _me(), form.text.data, clock_now())
        flash(_("Reply sent to %(n)s tickets.", n=len(sent)), "info")
    return redirect(url_for("escalations.incident", incident_id=incident_id))


@bp.route("/escalations/incidents/<int:incident_id>/approval", methods=["POST"])
@role_required("smm")
def incident_approval(incident_id):
    required = request.form.get("required") == "1"
    incidents.set_approval(incident_id, _me(), required, clock_now())
    return redirect(url_for("escalations.incident", incident_id=incident_id))


@bp.route("/escalations/incidents/<int:incident_id>/resolve", methods=["POST"])
@role_required("smm")
def incident_resolve(incident_id):
    form = ResolveForm()
    incidents.resolve_incident(incident_id, _me(), form.note.data if form.validate_on_submit() else "",
                               clock_now())
    flash(_("Incident resolved."), "info")
    return redirect(url_for("escalations.incident", incident_id=incident_id))


@bp.route("/escalations/replies/<int:message_id>/<decision>", methods=["POST"])
@role_required("smm")
def decide_reply(message_id, decision):
    """Approve (release for delivery) or reject a reply held during a crisis."""
    if decision == "approve":
        message = incidents.approve_reply(message_id, _me(), clock_now())
    elif decision == "reject":
        message = incidents.reject_reply(message_id, _me(), request.form.get("note", ""), clock_now())
    else:
        abort(404)
    if request.headers.get("HX-Request"):
        return render_template("escalation/_held.html", m=message)
    return redirect(request.referrer or url_for("escalations.index"))


@bp.route("/escalations/rules", methods=["GET", "POST"])
@role_required("smm")
def rules():
    form = RulesForm(obj=current_settings())
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in EDITABLE}
        save_settings(values, current_user.id, clock_now(), audit_actor())
        flash(_("Escalation rules saved."), "info")
        return redirect(url_for("escalations.rules"))
    return render_template("escalation/rules.html", form=form)
