"""API tokens: each user's own (/tokens), and every token for admins (/admin/tokens, in
views/admin.py); both pages share the form and the template."""
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from desk.accounts.tokens import create_api_token, revoke_api_token, scopes_for, tokens_of
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.views.access import audit_actor, role_required

bp = Blueprint("tokens", __name__, url_prefix="/tokens")

SCOPE_LABELS = {
    "read": _l("read: tickets and their SLA clocks"),
    "write:messages": _l("write:messages: bring in messages from other networks"),
    "write:activity": _l("write:activity: customer purchases and visits"),
    "reports": _l("reports: the service report"),
    "write:tickets": _l("write:tickets: reply, note, assign, resolve, tag and escalate"),
    "admin:webhooks": _l("admin:webhooks: the outgoing events' delivery log, and replays"),
    "write:customers": _l("write:customers: edit customers' details and merge customers"),
}
EXPIRY_DAYS = (("30", _l("in 30 days")), ("90", _l("in 90 days")), ("365", _l("in a year")),
               ("", _l("never")))


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=120)])
    user_id = SelectField(_l("Acts for"), coerce=int, choices=[])
    scopes = SelectMultipleField(_l("Scopes"), choices=[], widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    expires = SelectField(_l("Expires"), choices=EXPIRY_DAYS, default="90")


def token_form(user, users=None, blank: bool = False) -> TokenForm:
    """The new-token form: scopes the user may give; `users` (admins) to pick whom it acts for;
    `blank` ignores the request's form data (after a token was made)."""
    form = TokenForm(formdata=None) if blank else TokenForm()
    form.scopes.choices = [(s, SCOPE_LABELS[s]) for s in scopes_for(user)]
    if users is not None:
        form.scopes.choices = [(s, label) for s, label in SCOPE_LABELS.items()]
        form.user_id.choices = [(u.id, f"{u.name} ({u.role})") for u in users]
    else:
        del form.user_id
    if blank or not form.is_submitted():
        form.scopes.data = ["read"]
        if users is not None:
            form.user_id.data = user.id
    return form


def create_from(form: TokenForm, user):
    """Create the token the valid form describes; its secret, or None (errors on the form)."""
    now = clock_now()
    days = form.expires.data
    try:
        _token, secret = create_api_token(
            form.name.data, user, scopes=form.scopes.data or [],
            expires_at=now + timedelta(days=int(days)) if days else None, now=now,
            by=audit_actor())
    except DeskError as exc:
        db.session.rollback()
        form.scopes.errors = [*form.scopes.errors, str(exc)]
        return None
    return secret


def revoke(token_id: int) -> None:
    try:
        revoke_api_token(token_id, clock_now(), audit_actor(), current_user._get_current_object())
    except NotFound:
        abort(404)
    flash(_("Token revoked."), "info")


@bp.route("", methods=["GET", "POST"])
@role_required("cm")
def mine():
    me = current_user._get_current_object()
    form = token_form(me)
    secret = None
    if form.validate_on_submit():
        secret = create_from(form, me)
        if secret:
            form = token_form(me, blank=True)
    return render_template("accounts/tokens.html", tokens=tokens_of(me), form=form,
                           secret=secret, revoke_form=FlaskForm(), now=clock_now(), admin_page=False,
                           scope_labels=SCOPE_LABELS), 200 if not form.errors else 422


@bp.route("/<int:token_id>/revoke", methods=["POST"])
@role_required("cm")
def revoke_mine(token_id):
    if FlaskForm().validate_on_submit():
        revoke(token_id)
    return redirect(url_for("tokens.mine"))
