"""Two-step sign-in: set up with an authenticator app, codes used once, recovery codes, and
roles that require it. Codes are made at the desk's time (clock_now), which the suite's
base-time run moves: the phone and the desk agree on the time in real life."""
import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from desk.accounts import twofactor
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from tests.conftest import PASSWORD


def _code(secret: str) -> str:
    """What the authenticator app shows now (the desk's now)."""
    return pyotp.TOTP(secret).at(clock_now())


def _enrol(client) -> tuple[str, list[str]]:
    """Set up 2FA through the pages; (the seed, the recovery codes shown)."""
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert 'id="totp-qr"' in page and "data:image/svg+xml" in page
    wrong = client.post("/account/two-factor", data={"code": "000000"})
    assert wrong.status_code == 422
    shown = client.post("/account/two-factor", data={"code": _code(secret)})
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", shown.get_data(as_text=True))
    return secret, codes


def _password_step(client, user):
    return client.post("/login", data={"email": user.email, "password": PASSWORD})


def test_set_up_then_sign_in_with_a_code_once_and_with_a_recovery_code_once(app, client,
                                                                          make_user, login):
    user = make_user("cm")
    login(user)
    secret, codes = _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert stored.totp_enabled_at and secret not in stored.totp_secret  # encrypted at rest
    client.post("/logout")
    step = _password_step(client, user)
    assert step.status_code == 302 and "/login/code" in step.headers["Location"]
    assert client.get("/preferences").status_code == 302  # the password alone is not enough
    # The code that confirmed the set-up is spent: the app's next one (within the drift allowed).
    code = pyotp.TOTP(secret).at(clock_now() + timedelta(seconds=30))
    assert client.post("/login/code", data={"code": code}).status_code == 302
    assert client.get("/preferences").status_code == 200
    client.post("/logout")
    _password_step(client, user)
    assert client.post("/login/code", data={"code": code}).status_code == 401  # no replay
    assert client.post("/login/code", data={"code": codes[0].upper()}).status_code == 302
    client.post("/logout")
    _password_step(client, user)
    assert client.post("/login/code", data={"code": codes[0]}).status_code == 401  # spent
    with app.app_context():
        assert twofactor.recovery_codes_left(db.session.get(User, user.id)) == 9


def test_the_code_step_expires_and_cannot_be_reached_without_the_password(app, client, make_user):
    user = make_user("cm")
    assert client.get("/login/code").headers["Location"].endswith("/login")
    with app.app_context():
        db_user = db.session.get(User, user.id)
        twofactor.start_enrolment(db_user)
        secret = twofactor.pending_secret(db_user)
        twofactor.confirm_enrolment(db_user, _code(secret), clock_now())
    _password_step(client, user)
    with client.session_transaction() as session:
        session["second_factor"] = {**session["second_factor"],
                                    "until": session["second_factor"]["until"] - 301}
    answer = client.post("/login/code", data={
        "code": pyotp.TOTP(secret).at(clock_now() + timedelta(seconds=30))})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    assert client.get("/preferences").status_code == 302


def test_codes_fit_their_time_step_and_one_either_side(app_ctx, make_user):
    user = db.session.get(User, make_user("cm").id)
    twofactor.start_enrolment(user)
    secret = twofactor.pending_secret(user)
    now = clock_now()
    twofactor.confirm_enrolment(user, pyotp.TOTP(secret).at(now), now)
    later = now + timedelta(minutes=5)
    totp = pyotp.TOTP(secret)
    with pytest.raises(twofactor.WrongCode):
        twofactor.verify(user, totp.at(later - timedelta(seconds=90)), later)
    assert twofactor.verify(user, totp.at(later - timedelta(seconds=30)), later) == "totp"
    with pytest.raises(twofactor.WrongCode):  # an older step than one already used
        twofactor.verify(user, totp.at(later - timedelta(seconds=60)), later)


def test_guessing_codes_is_throttled(app, client, make_user):
    user = make_user("cm")
    with app.app_context():
        db_user = db.session.get(User, user.id)
        twofactor.start_enrolment(db_user)
        twofactor.confirm_enrolment(db_user, _code(twofactor.pending_secret(db_user)),
                                    clock_now())
    _password_step(client, user)
    codes = [client.post("/login/code", data={"code": f"{n:06d}"}).status_code for n in range(7)]
    assert codes == [401] * 6 + [429]


def test_a_role_that_requires_it_must_set_it_up_before_anything_else(app, client, make_user,
                                                                     login):
    admin, smm = make_user("admin"), make_user("smm")
    login(admin)
    assert client.post("/admin/users/two-factor", data={"roles": ["smm", "admin"]}).status_code == 302
    # The admin too: their next page sends them to set it up.
    assert client.get("/admin/users").headers["Location"].endswith("/account/two-factor")
    smm_client = app.test_client()
    login(smm, active_client=smm_client)
    assert smm_client.get("/escalations").headers["Location"].endswith("/account/two-factor")
    secret, _codes = _enrol(smm_client)
    assert smm_client.get("/escalations").status_code == 200
    off = smm_client.post("/account/two-factor/off", data={"password": PASSWORD},
                          follow_redirects=True)
    assert "cannot be turned off" in off.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, smm.id).totp_enabled_at is not None
        assert twofactor.required_roles() == ["smm", "admin"]


def test_turning_it_off_needs_the_password(app, client, make_user, login):
    user = make_user("cm")
    login(user)
    _enrol(client)
    client.post("/account/two-factor/off", data={"password": "wrong"})
    with app.app_context():
        assert db.session.get(User, user.id).totp_enabled_at is not None
    client.post("/account/two-factor/off", data={"password": PASSWORD})
    with app.app_context():
        assert db.session.get(User, user.id).totp_enabled_at is None
        assert db.session.scalars(select(twofactor.RecoveryCode)).all() == []
    client.post("/logout")
    assert _password_step(client, user).headers["Location"] == "/"


def test_a_reset_link_does_not_skip_the_second_step(app, client, make_user):
    from desk.accounts import passwords
    user = make_user("cm")
    with app.app_context():
        db_user = db.session.get(User, user.id)
        twofactor.start_enrolment(db_user)
        twofactor.confirm_enrolment(db_user, _code(twofactor.pending_secret(db_user)),
                                    clock_now())
        raw = passwords.issue_link(db_user, "reset", clock_now())
        db.session.commit()
    answer = client.post(f"/password/reset/{raw}", data={
        "password": "violet kettle under moon", "confirm": "violet kettle under moon"})
    assert answer.status_code == 302 and "/login/code" in answer.headers["Location"]
    assert client.get("/preferences").status_code == 302


def test_digits_of_other_scripts_are_a_wrong_code_not_an_error(app_ctx, make_user):
    user = db.session.get(User, make_user("cm").id)
    twofactor.start_enrolment(user)
    with pytest.raises(twofactor.WrongCode):
        twofactor.confirm_enrolment(user, "١٢٣٤٥٦", clock_now())
    twofactor.confirm_enrolment(user, _code(twofactor.pending_secret(user)), clock_now())
    with pytest.raises(twofactor.WrongCode):
        twofactor.verify(user, "١٢٣٤٥٦", clock_now())
