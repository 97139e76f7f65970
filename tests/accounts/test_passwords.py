"""Passwords: the rules, changing one's own, resets by e-mail, invitations and admin edits."""
import re
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from desk.accounts import passwords
from desk.accounts.audit import AuditEvent
from desk.accounts.passwords import PasswordLink
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from tests.conftest import PASSWORD

NEW_PASSWORD = "violet kettle under moon"


@pytest.mark.parametrize("password", [
    "short", "password1234", "qwertyuiop12", "1234567890", "Maria.Lopez.2024"])
def test_short_common_or_personal_passwords_are_refused(app_ctx, password):
    user = User(email="maria.lopez@desk.test", name="Maria Lopez", role="cm", password_hash="!")
    with pytest.raises(passwords.WeakPassword):
        passwords.check_password(password, user)


def test_a_long_unguessable_password_passes_without_composition_rules(app_ctx):
    passwords.check_password(NEW_PASSWORD, email="maria@desk.test", name="Maria")


def _text(mail) -> str:
    return mail.get_payload(decode=True).decode()


def _link_in(mail) -> str:
    return re.search(r"http://desk\.test(/\S+)", _text(mail)).group(1)


def test_change_own_password_asks_the_current_one_and_ends_other_sessions(app, client,
                                                                        make_user, login):
    user = make_user("cm")
    other = app.test_client()
    login(user, active_client=other)
    login(user)
    wrong = client.post("/account/security", data={
        "current": "not-it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    weak = client.post("/account/security", data={
        "current": PASSWORD, "password": "password1234", "confirm": "password1234"})
    assert weak.status_code == 422 and "too easy to guess" in weak.get_data(as_text=True)
    assert other.get("/preferences").status_code == 200  # nothing changed yet
    done = client.post("/account/security", data={
        "current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/preferences").status_code == 200  # this session stays
    assert other.get("/preferences").status_code == 302  # the others end
    assert login(user, active_client=app.test_client()).status_code == 401
    assert login(user, password=NEW_PASSWORD, active_client=app.test_client()).status_code == 302


def test_a_forgotten_password_is_reset_through_a_single_use_mailed_link(
        app, client, make_user, run_jobs, smtp_server):
    user = make_user("cm", locale="es")
    answer = client.post("/password/forgot", data={"email": user.email.upper()},
                         follow_redirects=True)
    unknown = client.post("/password/forgot", data={"email": "nobody@desk.test"},
                          follow_redirects=True)
    # The same words either way: the page tells nobody which addresses have an account.
    assert "a link to choose a new password is on its way" in answer.get_data(as_text=True)
    assert "a link to choose a new password is on its way" in unknown.get_data(as_text=True)
    run_jobs()
    assert [to for to, _mail in smtp_server.messages] == [[user.email]]
    mail = smtp_server.messages[0][1]
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject == "[desk] Elige una contraseña nueva"  # in the user's language
    link = _link_in(mail)
    with app.app_context():  # only the hash is stored
        stored = db.session.scalar(select(PasswordLink.token_hash))
        assert link.rsplit("/", 1)[1] not in stored
    page = client.get(link)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert client.post(link, data={"password": "password1234", "confirm": "password1234"}).status_code == 422
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert client.get("/preferences").status_code == 200  # signed in by the link
    again = app.test_client().get(link)
    assert again.status_code == 302 and "/password/forgot" in again.headers["Location"]
    assert app.test_client().post("/login", data={
        "email": user.email, "password": NEW_PASSWORD}).status_code == 302


def test_a_reset_link_expires_after_an_hour_and_a_newer_one_voids_it(app_ctx, make_user):
    user = db.session.get(User, make_user("cm").id)
    now = clock_now()
    first = passwords.issue_link(user, "reset", now)
    second = passwords.issue_link(user, "reset", now)
    db.session.commit()
    with pytest.raises(passwords.InvalidLink):
        passwords.link_user(first, "reset", now)
    assert passwords.link_user(second, "reset", now + timedelta(minutes=59)).id == user.id
    with pytest.raises(passwords.InvalidLink):
        passwords.link_user(second, "reset", now + timedelta(minutes=61))
    with pytest.raises(passwords.InvalidLink):  # a reset link is no invitation
        passwords.link_user(second, "invite", now)


def test_asking_again_and_again_sends_one_mail(app, client, make_user, run_jobs, smtp_server):
    user = make_user("cm")
    for _ in range(3):
        client.post("/password/forgot", data={"email": user.email})
    run_jobs()
    assert len(smtp_server.messages) == 1


def test_an_invited_person_chooses_a_password_and_is_signed_in(app, client, make_user, login,
                                                               run_jobs, smtp_server):
    admin = make_user("admin")
    login(admin)
    response = client.post("/admin/users", data={
        "email": "New.Person@Desk.test", "name": "Nueva Persona", "role": "lead", "locale": "es",
        "timezone": "America/Mexico_City"})
    assert response.status_code == 302
    assert "invited" in client.get("/admin/users").get_data(as_text=True)
    with app.app_context():
        invited = db.session.scalar(select(User).where(User.email == "new.person@desk.test"))
        assert (invited.role, invited.locale, invited.timezone) == ("lead", "es", "America/Mexico_City")
    stranger = app.test_client()  # no password works before the invitation is accepted
    assert stranger.post("/login", data={"email": "new.person@desk.test", "password": "!"}).status_code == 401
    run_jobs()
    (to, mail), = smtp_server.messages
    assert to == ["new.person@desk.test"] and "invitación" in _text(mail)
    link = _link_in(mail)
    assert stranger.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert stranger.get("/board").status_code == 200  # signed in, as a lead
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert {"user.invited", "user.invitation_accepted"} <= set(actions)


def test_inviting_a_taken_address_is_refused_and_writes_nothing(app, client, make_user, login):
    admin = make_user("admin")
    login(admin)
    response = client.post("/admin/users", data={
        "email": admin.email, "name": "Twin", "role": "cm", "locale": "", "timezone": "UTC"})
    assert response.status_code == 422 and "already has this e-mail" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1


def test_admins_edit_name_role_language_and_time_zone_and_the_change_is_audited(
        app, client, make_user, login):
    admin, cm = make_user("admin"), make_user("cm", name="Ana Cm")
    login(admin)
    response = client.post(f"/admin/users/{cm.id}", data={
        "name": "Ana García", "role": "lead", "locale": "es", "timezone": "Europe/Madrid"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.get(User, cm.id)
        assert (user.name, user.role, user.locale, user.timezone) == (
            "Ana García", "lead", "es", "Europe/Madrid")
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.edited"))
        assert event.user_id == admin.id and event.data["changes"]["role"] == {"from": "cm", "to": "lead"}
        assert set(event.data["changes"]) == {"name", "role", "locale", "timezone"}
    login(cm, active_client=(cm_client := app.test_client()))
    assert cm_client.post(f"/admin/users/{admin.id}", data={
        "name": "x", "role": "cm", "locale": "", "timezone": "UTC"}).status_code == 403
