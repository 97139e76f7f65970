"""Sign in and out, forgotten passwords and invitations: the pages reached without a session."""
from urllib.parse import urlsplit

from authlib.integrations.base_client import OAuthError
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from joserfc.errors import JoseError
from requests import RequestException
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from desk.accounts import passwords, sso, throttle, twofactor
from desk.accounts.users import User, authenticate, sign_in, sign_out
from desk.core.clock import now as clock_now
from desk.core.extensions import db, limiter
from desk.core.queue import enqueue
from desk.views.access import audit_actor

bp = Blueprint("auth", __name__)
SECOND_FACTOR_SECONDS = 300  # from a right password to the code


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me signed in"))


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])


class ForgotForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class ChooseForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def start_session(user: User, remember: bool, method: str = "password",
                  next_url: str | None = None):
    """Sign the user in on a new server-side session; the redirect that follows, with the
    device cookie that exempts this browser from the account-wide sign-in throttle."""
    sign_in(user, remember=remember, ip=request.remote_addr,
            user_agent=request.user_agent.string, now=clock_now(), method=method)
    login_user(user, remember=remember)
    response = redirect(next_url or safe_next(request.args.get("next")) or url_for("main.home"))
    response.set_cookie(
        throttle.DEVICE_COOKIE, throttle.device_cookie(user.email, request.cookies.get(
            throttle.DEVICE_COOKIE)), max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _slowed_down(template: str, form, wait: int):
    """429 with Retry-After: this source must wait before its next try (desk/accounts/throttle)."""
    flash(_("Too many failed attempts. Try again in %(seconds)d seconds.", seconds=wait), "error")
    response = make_response(render_template(template, form=form), 429)
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/login", methods=["GET", "POST"])
# Per address, failures only: a team behind one NAT signs in all at once at nine.
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda r: r.status_code == 401)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("main.home"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form)
    email, source = form.email.data, request.remote_addr or "-"
    trusted = throttle.is_trusted(email, request.cookies.get(throttle.DEVICE_COOKIE))
    now = clock_now().timestamp()
    wait = throttle.wait_seconds(email, source, trusted, now)
    if wait:
        return _slowed_down("accounts/login.html", form, wait)
    user = authenticate(email, form.password.data)
    if user is None:
        throttle.record_failure(email, source, trusted, now)
        flash(_("Wrong e-mail or password."), "error")
        return render_template("accounts/login.html", form=form), 401
    throttle.record_success(email, source)
    return password_proved(user, bool(form.remember.data))


def password_proved(user: User, remember: bool):
    """After a right password (or a reset link): signed in, or on to the code page for
    people with 2FA; half signed in, that page must be finished within five minutes."""
    if not twofactor.enabled(user):
        return start_session(user, remember)
    session["second_factor"] = {"user": user.id, "remember": remember,
                                "until": clock_now().timestamp() + SECOND_FACTOR_SECONDS}
    return redirect(url_for("auth.second_factor", next=safe_next(request.args.get("next"))))


@bp.route("/login/code", methods=["GET", "POST"])
def second_factor():
    """The second step for people with 2FA: a code from their app, or a recovery code."""
    pending = session.get("second_factor") or {}
    now = clock_now()
    user = db.session.get(User, pending["user"]) if pending.get("user") else None
    if user is None or not user.active or pending.get("until", 0) < now.timestamp():
        session.pop("second_factor", None)
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("accounts/second_factor.html", form=form)
    source = (request.remote_addr or "-") + ":code"  # code guesses are counted on their own
    wait = throttle.wait_seconds(user.email, source, True, now.timestamp())
    if wait:
        return _slowed_down("accounts/second_factor.html", form, wait)
    try:
        used = twofactor.verify(user, form.code.data, now)
    except twofactor.WrongCode:
        throttle.record_failure(user.email, source, True, now.timestamp())
        form.code.errors.append(_("That code is not right. Codes change every 30 seconds."))
        return render_template("accounts/second_factor.html", form=form), 401
    throttle.record_success(user.email, source)
    session.pop("second_factor", None)
    if used == "recovery":
        flash(_("You used a recovery code; %(count)d are left. Make new ones on the Security "
                "page if you are running out.", count=twofactor.recovery_codes_left(user)),
              "info")
    return start_session(user, pending.get("remember", False))


