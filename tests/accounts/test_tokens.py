"""API tokens: scopes capped by the user's role, expiry, last-used time, own and admin pages,
the command's options and the OpenAPI description."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.accounts.tokens import ApiToken, create_api_token, mark_used, revoke_api_token
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


def _user(user):
    return db.session.get(User, user.id)


def test_a_token_holds_only_scopes_its_users_role_allows(app_ctx, make_user):
    cm, smm = _user(make_user("cm")), _user(make_user("smm"))
    for scope in ("reports", "write:messages", "write:activity"):
        with pytest.raises(DeskError, match="needs the role smm"):
            create_api_token("bot", cm, scopes=["read", scope])
    with pytest.raises(DeskError, match="unknown scope"):
        create_api_token("bot", smm, scopes=["admin"])
    with pytest.raises(DeskError, match="at least one scope"):
        create_api_token("bot", smm, scopes=[])
    assert db.session.scalar(select(ApiToken.id)) is None
    # the default: what the role allows
    assert create_api_token("bot", cm)[0].scope_list == ["read", "write:tickets", "write:customers"]
    assert create_api_token("bot", smm)[0].scope_list == ["read", "write:messages",
                                                         "write:activity", "reports",
                                                         "write:tickets", "write:customers"]


def test_a_call_outside_the_tokens_scopes_is_403(app_ctx, client, make_user):
    smm = _user(make_user("smm"))
    _token, raw = create_api_token("reader", smm, scopes=["read"])
    assert client.get("/api/v1/tickets", headers=bearer(raw)).status_code == 200
    for method, url in (("get", "/api/v1/reports/service"), ("post", "/api/v1/messages"),
                        ("post", "/api/v1/activity")):
        response = getattr(client, method)(url, headers=bearer(raw), json={})
        assert response.status_code == 403 and "scope" in response.json["error"], url
    _token, reports = create_api_token("reports", smm, scopes=["reports"])
    assert client.get("/api/v1/tickets", headers=bearer(reports)).status_code == 403
    assert client.get("/api/v1/reports/service", headers=bearer(reports)).status_code == 200
    me = client.get("/api/v1/me", headers=bearer(reports)).json  # /me needs no scope
    assert me["scopes"] == ["reports"] and me["expires_at"] is None


def test_a_role_lowered_later_caps_the_token_too(app_ctx, client, make_user):
    smm = _user(make_user("smm"))
    _token, raw = create_api_token("reports", smm, scopes=["reports", "read"])
    assert client.get("/api/v1/reports/service", headers=bearer(raw)).status_code == 200
    smm.role = "cm"
    db.session.commit()
    assert client.get("/api/v1/reports/service", headers=bearer(raw)).status_code == 403
    assert client.get("/api/v1/tickets", headers=bearer(raw)).status_code == 200


def test_an_expired_token_is_401(app_ctx, client, make_user):
    cm = _user(make_user("cm"))
    now = clock_now()
    _token, live = create_api_token("live", cm, expires_at=now + timedelta(days=1), now=now)
    _token, old = create_api_token("old", cm, expires_at=now - timedelta(seconds=1),
                                   now=now - timedelta(days=2))
    assert client.get("/api/v1/tickets", headers=bearer(live)).status_code == 200
    response = client.get("/api/v1/tickets", headers=bearer(old))
    assert response.status_code == 401 and response.headers["WWW-Authenticate"]
    with pytest.raises(DeskError, match="future"):
        create_api_token("past", cm, expires_at=now - timedelta(minutes=1), now=now)


def test_last_use_is_recorded_at_most_once_a_minute(app_ctx, client, make_user):
    token, raw = create_api_token("bot", _user(make_user("cm")))
    assert client.get("/api/v1/me", headers=bearer(raw)).status_code == 200
    db.session.expire_all()
    first = db.session.get(ApiToken, token.id).last_used_at
    assert first is not None
    for seconds, expected in ((30, first), (59, first), (61, first + timedelta(seconds=61))):
        row = db.session.get(ApiToken, token.id)
        mark_used(row, first + timedelta(seconds=seconds))
        db.session.expire_all()
        assert db.session.get(ApiToken, token.id).last_used_at == expected, seconds


def test_people_make_and_revoke_their_own_tokens_within_their_role(app, client, make_user, login):
    cm, other = make_user("cm"), make_user("cm")
    with app.app_context():
        _theirs, _raw = create_api_token("theirs", _user(other))
        theirs_id = _theirs.id
    client.environ_base["REMOTE_ADDR"] = "198.51.100.4"
    login(cm)
    page = client.get("/tokens")
    assert page.status_code == 200 and b"reports" not in page.data  # not offered to a CM
    refused = client.post("/tokens", data={"name": "x", "scopes": ["reports"], "expires": ""})
    assert refused.status_code == 422
    made = client.post("/tokens", data={"name": "mine", "scopes": ["read"], "expires": "90"})
    assert made.status_code == 200 and b"desk_" in made.data
    assert b"theirs" not in made.data  # only one's own tokens are listed
    with app.app_context():
        mine = db.session.scalar(select(ApiToken).where(ApiToken.name == "mine"))
        assert mine.user_id == cm.id and mine.scope_list == ["read"]
        assert timedelta(days=89) < mine.expires_at - mine.created_at <= timedelta(days=90)
        mine_id = mine.id
    assert client.post(f"/tokens/{theirs_id}/revoke").status_code == 404
    assert client.post(f"/tokens/{mine_id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(ApiToken, mine_id).revoked_at is not None
        assert db.session.get(ApiToken, theirs_id).revoked_at is None
        rows = [(e.action, e.user_id, e.object_id, e.ip) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "api_token").order_by(AuditEvent.id))]
    assert rows[-2:] == [("api_token.created", cm.id, mine_id, "198.51.100.4"),
                         ("api_token.revoked", cm.id, mine_id, "198.51.100.4")]


def test_an_admin_makes_tokens_for_anyone_capped_by_their_role(app, client, make_user, login):
    admin, cm = make_user("admin"), make_user("cm")
    login(admin)
    refused = client.post("/admin/tokens", data={"name": "x", "user_id": cm.id,
                                                 "scopes": ["reports"], "expires": ""})
    assert refused.status_code == 422 and b"needs the role smm" in refused.data
    made = client.post("/admin/tokens", data={"name": "for-cm", "user_id": cm.id,
                                              "scopes": ["read"], "expires": ""})
    assert made.status_code == 200 and b"desk_" in made.data
    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == "for-cm"))
        assert token.user_id == cm.id and token.expires_at is None
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    assert client.post("/admin/tokens/999999/revoke").status_code == 404


def test_revoking_someone_elses_token_is_not_found_for_non_admins(app_ctx, make_user):
    cm, lead, admin = (_user(make_user(r)) for r in ("cm", "lead", "admin"))
    token, _raw = create_api_token("cm-bot", cm)
    with pytest.raises(NotFound):
        revoke_api_token(token.id, requester=lead)
    assert revoke_api_token(token.id, requester=admin).revoked_at is not None


def test_the_command_takes_scopes_and_an_expiry(app, make_user):
    smm, cm = make_user("smm"), make_user("cm")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-token", "feed", "--user", smm.email, "--scope", "read",
                                 "--scope", "reports", "--expires", "90d"])
    assert result.exit_code == 0, result.output
    assert "scopes: read reports" in result.output and "expires" in result.output
    result = runner.invoke(args=["create-token", "dated", "--expires", "2099-06-30"])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(args=["create-token", "x", "--user", cm.email, "--scope", "reports"])
    assert refused.exit_code != 0 and "needs the role smm" in refused.output
    past = runner.invoke(args=["create-token", "x", "--expires", "2001-01-01"])
    assert past.exit_code != 0 and "future" in past.output
    assert runner.invoke(args=["create-token", "x", "--expires", "soon"]).exit_code != 0
    with app.app_context():
        feed = db.session.scalar(select(ApiToken).where(ApiToken.name == "feed"))
        dated = db.session.scalar(select(ApiToken).where(ApiToken.name == "dated"))
        assert feed.scope_list == ["read", "reports"]
        assert feed.expires_at - feed.created_at == timedelta(days=90)
        assert dated.expires_at.isoformat() == "2099-06-30T00:00:00+00:00"
        assert dated.scope_list == ["read", "write:messages", "write:activity", "reports",
                                    "write:tickets", "write:customers", "admin:webhooks"]


def test_the_openapi_description_names_each_operations_scope(client):
    spec = client.get("/api/v1/openapi.json").json
    expected = {("/api/v1/tickets", "get"): "read", ("/api/v1/tickets/{ticket_id}", "get"): "read",
                ("/api/v1/messages", "post"): "write:messages",
                ("/api/v1/activity", "post"): "write:activity",
                ("/api/v1/reports/service", "get"): "reports"}
    for (path, method), scope in expected.items():
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": [scope]}], path
        assert "403" in operation["responses"], path
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
    assert "write:messages" in spec["info"]["description"]
