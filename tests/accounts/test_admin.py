"""Admins change roles and deactivate people through a service that leaves an audit trail."""
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core.extensions import db


def _audit(app, action):
    with app.app_context():
        return [(e.user_id, e.data) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_role_change_is_recorded_with_who_and_what(app, client, make_user, login):
    admin, cm = make_user("admin"), make_user("cm")
    login(admin)
    assert client.post(f"/admin/users/{cm.id}/role", data={"role": "lead"}).status_code == 302
    assert client.post(f"/admin/users/{cm.id}/role", data={"role": "lead"}).status_code == 302
    with app.app_context():
        assert db.session.get(User, cm.id).role == "lead"
    # The second post changed nothing, so it records nothing.
    assert _audit(app, "user.role_changed") == [(admin.id, {"user_id": cm.id, "name": "CM Tester",
                                                             "from": "cm", "to": "lead"})]


def test_deactivation_signs_out_and_is_recorded(app, client, make_user, login):
    admin, cm = make_user("admin"), make_user("cm")
    cms_browser = app.test_client()
    login(cm, active_client=cms_browser)
    assert cms_browser.get("/preferences").status_code == 200
    login(admin)
    assert client.post(f"/admin/users/{cm.id}/active").status_code == 302
    with app.app_context():
        assert not db.session.get(User, cm.id).active
    assert cms_browser.get("/preferences").status_code == 302  # signed out at once
    assert client.post(f"/admin/users/{cm.id}/active").status_code == 302
    named = {"user_id": cm.id, "name": "CM Tester"}  # the name as it was, should it change later
    assert _audit(app, "user.deactivated") == [(admin.id, named)]
    assert _audit(app, "user.activated") == [(admin.id, named)]


def test_an_admin_cannot_deactivate_themselves_and_nothing_is_written(app, client, make_user, login):
    admin = make_user("admin")
    login(admin)
    response = client.post(f"/admin/users/{admin.id}/active", follow_redirects=True)
    assert "You cannot deactivate yourself." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, admin.id).active
    assert _audit(app, "user.deactivated") == []


def test_only_admins_change_accounts(app, client, make_user, login):
    lead, cm = make_user("lead"), make_user("cm")
    login(lead)
    assert client.post(f"/admin/users/{cm.id}/role", data={"role": "admin"}).status_code == 403
    assert client.post(f"/admin/users/{cm.id}/active").status_code == 403
    with app.app_context():
        user = db.session.get(User, cm.id)
        assert user.role == "cm" and user.active
    assert client.post("/admin/users/999999/role", data={"role": "cm"}).status_code == 403
