"""Administration: users and roles, API tokens, channels."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from desk.accounts import admin
from desk.accounts import users as auth
from desk.accounts.tokens import ApiToken, create_api_token, revoke_api_token
from desk.accounts.users import User
from desk.channels.accounts import PLATFORMS, Channel, add_channel
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.views.access import role_required
from desk.views.filters import ROLE_NAMES, role_name

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@role_required("admin")
def _admins_only():
    """Every admin page is for admins."""


class UserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=[(r, ROLE_NAMES[r]) for r in auth.ROLES])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(min=8, max=200)])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[(r, ROLE_NAMES[r]) for r in auth.ROLES])


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=120)])


class ChannelForm(FlaskForm):
    platform = SelectField(_l("Platform"), choices=[(p, p) for p in PLATFORMS])
    account_id = StringField(_l("Platform account id"), validators=[DataRequired(), Length(max=100)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    handle = StringField(_l("Handle"), validators=[Length(max=120)])


@bp.route("/users", methods=["GET", "POST"])
def users():
    form = UserForm()
    if form.validate_on_submit():
        user = auth.create_user(form.email.data, form.name.data, form.password.data, form.role.data)
        flash(_("User %(email)s created.", email=user.email), "info")
        return redirect(url_for("admin.users"))
    rows = db.session.scalars(select(User).order_by(User.role, User.name)).all()
    return render_template("accounts/users.html", users=rows, form=form, role_form=RoleForm())


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def change_role(user_id):
    db.get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        user = admin.change_role(user_id, form.role.data, current_user.id, clock_now())
        flash(_("%(name)s is now %(role)s.", name=user.name, role=role_name(user.role)), "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def toggle_active(user_id):
    user = db.get_or_404(User, user_id)
    try:
        admin.set_active(user.id, not user.active, current_user.id, clock_now())
    except admin.SelfDeactivation:
        flash(_("You cannot deactivate yourself."), "error")
    return redirect(url_for("admin.users"))


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        _token, secret = create_api_token(form.name.data, current_user._get_current_object())
        form = TokenForm(formdata=None)
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("accounts/tokens.html", tokens=rows, form=form, secret=secret,
                           revoke_form=FlaskForm())


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke_token(token_id):
    if FlaskForm().validate_on_submit():
        revoke_api_token(token_id)
        flash(_("Token revoked."), "info")
    return redirect(url_for("admin.tokens"))


@bp.route("/channels", methods=["GET", "POST"])
def channels():
    form = ChannelForm()
    if form.validate_on_submit():
        channel = add_channel(form.platform.data, form.account_id.data, form.name.data,
                              form.handle.data or None)
        flash(_("Channel %(name)s connected.", name=channel.label), "info")
        return redirect(url_for("admin.channels"))
    rows = db.session.scalars(select(Channel).order_by(Channel.platform, Channel.name)).all()
    return render_template("channels/index.html", channels=rows, form=form)
