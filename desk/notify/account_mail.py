"""Mails that carry an account link (password reset, invitation), each in its reader's
language; the link's token is made here, in the job, so it is kept nowhere but in the mail."""
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from desk.accounts import audit
from desk.accounts.passwords import LINK_LIFETIME, issue_link
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.notify.mailer import send_mail

PATHS = {"reset": "/password/reset/", "invite": "/invitation/"}


def mail_password_link(user_id: int, purpose: str) -> bool:
    """Mail the user a new reset or invitation link (earlier ones void); False when the user
    is gone or inactive or mail is not configured. Commits the link before sending."""
    user = db.session.get(User, user_id)
    if user is None or not user.active or purpose not in PATHS:
        return False
    now = clock_now()
    raw = issue_link(user, purpose, now)
    audit.record("user.link_mailed", actor="system", at=now, object_type="user",
                 object_id=user.id,
                 data={"user_id": user.id, "purpose": purpose})
    db.session.commit()
    link = f"{current_app.config['BASE_URL'].rstrip('/')}{PATHS[purpose]}{raw}"
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject, body = _compose(user, purpose, link)
    return send_mail([user.email], subject, body)


def _compose(user: User, purpose: str, link: str) -> tuple[str, str]:
    """(subject, plain-text body) in the current locale."""
    if purpose == "reset":
        minutes = int(LINK_LIFETIME["reset"].total_seconds() // 60)
        return (_("[desk] Choose a new password"), "\n".join([
            _("Hello %(name)s,", name=user.first_name), "",
            _("Someone (we hope you) asked to reset your desk password. Follow this link to "
              "choose a new one; it works once, for %(minutes)d minutes:", minutes=minutes),
            "", link, "",
            _("If it was not you, ignore this mail: your password stays as it is.")]))
    days = LINK_LIFETIME["invite"].days
    return (_("[desk] You are invited to the desk"), "\n".join([
        _("Hello %(name)s,", name=user.first_name), "",
        _("You have been given an account on the desk. Follow this link to choose your "
          "password; it works once, for %(days)d days:", days=days),
        "", link, "",
        _("Your sign-in e-mail is %(email)s.", email=user.email)]))