@bp.route("/login/sso")
def single_sign_on():
    """Off to the identity provider (OpenID Connect, authorization code flow with a nonce)."""
    client = current_app.extensions.get("oidc")
    if client is None:
        abort(404)
    session["sso_next"] = safe_next(request.args.get("next"))
    callback = current_app.config["BASE_URL"].rstrip("/") + url_for("auth.sso_callback")
    try:
        return client.authorize_redirect(callback)
    except (OAuthError, RequestException, ValueError) as exc:  # the provider is unreachable
        current_app.logger.warning("single sign-on unavailable: %s", exc)
        flash(_("Single sign-on is not answering. Try again, or sign in with your password."),
              "error")
        return redirect(url_for("auth.login"))


@bp.route("/login/sso/callback")
def sso_callback():
    """Back from the provider: Authlib checks the state, fetches the tokens and verifies the
    ID token (signature, issuer, audience, expiry, nonce); then the person signs in."""
    client = current_app.extensions.get("oidc")
    if client is None:
        abort(404)
    try:
        claims = client.authorize_access_token().get("userinfo") or {}
        user = sso.user_for_claims(claims, sso.SsoSettings.from_config(current_app.config),
                                   clock_now())
    except sso.SsoRefused as exc:
        current_app.logger.info("single sign-on refused: %s", exc)
        flash(_("Your %(provider)s account cannot sign in here. Ask an admin to invite you.",
                provider=current_app.config["OIDC_LABEL"]), "error")
        return redirect(url_for("auth.login")), 303
    except (OAuthError, JoseError, RequestException, ValueError, KeyError) as exc:
        current_app.logger.warning("single sign-on failed: %s", exc)
        flash(_("Single sign-on did not complete. Try again."), "error")
        return redirect(url_for("auth.login"))
    return start_session(user, remember=False, method="sso",
                         next_url=session.pop("sso_next", None))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sign_out(current_user, clock_now())
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password():
    form = ForgotForm()
    if form.validate_on_submit():
        user = passwords.request_reset(form.email.data, request.remote_addr, clock_now())
        if user is not None:
            enqueue("notify", "workers.accounts.mail_password_link", user.id, "reset")
        # The same answer whether or not the address has an account: no user oracle.
        flash(_("If %(email)s has an account, a link to choose a new password is on its way.",
                email=form.email.data), "info")
        return redirect(url_for("auth.login"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    return _choose_password(token, "reset")


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token):
    return _choose_password(token, "invite")


def _choose_password(token: str, purpose: str):
    """The page behind a reset or invitation link: choose a password, then signed in. The
    token is in the address, so no page leaks it in a Referer."""
    now = clock_now()
    try:
        user = passwords.link_user(token, purpose, now)
    except passwords.InvalidLink as exc:
        flash(str(exc), "error")
        return redirect(url_for("auth.forgot_password" if purpose == "reset" else "auth.login"))
    form = ChooseForm()
    if form.validate_on_submit():
        try:
            user = passwords.use_link(token, purpose, form.password.data, now, audit_actor())
        except passwords.WeakPassword as exc:
            form.password.errors.append(str(exc))
        else:
            if current_user.is_authenticated:  # whoever was signed in here, the link's owner is now
                logout_user()
            flash(_("Your password is set. Welcome, %(name)s.", name=user.first_name), "info")
            return password_proved(user, remember=False)
    response = make_response(render_template("accounts/choose_password.html", form=form,
                                             user=user, purpose=purpose),
                             422 if form.errors else 200)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
