"""Sign-in, sign-out, roles, CSRF, open redirects, rate limits and API tokens."""
import pytest

from desk.accounts.tokens import create_api_token, revoke_api_token
from desk.accounts.users import User, set_password
from desk.core.extensions import db
from tests.conftest import PASSWORD


def test_sign_in_and_out(client, make_user, login):
    user = make_user("cm")
    response = login(user)
    assert response.status_code == 302
    assert client.get("/preferences").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.get("/preferences").status_code == 302


def test_wrong_password_is_refused_with_the_same_message_as_unknown_email(client, make_user, login):
    user = make_user("cm")
    wrong = login(user, password="not-the-password")
    unknown = client.post("/login", data={"email": "nobody@desk.test", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert b"Wrong e-mail or password" in wrong.data and b"Wrong e-mail or password" in unknown.data
    assert client.get("/preferences").status_code == 302


def test_deactivated_user_cannot_sign_in(app, client, make_user, login):
    user = make_user("cm")
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    assert login(user).status_code == 401


def test_password_change_signs_out_other_sessions_and_revokes_tokens(app, client, make_user, login):
    user = make_user("cm")
    login(user)
    with app.app_context():
        _token, raw = create_api_token("bot", db.session.get(User, user.id))
        set_password(db.session.get(User, user.id), "a-new-password-123")
    assert client.get("/preferences").status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_session_cookie_is_httponly_and_samesite(client, make_user, login):
    response = login(make_user("cm"))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_post_without_csrf_token_is_rejected(client, make_user):
    user = make_user("cm")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert b"CSRF" in response.data
    assert client.get("/preferences").status_code == 302


@pytest.mark.parametrize("target", [
    "https://evil.com", "//evil.com", "\\\\evil.com", "/\\evil.com", "https:evil.com",
    "javascript:alert(1)", "/%0d%0aLocation:evil", "http://localhost/admin",
])
def test_next_never_leaves_the_site(client, make_user, target):
    user = make_user("cm")
    response = client.post(f"/login?next={target}", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "evil" not in location and not location.startswith(("http://localhost/admin", "javascript"))


def test_next_to_a_local_path_is_followed(client, make_user):
    user = make_user("cm")
    response = client.post("/login?next=/preferences", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/preferences"


@pytest.mark.parametrize("role,status", [("cm", 403), ("lead", 403), ("smm", 403), ("admin", 200)])
def test_admin_pages_are_for_admins(client, make_user, login, role, status):
    login(make_user(role))
    assert client.get("/admin/users").status_code == status
    assert client.post("/admin/channels", data={"platform": "x", "account_id": "1", "name": "n"}).status_code in (status, 302)


def test_anonymous_user_is_sent_to_sign_in(client):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_api_token_auth_and_revocation(app, client):
    with app.app_context():
        token, raw = create_api_token("integration")
        assert token.token_hash != raw and raw not in token.token_hash
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer desk_forged"}).status_code == 401
    with app.app_context():
        revoke_api_token(token.id)
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and response.json["error"]


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_interface_speaks_spanish(client):
    response = client.get("/login", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert "Iniciar sesión".encode() in response.data


def test_a_deactivated_users_tokens_stop_working(app, client, make_user):
    user = make_user("cm")
    with app.app_context():
        _token, raw = create_api_token("bot", db.session.get(User, user.id))
    auth = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.get("/api/v1/tickets", headers=auth).status_code == 401
    assert client.post("/api/v1/messages", json={}, headers=auth).status_code == 401


def test_a_token_does_no_more_than_its_user_could(app, client, make_user):
    """The service report is for SMMs in the interface, and so through their tokens."""
    with app.app_context():
        secrets = {role: create_api_token(role, db.session.get(User, make_user(role).id))[1]
                   for role in ("cm", "lead", "smm")}
        _token, integration = create_api_token("integration")  # no user: an integration's
    for role, expected in (("cm", 403), ("lead", 403), ("smm", 200)):
        response = client.get("/api/v1/reports/service", headers={"Authorization": f"Bearer {secrets[role]}"})
        assert response.status_code == expected, role
    assert client.get("/api/v1/reports/service",
                      headers={"Authorization": f"Bearer {integration}"}).status_code == 200
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {secrets['cm']}"}).status_code == 200


def test_a_hash_made_with_other_costs_is_redone_at_the_next_sign_in(app, client, make_user,
                                                                   login, monkeypatch):
    user = make_user("cm")
    with app.app_context():
        before = db.session.get(User, user.id).password_hash
    monkeypatch.setitem(app.config, "PASSWORD_HASH_TIME_COST", 2)
    assert login(user).status_code == 302
    with app.app_context():
        after = db.session.get(User, user.id).password_hash
    assert ",t=1," in before and ",t=2," in after
