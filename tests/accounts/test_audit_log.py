"""Every admin and SMM change leaves an audit row naming who, what, which object and from
where; the admin's audit page filters, pages and exports them (formula-safe CSV)."""
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from desk.accounts import audit
from desk.accounts.audit import AuditEvent
from desk.accounts.tokens import ApiToken
from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.replies.models import CannedReply
from desk.sla.policies import BusinessCalendar, SlaPolicy

IP = "203.0.113.7"


@pytest.fixture
def admin_client(client, make_user, login):
    """A client signed in as an admin, calling from IP."""
    admin = make_user("admin", name="Alba Admin")
    client.environ_base["REMOTE_ADDR"] = IP
    login(admin)
    return client, admin


def _events(app, prefix):
    with app.app_context():
        return [(e.action, e.user_id, e.object_type, e.object_id, e.ip, e.source, e.data)
                for e in db.session.scalars(select(AuditEvent).where(
                    AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id))]


def _one(app, model, **where):
    with app.app_context():
        return db.session.scalar(select(model).filter_by(**where))


# --- each kind of change is recorded ------------------------------------------------------

def test_role_changes_and_deactivation_name_the_user_and_the_address(app, admin_client, make_user):
    client, admin = admin_client
    cm = make_user("cm", name="Carla CM")
    client.post(f"/admin/users/{cm.id}/role", data={"role": "lead"})
    client.post(f"/admin/users/{cm.id}/active")
    assert [e[:6] for e in _events(app, "user.")] == [
        ("user.signed_in", admin.id, "user", admin.id, IP, "web"),
        ("user.role_changed", admin.id, "user", cm.id, IP, "web"),
        ("user.deactivated", admin.id, "user", cm.id, IP, "web")]


def test_tokens_created_and_revoked_by_an_admin_are_recorded(app, admin_client, make_user):
    client, admin = admin_client
    lead = make_user("lead")
    response = client.post("/admin/tokens", data={"name": "reporting", "user_id": lead.id,
                                                  "scopes": ["read"], "expires": "30"})
    assert response.status_code == 200 and b"desk_" in response.data
    token = _one(app, ApiToken, name="reporting")
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    events = _events(app, "api_token.")
    assert [e[:6] for e in events] == [
        ("api_token.created", admin.id, "api_token", token.id, IP, "web"),
        ("api_token.revoked", admin.id, "api_token", token.id, IP, "web")]
    assert events[0][6]["scopes"] == ["read"] and events[0][6]["user_id"] == lead.id


def test_a_connected_channel_is_recorded(app, admin_client):
    client, admin = admin_client
    client.post("/admin/channels", data={"platform": "instagram", "account_id": "ig-1",
                                         "name": "Tienda", "handle": ""})
    channel = _one(app, Channel, account_id="ig-1")
    assert [e[:6] for e in _events(app, "channel.")] == [
        ("channel.added", admin.id, "channel", channel.id, IP, "web")]


def test_sla_policies_created_changed_and_deleted_are_recorded(app, client, make_user, login):
    smm = make_user("smm")
    client.environ_base["REMOTE_ADDR"] = IP
    login(smm)
    good = {"name": "VIP en X", "position": "1", "platform": "x", "kind": "", "priority": "",
            "vip": "yes", "first_response_minutes": "15", "next_response_minutes": "30",
            "warning_value": "20", "warning_unit": "percent", "calendar_id": "", "active": "y"}
    assert client.post("/sla/policies", data=good).status_code == 302
    policy = _one(app, SlaPolicy, name="VIP en X")
    assert client.post(f"/sla/policies/{policy.id}", data={**good, "first_response_minutes": "20"}
                       ).status_code == 302
    assert client.post(f"/sla/policies/{policy.id}/delete").status_code == 302
    events = _events(app, "sla_policy.")
    assert [e[:6] for e in events] == [
        (f"sla_policy.{verb}", smm.id, "sla_policy", policy.id, IP, "web")
        for verb in ("created", "updated", "deleted")]
    assert events[1][6]["changed"] == {"first_response_minutes": 20}


def test_calendars_and_their_holidays_are_recorded(app, client, make_user, login):
    smm = make_user("smm")
    client.environ_base["REMOTE_ADDR"] = IP
    login(smm)
    data = {"name": "Oficina", "timezone": "Europe/Madrid", "day0": "09:00-18:00", "day1": "",
            "day2": "", "day3": "", "day4": "", "day5": "", "day6": "", "holidays": ""}
    assert client.post("/sla/calendars", data=data).status_code == 302
    row = _one(app, BusinessCalendar, name="Oficina")
    assert client.post(f"/sla/calendars/{row.id}", data={**data, "day1": "10:00-14:00"}
                       ).status_code == 302
    assert client.post(f"/sla/calendars/{row.id}/holidays",
                       data={"country": "ES", "year": "2026"}).status_code == 302
    assert [e[:6] for e in _events(app, "sla_calendar.")] == [
        (f"sla_calendar.{verb}", smm.id, "sla_calendar", row.id, IP, "web")
        for verb in ("created", "updated", "holidays_loaded")]


