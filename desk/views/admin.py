"""Administration: users and roles, API tokens, channels."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from desk.accounts import admin, passwords, twofactor
from desk.accounts import users as auth
from desk.accounts.tokens import tokens_of
from desk.accounts.users import User, desk_timezone
from desk.channels import accounts as channel_accounts
from desk.channels import whatsapp
from desk.channels.accounts import MAX_TOKEN_CHARS, PLATFORMS, Channel
from desk.channels.whatsapp import CATEGORIES, MAX_BODY
from desk.core.clock import now as clock_now
from desk.core.errors import Conflict, DeskError
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
    # Never filled back in: a saved token is shown only as its last four characters.
    access_token = PasswordField(_l("Access token"), validators=[Length(max=MAX_TOKEN_CHARS)])


class ChannelEditForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    handle = StringField(_l("Handle"), validators=[Length(max=120)])
    business_account_id = StringField(_l("WhatsApp Business Account id"), validators=[Length(max=100)])


class TemplateForm(FlaskForm):
    """A WhatsApp template entered by hand, as it was approved on the platform."""

    name = StringField(_l("Template name"), validators=[DataRequired(), Length(max=512)])
    language = StringField(_l("Language code"), validators=[DataRequired(), Length(max=15)],
                           description=_l("As on WhatsApp: es, es_MX, en_US, pt_BR…"))
    category = SelectField(_l("Category"), choices=[(c, c.title()) for c in CATEGORIES])
    body = TextAreaField(_l("Body"), validators=[DataRequired(), Length(max=MAX_BODY)],
                         description=_l("Parameters as {{1}}, {{2}}… the agent fills them in."))
    for_surveys = BooleanField(_l("Use for satisfaction surveys outside the 24-hour window"))


class ChannelTokenForm(FlaskForm):
    access_token = PasswordField(_l("New access token"),
                                 validators=[DataRequired(), Length(max=MAX_TOKEN_CHARS)])
    # X OAuth 2.0 user tokens: with it the desk refreshes the token before it expires.
    refresh_token = PasswordField(_l("Refresh token (X)"), validators=[Length(max=MAX_TOKEN_CHARS)])


@bp.route("/users", methods=["GET", "POST"])
def users():
    form = _with_timezones(InviteForm())
    if request.method == "GET":
        form.timezone.data = desk_timezone()
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
        try:
            channel = channel_accounts.add_channel(
                form.platform.data, form.account_id.data, form.name.data,
                form.handle.data or None, form.access_token.data or None, by=audit_actor(),
                now=clock_now())
        except Conflict:
            form.account_id.errors.append(_("This account is connected already: open it below "
                                            "to edit it or give it a new token."))
        except DeskError as exc:
            form.access_token.errors.append(str(exc))
        else:
            flash(_("Channel %(name)s connected.", name=channel.label), "info")
            return redirect(url_for("admin.channel", channel_id=channel.id))
    rows = db.session.scalars(select(Channel).order_by(Channel.active.desc(), Channel.platform,
                                                       Channel.name)).all()
    return render_template("channels/index.html", channels=rows, form=form,
                           webhooks=_webhooks()), 422 if form.errors else 200


@bp.route("/channels/<int:channel_id>", methods=["GET", "POST"])
def channel(channel_id):
    """One channel: edit, rotate the token, test the connection, disconnect, set-up steps."""
    row = db.get_or_404(Channel, channel_id)
    form = ChannelEditForm(obj=row)
    if form.validate_on_submit():
        try:
            channel_accounts.edit_channel(row.id, form.name.data, form.handle.data or None,
                                          audit_actor(), clock_now(),
                                          business_account_id=form.business_account_id.data)
        except DeskError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(_("%(name)s saved.", name=row.label), "info")
            return redirect(url_for("admin.channel", channel_id=row.id))
    return channel_page(row, form=form)


def channel_page(row, form=None, token_form=None, template_form=None):
    """A channel's page, with the forms' errors when one was refused (then 422)."""
    form = form or ChannelEditForm(obj=row, formdata=None)
    token_form = token_form or ChannelTokenForm(formdata=None)
    status = 422 if form.errors or token_form.errors or (template_form and template_form.errors) else 200
    return render_template("channels/channel.html", channel=row, form=form,
                           token_form=token_form, action_form=FlaskForm(),
                           webhooks=_webhooks(), templates=whatsapp.templates(row.id),
                           template_form=template_form or TemplateForm(formdata=None)), status


@bp.route("/channels/<int:channel_id>/token", methods=["POST"])
def channel_token(channel_id):
    row = db.get_or_404(Channel, channel_id)
    token_form = ChannelTokenForm()
    if token_form.validate_on_submit():
        try:
            channel_accounts.set_token(row.id, token_form.access_token.data, audit_actor(),
                                       clock_now(),
                                       refresh_token=token_form.refresh_token.data or None)
        except DeskError as exc:
            token_form.access_token.errors.append(str(exc))
        else:
            flash(_("New token saved for %(name)s (ending %(last4)s).", name=row.label,
                    last4=row.token_hint), "info")
            return redirect(url_for("admin.channel", channel_id=row.id))
    return channel_page(row, token_form=token_form)


@bp.route("/channels/<int:channel_id>/test", methods=["POST"])
def channel_test(channel_id):
    row = db.get_or_404(Channel, channel_id)
    if FlaskForm().validate_on_submit():
        try:
            channel_accounts.test_connection(row.id, audit_actor(), clock_now(),
                                             current_app.config)
        except DeskError as exc:
            flash(str(exc), "error")
        else:
            if row.check_ok:
                flash(_("Connection works: the platform says this is %(who)s.",
                        who=row.check_detail), "info")
            else:
                flash(_("Connection test failed: %(answer)s", answer=row.check_detail), "error")
    return redirect(url_for("admin.channel", channel_id=row.id))


@bp.route("/channels/<int:channel_id>/disconnect", methods=["POST"])
def channel_disconnect(channel_id):
    row = db.get_or_404(Channel, channel_id)
    if FlaskForm().validate_on_submit():
        channel_accounts.disconnect(row.id, audit_actor(), clock_now())
        flash(_("%(name)s disconnected; its token was deleted.", name=row.label), "info")
    return redirect(url_for("admin.channels"))


def _webhooks() -> dict:
    """What an admin pastes into each platform's dashboard."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return {"meta": f"{base}/webhooks/meta", "x": f"{base}/webhooks/x",
            "verify_token": current_app.config.get("META_VERIFY_TOKEN") or ""}
