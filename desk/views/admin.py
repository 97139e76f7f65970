"""Administration: users and roles, API tokens, channels."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from desk.accounts import admin, passwords, twofactor
from desk.accounts import users as auth
from desk.accounts.tokens import tokens_of
from desk.accounts.users import User
from desk.channels.accounts import PLATFORMS, Channel, add_channel
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.views import tokens as token_views
from desk.views.access import audit_actor, role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@role_required("admin")
def _admins_only():
    """Every admin page is for admins."""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _role_choices():
    return [(role, auth.ROLE_LABELS[role]) for role in auth.ROLES]


LANGUAGE_CHOICES = [("", _l("Browser's language")), ("en", "English"), ("es", "Español")]


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=_role_choices)
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    timezone = SelectField(_l("Time zone"))


class EditUserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=_role_choices)
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    timezone = SelectField(_l("Time zone"))


class TwoFactorPolicyForm(FlaskForm):
    roles = MultiCheckboxField(_l("Require two-step sign-in for"), choices=_role_choices,
                               validate_choice=True)


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_role_choices)


def _with_timezones(form):
    from zoneinfo import available_timezones
    form.timezone.choices = sorted(available_timezones())
    return form


class ChannelForm(FlaskForm):
    platform = SelectField(_l("Platform"), choices=[(p, p) for p in PLATFORMS])
    account_id = StringField(_l("Platform account id"), validators=[DataRequired(), Length(max=100)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    handle = StringField(_l("Handle"), validators=[Length(max=120)])


@bp.route("/users", methods=["GET", "POST"])
def users():
    form = _with_timezones(InviteForm())
    if request.method == "GET":
        form.timezone.data = current_user.timezone
    if form.validate_on_submit():
        try:
            user = passwords.invite_user(
                form.email.data, form.name.data, form.role.data, form.locale.data or None,
                form.timezone.data, current_user.id, clock_now(), audit_actor())
        except Conflict:
            form.email.errors.append(_("Someone already has this e-mail."))
        else:
            _mail_link(user.id, "invite")
            flash(_("Invitation sent to %(email)s.", email=user.email), "info")
            return redirect(url_for("admin.users"))
    rows = db.session.scalars(select(User).order_by(User.role, User.name)).all()
    return render_template("accounts/users.html", users=rows, form=form, role_form=RoleForm(),
                           policy_form=TwoFactorPolicyForm(roles=twofactor.required_roles()),
                           ), 422 if form.errors else 200


@bp.route("/users/two-factor", methods=["POST"])
def two_factor_policy():
    form = TwoFactorPolicyForm()
    if form.validate_on_submit():
        twofactor.set_required_roles(form.roles.data, current_user.id, clock_now(),
                                     audit_actor())
        flash(_("Sign-in rules saved."), "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id):
    user = db.get_or_404(User, user_id)
    form = _with_timezones(EditUserForm(obj=user))
    if form.validate_on_submit():
        admin.edit_user(user.id, name=form.name.data, role=form.role.data,
                        locale=form.locale.data or None, timezone=form.timezone.data,
                        actor_id=current_user.id, now=clock_now(), by=audit_actor())
        flash(_("%(name)s saved.", name=user.name), "info")
        return redirect(url_for("admin.users"))
    return render_template("accounts/user_edit.html", user=user, form=form,
                           link_form=FlaskForm()), 422 if form.errors else 200


@bp.route("/users/<int:user_id>/link", methods=["POST"])
def send_link(user_id):
    """Mail a new invitation (no password chosen yet) or a password reset link."""
    user = db.get_or_404(User, user_id)
    if FlaskForm().validate_on_submit() and user.active:
        _mail_link(user.id, "reset" if user.has_password else "invite")
        flash(_("A link was mailed to %(email)s.", email=user.email), "info")
    return redirect(url_for("admin.edit_user", user_id=user.id))


def _mail_link(user_id: int, purpose: str) -> None:
    enqueue_after_commit("notify", "workers.accounts.mail_password_link", user_id, purpose)
    db.session.commit()


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def change_role(user_id):
    db.get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        user = admin.change_role(user_id, form.role.data, current_user.id, clock_now(),
                                 audit_actor())
        flash(_("%(name)s is now %(role)s.", name=user.name, role=auth.ROLE_LABELS[user.role]),
              "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def toggle_active(user_id):
    user = db.get_or_404(User, user_id)
    try:
        admin.set_active(user.id, not user.active, current_user.id, clock_now(), audit_actor())
    except admin.SelfDeactivation:
        flash(_("You cannot deactivate yourself."), "error")
    return redirect(url_for("admin.users"))


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    """Every token; an admin makes one for anybody (scopes capped by that person's role)."""
    people = db.session.scalars(select(User).where(User.active.is_(True))
                                .order_by(User.name)).all()
    me = current_user._get_current_object()
    form = token_views.token_form(me, people)
    secret = None
    if form.validate_on_submit():
        owner = db.session.get(User, form.user_id.data)
        secret = token_views.create_from(form, owner)
        if secret:
            form = token_views.token_form(me, people, blank=True)
    return render_template("accounts/tokens.html", tokens=tokens_of(None), form=form,
                           secret=secret, revoke_form=FlaskForm(), now=clock_now(), admin_page=True,
                           scope_labels=token_views.SCOPE_LABELS), 200 if not form.errors else 422


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke_token(token_id):
    if FlaskForm().validate_on_submit():
        token_views.revoke(token_id)
    return redirect(url_for("admin.tokens"))


@bp.route("/channels", methods=["GET", "POST"])
def channels():
    form = ChannelForm()
    if form.validate_on_submit():
        channel = add_channel(form.platform.data, form.account_id.data, form.name.data,
                              form.handle.data or None, by=audit_actor(), now=clock_now())
        flash(_("Channel %(name)s connected.", name=channel.label), "info")
        return redirect(url_for("admin.channels"))
    rows = db.session.scalars(select(Channel).order_by(Channel.platform, Channel.name)).all()
    return render_template("channels/index.html", channels=rows, form=form)