def test_escalation_rule_settings_are_recorded_with_their_object_and_address(app, client, make_user,
                                                                              login):
    smm = make_user("smm")
    client.environ_base["REMOTE_ADDR"] = IP
    login(smm)
    page = client.get("/escalations/rules")
    assert page.status_code == 200
    client.post("/escalations/rules", data={
        "breach_level1": "y", "breach_level2_minutes": "45", "ack_minutes": "15",
        "follower_threshold": "0", "keywords": "abogado", "crisis_burst": "5",
        "crisis_window_minutes": "30", "crisis_similarity": "60"})
    events = _events(app, "escalation_rules.")
    assert [e[:6] for e in events] == [
        ("escalation_rules.changed", smm.id, "escalation_rules", 1, IP, "web")]
    assert events[0][6]["breach_level2_minutes"] == 45


def test_canned_replies_created_changed_deactivated_and_imported_are_recorded(app, client,
                                                                             make_user, login):
    lead = make_user("lead")
    client.environ_base["REMOTE_ADDR"] = IP
    login(lead)
    values = {"key": "hola", "title": "Saludo", "language": "es", "body": "Hola",
              "triggers": "hola", "tags": "", "active": "y"}
    assert client.post("/replies/new", data=values).status_code == 302
    reply = _one(app, CannedReply, key="hola")
    assert client.post(f"/replies/{reply.id}/edit", data={**values, "body": "Buenas"}
                       ).status_code == 302
    assert client.post(f"/replies/{reply.id}/active").status_code == 302
    library = {"format": "desk-canned-replies/1", "replies": [
        {"key": "adios", "language": "es", "title": "Adiós", "body": "Hasta pronto",
         "triggers": ["adiós"]}]}
    client.post("/replies/import", content_type="multipart/form-data", data={
        "file": (io.BytesIO(json.dumps(library).encode()), "lib.json")})
    events = _events(app, "canned_reply.")
    assert [e[:6] for e in events] == [
        ("canned_reply.created", lead.id, "canned_reply", reply.id, IP, "web"),
        ("canned_reply.updated", lead.id, "canned_reply", reply.id, IP, "web"),
        ("canned_reply.deactivated", lead.id, "canned_reply", reply.id, IP, "web"),
        ("canned_reply.imported", lead.id, "canned_reply", None, IP, "web")]


def test_command_line_changes_are_recorded_as_such(app, make_user, tmp_path):
    user = make_user("smm")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-token", "cli-bot", "--user", user.email])
    assert result.exit_code == 0, result.output
    token = _one(app, ApiToken, name="cli-bot")
    assert runner.invoke(args=["revoke-token", str(token.id)]).exit_code == 0
    assert runner.invoke(args=["channel", "add", "x", "x-42", "Marca"]).exit_code == 0
    library = tmp_path / "lib.json"
    library.write_text(json.dumps({"format": "desk-canned-replies/1", "replies": [
        {"key": "hola", "language": "es", "title": "Hola", "body": "Hola", "triggers": ["hola"]}]}))
    assert runner.invoke(args=["import-replies", str(library)]).exit_code == 0
    rows = _events(app, "api_token.") + _events(app, "channel.") + _events(app, "canned_reply.")
    assert [(e[0], e[1], e[4], e[5]) for e in rows] == [
        ("api_token.created", None, None, "cli"), ("api_token.revoked", None, None, "cli"),
        ("channel.added", None, None, "cli"), ("canned_reply.imported", None, None, "cli")]


# --- the page --------------------------------------------------------------------------

AT = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)  # already 2 March in Tokyo


def _seed(app, admin_id, other_id):
    with app.app_context():
        audit.record("user.role_changed", at=AT, by=audit.Actor(admin_id, IP),
                     object_type="user", object_id=other_id,
                     data={"user_id": other_id, "name": "x", "from": "cm", "to": "lead"})
        audit.record("channel.added", at=AT - timedelta(days=3), by=audit.Actor(other_id, "10.0.0.9"),
                     object_type="channel", object_id=7, data={"name": "Tienda (instagram)"})
        audit.record("escalation.renotified", actor="rule:ladder", at=AT, object_type="ticket",
                     object_id=5, data={"escalation_id": 1, "level": 2})
        db.session.commit()


def _set_user(app, user_id, **values):
    with app.app_context():
        user = db.session.get(User, user_id)
        for key, value in values.items():
            setattr(user, key, value)
        db.session.commit()


