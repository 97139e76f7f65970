"""A person's own account: password change, signed-in sessions, sign out everywhere, and
two-step sign-in."""
import segno
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from desk.accounts import passwords, sessions, twofactor
from desk.accounts.users import session_limits
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.views.access import audit_actor

bp = Blueprint("account", __name__, url_prefix="/account")
# What someone whose role requires 2FA may still reach before setting it up.
BEFORE_TWO_FACTOR = {"account.two_factor", "auth.logout", "static", "main.health",
                     "notifications.badge"}


def require_two_factor():
    """App-wide, before each page: people whose role requires 2FA and who have not set it
    up are sent to set it up (the API, with its tokens, is not a sign-in)."""
    # The endpoint first: a static file or a webhook must not load a user (nor touch the
    # session cookie, which a cached static response would then carry back).
    if request.endpoint in BEFORE_TWO_FACTOR or request.path.startswith(("/api/", "/webhooks/")):
        return None
    if current_user.is_authenticated and twofactor.must_enrol(current_user):
        return redirect(url_for("account.two_factor"))
    return None


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


@bp.route("/security", methods=["GET", "POST"])
@login_required
def security():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            passwords.change_password(current_user, form.current.data, form.password.data,
                                      clock_now(), audit_actor())
        except passwords.WrongPassword as exc:
            form.current.errors.append(str(exc))
        except passwords.WeakPassword as exc:
            form.password.errors.append(str(exc))
        else:
            flash(_("Password changed. Your other sessions are signed out."), "info")
            return redirect(url_for("account.security"))
    rows = sessions.live_sessions(current_user.id, now=clock_now(), **session_limits())
    this_session = sessions.hash_key(current_user.session_key or "")
    return render_template("accounts/security.html", form=form, sessions=rows,
                           this_session=this_session, end_form=FlaskForm()), \
        422 if form.errors else 200


@bp.route("/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    if FlaskForm().validate_on_submit():
        ended = sessions.end_sessions(current_user.id, clock_now(),
                                      keep_key=current_user.session_key)
        db.session.commit()
        flash(ngettext("Signed out of %(num)d other session.",
                       "Signed out of %(num)d other sessions.", ended), "info")
    return redirect(url_for("account.security"))


class ConfirmCodeForm(FlaskForm):
    code = StringField(_l("Code from the app"), validators=[DataRequired(), Length(max=10)])


class PasswordConfirmForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


@bp.route("/two-factor", methods=["GET", "POST"])
@login_required
def two_factor():
    """Set up two-step sign-in (QR code, then a code to confirm), or see its state."""
    now = clock_now()
    form = ConfirmCodeForm()
    if twofactor.enabled(current_user):
        return render_template("accounts/two_factor.html", form=None, off_form=PasswordConfirmForm(),
                               codes_form=FlaskForm(), required=current_user.role in
                               twofactor.required_roles(),
                               left=twofactor.recovery_codes_left(current_user))
    if form.validate_on_submit():
        try:
            codes = twofactor.confirm_enrolment(current_user, form.code.data.strip(), now)
        except twofactor.WrongCode:
            form.code.errors.append(_("That code is not right. Check the phone's time and "
                                      "try the next code."))
        else:
            return render_template("accounts/recovery_codes.html", codes=codes, first=True)
    if not twofactor.pending_secret(current_user):
        twofactor.start_enrolment(current_user)
    secret = twofactor.pending_secret(current_user)
    uri = twofactor.provisioning_uri(current_user, secret)
    return render_template("accounts/two_factor.html", form=form, secret=secret,
                           qr=segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
                           must=twofactor.must_enrol(current_user)), 422 if form.errors else 200


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@login_required
def new_recovery_codes():
    if not (FlaskForm().validate_on_submit() and twofactor.enabled(current_user)):
        return redirect(url_for("account.two_factor"))
    codes = twofactor.regenerate_recovery_codes(current_user, clock_now())
    return render_template("accounts/recovery_codes.html", codes=codes, first=False)


@bp.route("/two-factor/off", methods=["POST"])
@login_required
def two_factor_off():
    form = PasswordConfirmForm()
    if current_user.role in twofactor.required_roles():
        flash(_("Your role requires two-step sign-in; it cannot be turned off."), "error")
    elif form.validate_on_submit():
        try:
            twofactor.disable(current_user, form.password.data, clock_now())
        except twofactor.WrongCode:
            flash(_("The password is not right; two-step sign-in stays on."), "error")
        else:
            flash(_("Two-step sign-in is off."), "info")
    return redirect(url_for("account.two_factor"))
