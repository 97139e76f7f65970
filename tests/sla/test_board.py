"""The SLA board, the policy pages, the ticket's SLA timeline and the tickets API filters."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk.accounts.tokens import create_api_token
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.sla.policies import BusinessCalendar, SlaPolicy
from desk.sla.sweep import sweep
from tests.factories import add_agent_reply, make_channel, make_ticket, minutes


@pytest.fixture
def desk_state(app_ctx, make_user):
    """Tickets in every state at the real current time (the pages use the wall clock)."""
    now = clock_now()
    ana = make_user("cm", name="Ana Ruiz")
    ig, fb = make_channel("instagram", name="Marca IG"), make_channel("facebook", name="Marca FB")
    t = {
        "on_track": make_ticket("Hola, ¿tenéis talla M?", channel=ig, sent_at=now - minutes(5), now=now),
        "at_risk": make_ticket("¿Dónde está mi pedido? 📦", channel=ig, sent_at=now - minutes(50), now=now),
        "breached": make_ticket("<script>alert(1)</script> nadie contesta", channel=fb,
                                sent_at=now - minutes(90), now=now),
        "met": make_ticket("gracias", channel=fb, sent_at=now - minutes(30), now=now),
    }
    add_agent_reply(t["met"], db.session.get(User, ana.id), sent_at=now - minutes(20), now=now)
    t["at_risk"].assignee_id = ana.id
    db.session.commit()
    sweep(now)
    return {"now": now, "ana": ana, "ids": {k: v.id for k, v in t.items()}}


def test_cm_gets_403_and_lead_sees_the_board(client, login, make_user, desk_state):
    login(make_user("cm"))
    assert client.get("/board").status_code == 403
    assert client.get("/board/poll").status_code == 403
    client.post("/logout")
    login(make_user("lead"))
    page = client.get("/board")
    assert page.status_code == 200 and "HX-Request" in page.headers["Vary"]
    html = page.get_data(as_text=True)
    assert re.search(r'id="count-on_track">1<', html) and re.search(r'id="count-at_risk">1<', html)
    assert re.search(r'id="count-breached">1<', html) and re.search(r'id="count-met">1<', html)
    ids = desk_state["ids"]
    at_risk = html.index('id="board-at_risk"')
    breached = html.index('id="board-breached"')
    assert at_risk < html.index(f'id="board-row-{ids["at_risk"]}"') < breached < html.index(f'id="board-row-{ids["breached"]}"')
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert 'id="agent-load-%d"' % desk_state["ana"].id in html
    assert "Marca IG" in html and "Marca FB" in html
    assert 'src="/static/board.js"' in html and "onclick" not in html


def test_poll_answers_204_until_something_changes(client, login, make_user, desk_state):
    login(make_user("lead"))
    first = client.get("/board/poll?stamp=stale", headers={"HX-Request": "true"})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert html.lstrip().startswith("<div id=\"board-body\"") and "<html" not in html
    stamp = re.search(r'data-stamp="([^"]+)"', html).group(1)
    assert client.get(f"/board/poll?stamp={stamp}", headers={"HX-Request": "true"}).status_code == 204


def test_lead_reassigns_in_place(client, login, make_user, desk_state):
    lead = make_user("lead")
    login(lead)
    bea = make_user("cm", name="Bea Núñez")
    ticket_id = desk_state["ids"]["breached"]
    response = client.post(f"/board/tickets/{ticket_id}/assign", data={"assignee_id": bea.id, "section": "breached"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="board-row-{ticket_id}"') and "Saved" in html
    assert db.session.get(Ticket, ticket_id).assignee_id == bea.id
    assert client.post(f"/board/tickets/{ticket_id}/assign", data={"assignee_id": bea.id}, csrf=False).status_code == 400
    assert client.post(f"/board/tickets/{ticket_id}/assign", data={"assignee_id": "99999"}).status_code == 400


def test_cm_cannot_reassign_from_the_board(client, login, make_user, desk_state):
    login(make_user("cm"))
    ticket_id = desk_state["ids"]["breached"]
    assert client.post(f"/board/tickets/{ticket_id}/assign", data={"assignee_id": ""}).status_code == 403


def test_timeline_explains_the_outcome(client, login, make_user, desk_state):
    login(make_user("cm"))
    ids = desk_state["ids"]
    html = client.get(f"/tickets/{ids['met']}/sla").get_data(as_text=True)
    assert 'id="sla-timeline-body"' in html
    # Times after the arrival show a date only when they fall on another day (viewer: UTC).
    arrived = desk_state["now"] - minutes(30)

    def at(moment):
        return f"{moment:%H:%M}" if moment.date() == arrived.date() else f"{moment.day} {moment:%b %H:%M}"
    due, answered = arrived + minutes(60), desk_state["now"] - minutes(20)
    assert f"due {at(due)}, answered {at(answered)} by Ana Ruiz, within target" in html
    late = client.get(f"/tickets/{ids['breached']}/sla").get_data(as_text=True)
    assert "breached" in late and "overdue" in late
    assert client.get("/tickets/999999/sla").status_code == 404


def test_timeline_uses_the_viewers_timezone(client, login, make_user, desk_state):
    viewer = make_user("cm")
    db.session.get(User, viewer.id).timezone = "America/Mexico_City"  # UTC-6, no DST
    db.session.commit()
    login(viewer)
    html = client.get(f"/tickets/{desk_state['ids']['met']}/sla").get_data(as_text=True)
    arrived = desk_state["now"] - minutes(30) - timedelta(hours=6)
    answered = desk_state["now"] - minutes(20) - timedelta(hours=6)
    shown = f"{answered:%H:%M}" if answered.date() == arrived.date() else f"{answered.day} {answered:%b %H:%M}"
    assert f"answered {shown} by Ana Ruiz" in html


def test_policies_need_an_smm_and_report_clear_errors(client, login, make_user, app_ctx):
    login(make_user("lead"))
    assert client.get("/sla/policies").status_code == 403
    client.post("/logout")
    login(make_user("smm"))
    page = client.get("/sla/policies")
    assert page.status_code == 200 and "Default" in page.get_data(as_text=True)
    good = {"name": "VIP en X", "position": "1", "platform": "x", "kind": "", "priority": "", "vip": "yes",
            "first_response_minutes": "15", "next_response_minutes": "30", "warning_value": "20",
            "warning_unit": "percent", "calendar_id": "", "active": "y"}
    assert client.post("/sla/policies", data=good).status_code == 302
    policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.name == "VIP en X"))
    assert (policy.vip, policy.platform, policy.warning_percent, policy.warning_minutes) == (True, "x", 20, None)
    bad = client.post("/sla/policies", data={**good, "name": "Otra", "first_response_minutes": "0"})
    assert bad.status_code == 422 and "between 1 and 43200" in bad.get_data(as_text=True)
    dup = client.post("/sla/policies", data=good)
    assert dup.status_code == 422 and "already exists" in dup.get_data(as_text=True)
    edit = client.post(f"/sla/policies/{policy.id}", data={**good, "first_response_minutes": "20"})
    assert edit.status_code == 302
    db.session.expire_all()
    assert db.session.get(SlaPolicy, policy.id).first_response_minutes == 20
    default = db.session.scalar(select(SlaPolicy).where(SlaPolicy.is_default))
    assert client.post(f"/sla/policies/{default.id}/delete").status_code == 400
    assert client.post(f"/sla/policies/{policy.id}/delete").status_code == 302
    assert db.session.get(SlaPolicy, policy.id) is None


def test_calendars_crud_and_country_holidays(client, login, make_user, app_ctx):
    login(make_user("smm"))
    data = {"name": "Oficina Madrid", "timezone": "Europe/Madrid", "day0": "09:00-14:00, 15:00-19:00",
            "day1": "09:00-18:00", "day2": "", "day3": "", "day4": "", "day5": "", "day6": "",
            "holidays": "2026-12-24 Nochebuena"}
    assert client.post("/sla/calendars", data=data).status_code == 302
    row = db.session.scalar(select(BusinessCalendar))
    assert row.windows["0"] == [["09:00", "14:00"], ["15:00", "19:00"]] and row.holidays[0]["name"] == "Nochebuena"
    bad = client.post("/sla/calendars", data={**data, "name": "Otra", "day0": "nueve a dos"})
    assert bad.status_code == 422 and "09:00-14:00" in bad.get_data(as_text=True)
    assert client.post(f"/sla/calendars/{row.id}/holidays", data={"country": "ES", "year": "2026"}).status_code == 302
    db.session.expire_all()
    days = {h["date"] for h in db.session.get(BusinessCalendar, row.id).holidays}
    assert {"2026-12-24", "2026-12-25", "2026-01-06"} <= days


@pytest.fixture
def bearer(app_ctx, make_user):
    user = db.session.get(User, make_user("lead").id)
    _token, raw = create_api_token("board-test", user)
    return {"Authorization": f"Bearer {raw}"}


def test_api_filters_on_live_sla_state(client, bearer, desk_state):
    ids = desk_state["ids"]
    for state in ("on_track", "at_risk", "breached", "met"):
        response = client.get(f"/api/v1/tickets?sla={state}", headers=bearer)
        assert response.status_code == 200
        assert [t["id"] for t in response.json["tickets"]] == [ids[state]], state
    breached = client.get("/api/v1/tickets?sla=breached", headers=bearer).json["tickets"][0]
    assert breached["sla"]["state"] == breached["sla"]["recorded_state"] == "breached"
    assert breached["sla"]["due_at"] and breached["sla"]["first_response_due_at"]
    assert client.get("/api/v1/tickets?sla=late", headers=bearer).json["tickets"] == []
    fb = client.get("/api/v1/tickets?channel=facebook", headers=bearer).json["tickets"]
    assert sorted(t["id"] for t in fb) == sorted([ids["breached"], ids["met"]])
    mine = client.get(f"/api/v1/tickets?assignee={desk_state['ana'].id}", headers=bearer).json["tickets"]
    assert [t["id"] for t in mine] == [ids["at_risk"]]
    assert len(client.get("/api/v1/tickets?assignee=none&status=open", headers=bearer).json["tickets"]) == 3


def test_api_cursor_pages_and_detail(client, bearer, desk_state):
    seen, cursor = [], None
    while True:
        url = "/api/v1/tickets?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer).json
        seen += [t["id"] for t in page["tickets"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen, reverse=True) == seen and len(seen) == len(set(seen)) == 4
    detail = client.get(f"/api/v1/tickets/{desk_state['ids']['met']}", headers=bearer).json
    assert [(c["kind"], c["state"]) for c in detail["sla"]["clocks"]] == [("first", "met")]
    assert client.get("/api/v1/tickets/999999", headers=bearer).status_code == 404


@pytest.mark.parametrize("query, status", [
    ("sla=late_ish", 422), ("status=closed", 422), ("limit=0", 422), ("limit=abc", 422),
    ("channel=myspace", 422), ("assignee=ana", 422), ("colour=red", 422), ("cursor=%%%", 400),
    ("cursor=dDphYmM", 400),
])
def test_api_bad_filters_are_clear_json_errors(client, bearer, app_ctx, query, status):
    response = client.get(f"/api/v1/tickets?{query}", headers=bearer)
    assert response.status_code == status and response.is_json and response.json["error"]


def test_api_needs_a_token_and_is_documented(client, app_ctx):
    assert client.get("/api/v1/tickets").status_code == 401
    spec = client.get("/api/v1/openapi.json").json
    assert "get" in spec["paths"]["/api/v1/tickets"] and "/api/v1/tickets/{ticket_id}" in spec["paths"]


def test_smm_changes_the_default_targets(client, login, make_user, app_ctx):
    from desk.sla.policies import default_policy
    login(make_user("smm"))
    default_id = default_policy().id
    db.session.commit()
    page = client.get(f"/sla/policies/{default_id}")
    assert page.status_code == 200 and "fixed" in page.get_data(as_text=True)
    data = {"name": "Default", "position": "10000", "platform": "", "kind": "", "priority": "", "vip": "",
            "first_response_minutes": "45", "next_response_minutes": "90", "warning_value": "10",
            "warning_unit": "minutes", "calendar_id": "", "active": "y"}
    assert client.post(f"/sla/policies/{default_id}", data=data).status_code == 302
    db.session.expire_all()
    policy = db.session.get(SlaPolicy, default_id)
    assert (policy.first_response_minutes, policy.next_response_minutes, policy.warning_minutes) == (45, 90, 10)
    assert policy.is_default and policy.active and policy.platform is None


def test_the_policies_page_writes_nothing(client, login, make_user, app_ctx):
    """A page that renders never creates rows: the default shows unsaved until a write needs
    it (a new database has it from its migration)."""
    login(make_user("smm"))
    page = client.get("/sla/policies").get_data(as_text=True)
    assert "Default" in page and "60 min" in page
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SlaPolicy)) == 0


def test_the_board_shows_each_team_with_its_members_online_and_the_work_it_serves(
        client, login, make_user, desk_state):
    from desk.routing import availability, teams
    from desk.inbox.tickets import Ticket as T
    lead = make_user("lead")
    ana = db.session.get(User, desk_state["ana"].id)
    ig = db.session.get(T, desk_state["ids"]["at_risk"]).channel_id
    care = teams.save_team(lead, desk_state["now"], team_id=None, name="Equipo IG", channel_ids=[ig],
                           languages=[], mode="off", return_on_offline=True, member_ids=[ana.id])
    teams.save_team(lead, desk_state["now"], team_id=None, name="Todo <b>", channel_ids=[],
                    languages=["es"], mode="round_robin", return_on_offline=True, member_ids=[])
    teams.save_agent(lead, desk_state["now"], ana.id, capacity=4, languages=[], channel_ids=[])
    availability.set_status(ana.id, "online", ana, desk_state["now"])
    login(lead)
    html = client.get("/board").get_data(as_text=True)
    row = re.search(r'<tr id="team-load-%d">(.*?)</tr>' % care.id, html, re.S).group(1)
    # IG serves the on-track and the at-risk ticket (Ana's); she is online with 3 places left.
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
    assert cells == ["1", "1", "0"], row
    assert "1 of 1 online" in row and "3 places free" in row and "Off (claim by hand)" in row
    assert "Todo &lt;b&gt;" in html and "Round robin" in html
