"""Server-side sessions: sign-out, deactivation and idle time end them for good; a person
sees where they are signed in and can sign out everywhere else."""
from datetime import timedelta

from sqlalchemy import select

from desk.accounts.sessions import UserSession
from desk.core.extensions import db
from tests.conftest import PASSWORD


def _replay(app, client):
    """A second browser holding a copy of `client`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def _unused_for(app, period):
    """Move every session's last use `period` back, as if the browser sat idle so long."""
    with app.app_context():
        for row in db.session.scalars(select(UserSession)):
            row.last_seen_at -= period
        db.session.commit()


def test_a_cookie_replayed_after_sign_out_is_sent_to_sign_in(app, client, make_user, login):
    login(make_user("admin"))
    thief = _replay(app, client)
    assert thief.get("/admin/users").status_code == 200
    assert client.post("/logout").status_code == 302
    response = thief.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(UserSession.ended_at)) is not None


def test_a_session_unused_longer_than_the_idle_limit_ends(app, client, make_user, login,
                                                          monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 30)
    login(make_user("cm"))
    assert client.get("/preferences").status_code == 200
    _unused_for(app, timedelta(minutes=29))
    assert client.get("/preferences").status_code == 200  # used within the limit: touched
    _unused_for(app, timedelta(minutes=31))
    assert client.get("/preferences").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(UserSession.ended_at)) is not None


def test_keep_me_signed_in_outlasts_the_idle_limit_but_not_its_own(app, client, make_user,
                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 30)
    user = make_user("cm")
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    _unused_for(app, timedelta(days=2))
    assert client.get("/preferences").status_code == 200
    _unused_for(app, timedelta(days=31))
    assert client.get("/preferences").status_code == 302


def test_people_see_their_sessions_and_sign_out_everywhere_else(app, client, make_user, login):
    user = make_user("cm")
    phone = app.test_client()
    phone.post("/login", data={"email": user.email, "password": PASSWORD},
               headers={"User-Agent": "Phone <script>alert(1)</script>"},
               environ_base={"REMOTE_ADDR": "203.0.113.9"})
    login(user)
    page = client.get("/account/security").get_data(as_text=True)
    assert page.count('<tr id="session-') == 2 and "203.0.113.9" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    response = client.post("/account/sessions/end-others", follow_redirects=True)
    assert "Signed out of 1 other session." in response.get_data(as_text=True)
    assert phone.get("/preferences").status_code == 302
    assert client.get("/preferences").status_code == 200
    assert client.get("/account/security").get_data(as_text=True).count('<tr id="session-') == 1
