"""WhatsApp templates: admins keep a number's templates on its channel page (sync from the
platform, enter by hand, pick the survey template, delete); agents fill one in the composer
once the customer's 24-hour window has closed."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from desk.channels import whatsapp
from desk.channels.accounts import Channel
from desk.channels.base import SendError
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.inbox.tickets import Ticket
from desk.views.access import audit_actor, role_required
from desk.views.admin import TemplateForm, channel_page

bp = Blueprint("whatsapp", __name__)


def _channel(channel_id: int) -> Channel:
    row = db.get_or_404(Channel, channel_id)
    if row.platform != "whatsapp":
        abort(404)
    return row


@bp.route("/admin/channels/<int:channel_id>/templates", methods=["POST"])
@role_required("admin")
def add_template(channel_id):
    row = _channel(channel_id)
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            whatsapp.save_template(row.id, audit_actor(), clock_now(), name=form.name.data,
                                   language=form.language.data, body=form.body.data,
                                   category=form.category.data, for_surveys=form.for_surveys.data)
        except DeskError as exc:
            form.body.errors.append(str(exc))
        else:
            flash(_("Template %(name)s saved.", name=form.name.data.strip()), "info")
            return redirect(url_for("admin.channel", channel_id=row.id, _anchor="templates"))
    return channel_page(row, template_form=form)


@bp.route("/admin/channels/<int:channel_id>/templates/sync", methods=["POST"])
@role_required("admin")
def sync_templates(channel_id):
    row = _channel(channel_id)
    if FlaskForm().validate_on_submit():
        try:
            counts = whatsapp.sync_templates(row.id, audit_actor(), clock_now(), current_app.config)
        except (DeskError, SendError) as exc:
            flash(_("The templates could not be taken from WhatsApp: %(answer)s", answer=str(exc)), "error")
        else:
            flash(_("Templates taken from WhatsApp: %(added)s added, %(updated)s changed, "
                    "%(removed)s removed.", **counts), "info")
    return redirect(url_for("admin.channel", channel_id=row.id, _anchor="templates"))


@bp.route("/admin/channels/<int:channel_id>/templates/<int:template_id>/<action>", methods=["POST"])
@role_required("admin")
def template_action(channel_id, template_id, action):
    """action: "survey" (use for surveys), "no-survey" or "delete"."""
    row = _channel(channel_id)
    if action not in ("survey", "no-survey", "delete"):
        abort(404)
    if FlaskForm().validate_on_submit():
        if action == "delete":
            whatsapp.delete_template(row.id, template_id, audit_actor(), clock_now())
        else:
            whatsapp.set_survey_template(row.id, template_id, action == "survey", audit_actor(),
                                         clock_now())
    return redirect(url_for("admin.channel", channel_id=row.id, _anchor="templates"))


@bp.route("/tickets/<int:ticket_id>/template-fields")
@role_required("cm")
def template_fields(ticket_id):
    """The composer's inputs for one template's parameters, with the body as a preview."""
    ticket = db.get_or_404(Ticket, ticket_id)
    template_id = parse_id(request.args.get("template_id", ""))
    template = None
    if template_id is not None:
        template = whatsapp.template_of(ticket.channel_id, template_id)
    return render_template("inbox/_template_fields.html", template=template)