def test_only_admins_see_the_audit_log(client, make_user, login):
    assert client.get("/admin/audit").status_code == 302
    for role in ("cm", "lead", "smm"):
        login(make_user(role))
        assert client.get("/admin/audit").status_code == 403, role
        assert client.get("/admin/audit.csv").status_code == 403, role
        client.post("/logout")


def test_the_page_reads_as_sentences_in_the_viewers_zone_and_filters(app, admin_client, make_user):
    client, admin = admin_client
    other = make_user("smm", name="Sara SMM")
    _seed(app, admin.id, other.id)
    _set_user(app, admin.id, timezone="Asia/Tokyo")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "Alba Admin changed the role of Sara SMM from cm to lead" in html
    assert "Sara SMM connected the channel Tienda (instagram)" in html
    assert "3/2/26, 8:30\u202fAM" in html or "3/2/26, 8:30 AM" in html  # Tokyo, not UTC
    assert IP in html and "10.0.0.9" in html

    def shown(**args):
        page = client.get("/admin/audit", query_string=args).get_data(as_text=True)
        return ("changed the role" in page, "connected the channel" in page)

    assert shown(user=other.id) == (False, True)
    assert shown(user=admin.id) == (True, False)
    assert shown(action="channel.added") == (False, True)
    assert shown(object="user") == (True, False)
    assert shown(**{"from": "2026-03-02", "to": "2026-03-02"}) == (True, False)  # Tokyo's day
    assert shown(**{"from": "2026-02-27", "to": "2026-02-27"}) == (False, True)  # 08:30 there
    assert shown(**{"to": "2026-03-01"}) == (False, True)
    assert client.get("/admin/audit?from=yesterday").status_code == 400

    def rule_shown(**args):
        return "the rule ladder reminded about the escalation of ticket #5" in client.get(
            "/admin/audit", query_string=args).get_data(as_text=True)

    assert not rule_shown() and rule_shown(who="all") and rule_shown(who="system")
    assert shown(who="system") == (False, False) and shown(who="all") == (True, True)


def test_the_page_speaks_spanish(app, admin_client, make_user):
    client, admin = admin_client
    other = make_user("smm", name="Sara SMM")
    _seed(app, admin.id, other.id)
    _set_user(app, admin.id, locale="es", timezone="Europe/Madrid")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "Alba Admin cambió el rol de Sara SMM de cm a lead" in html
    assert "Sara SMM conectó el canal Tienda (instagram)" in html
    assert "Registro de auditoría" in html


def test_pages_follow_a_cursor_that_new_rows_do_not_shift(app, admin_client):
    client, admin = admin_client
    with app.app_context():
        for n in range(120):
            audit.record("channel.added", at=AT + timedelta(seconds=n), by=audit.Actor(admin.id),
                         object_type="channel", object_id=n, data={"name": f"canal-{n:03d}"})
        db.session.commit()
    seen, url = [], "/admin/audit?object=channel"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen.append(re.findall(r"canal-\d{3}", html))
        if len(seen) == 1:  # something new happens while the admin reads page 1
            with app.app_context():
                audit.record("channel.added", at=AT + timedelta(hours=1), by=audit.Actor(admin.id),
                             object_type="channel", object_id=999, data={"name": "canal-new"})
                db.session.commit()
        older = re.search(r'<a href="([^"]+)" id="audit-older"', html)
        url = older.group(1).replace("&amp;", "&") if older else None
        assert older is None or "object=channel" in url  # the filters carry over
    assert [len(page) for page in seen] == [50, 50, 20]
    assert sorted(sum(seen, [])) == [f"canal-{n:03d}" for n in range(120)]


def test_csv_export_filters_and_neutralises_formulas(app, admin_client, make_user):
    client, admin = admin_client
    hostile = make_user("cm", name="=HYPERLINK(\"http://evil\")")
    with app.app_context():
        for name in ("+SUM(A1)", "-2+3", "@cmd", "=1+1"):
            audit.record("api_token.created", at=AT, by=audit.Actor(hostile.id, IP),
                         object_type="api_token", object_id=1,
                         data={"name": name, "user_id": hostile.id, "scopes": ["read"]})
        audit.record("channel.added", at=AT, by=audit.Actor(admin.id, IP), object_type="channel",
                     object_id=2, data={"name": "Tienda"})
        db.session.commit()
    response = client.get("/admin/audit.csv", query_string={"action": "api_token.created"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:6] == ["id", "time_utc", "time_local", "who", "who_email", "action"]
    assert len(rows) == 5 and {r[5] for r in rows[1:]} == {"api_token.created"}
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
        assert row[3] == "'=HYPERLINK(\"http://evil\")" and row[9] == IP
    assert client.get("/admin/audit.csv?from=nope").status_code == 400
