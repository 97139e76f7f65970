"""The routing settings page (leads and up, CSRF, Spanish) and the availability switch, sign-in
and sign-out."""
from sqlalchemy import select

from desk.accounts.users import User
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.routing import availability
from desk.routing.models import Agent, RoutingSettings, Team
from tests.factories import make_channel, make_ticket


def test_leads_configure_teams_and_agents_without_restart(app_ctx, client, login, make_user,
                                                          run_jobs):
    lead, ana = make_user("lead"), make_user("cm", name="Ana Ruiz")
    channel = make_channel("facebook", name="Tienda FB")
    login(lead)
    page = client.get("/routing")
    assert page.status_code == 200 and b"No teams yet" in page.data
    saved = client.post("/routing/teams", data={
        "name": "Soporte", "mode": "round_robin", "channel_ids": [str(channel.id)],
        "languages": "es", "member_ids": [str(ana.id)], "return_on_offline": "on"})
    assert saved.status_code == 302
    team = db.session.scalar(select(Team))
    assert (team.name, team.mode, team.channel_ids, team.languages) == (
        "Soporte", "round_robin", [channel.id], ["es"])
    assert client.post(f"/routing/agents/{ana.id}", data={
        "capacity": "1", "languages": "", "channel_ids": []}).status_code == 302
    assert db.session.get(Agent, ana.id).capacity == 1
    assert client.post("/routing/settings", data={"away_after_minutes": "7"}).status_code == 302
    assert db.session.get(RoutingSettings, 1).away_after_minutes == 7
    bad = client.post("/routing/teams", data={"name": "X", "mode": "round_robin",
                                              "languages": "spanish"})
    assert bad.status_code == 400 and b"two-letter codes" in bad.data
    listing = client.get("/routing")
    assert b"Soporte" in listing.data and b"Ana Ruiz" in listing.data
    # Ana signs in: online, and the waiting ticket is hers at once (no restart anywhere).
    ticket = make_ticket(channel=channel)
    client.post("/logout")
    login(ana)
    run_jobs()
    assert db.session.get(Agent, ana.id).status == "online"
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).assignee_id == ana.id
    # She signs out: offline, the unanswered ticket goes back.
    client.post("/logout")
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Agent, ana.id).status == "offline"
    assert db.session.get(Ticket, ticket.id).assignee_id is None


def test_agents_cannot_configure_and_posts_need_csrf(app_ctx, client, login, make_user):
    login(make_user("cm"))
    assert client.get("/routing").status_code == 403
    assert client.post("/routing/teams", data={"name": "X", "mode": "off"}).status_code == 403
    login(make_user("lead"))
    assert client.post("/routing/teams", data={"name": "X", "mode": "off"},
                       csrf=False).status_code == 400
    assert db.session.scalar(select(Team)) is None


def test_the_availability_switch_and_the_page_in_spanish(app_ctx, client, login, make_user):
    lead = make_user("lead", locale="es")
    login(lead)
    switched = client.post("/routing/status", data={"status": "away"},
                           headers={"HX-Request": "true"})
    assert switched.status_code == 200 and 'value="away" selected' in switched.get_data(True)
    assert db.session.get(Agent, lead.id).status == "away"
    page = client.get("/routing").get_data(True)
    assert "Equipos" in page and "Asignación automática" in page and "Ausente" in page


def test_assignment_menus_group_people_by_availability(app_ctx, client, login, make_user):
    lead, ana = make_user("lead", name="Laura Lead"), make_user("cm", name="Ana Ruiz")
    availability.set_status(ana.id, "online", db.session.get(User, ana.id), make_ticket().created_at)
    ticket = db.session.scalar(select(Ticket))
    login(lead)
    page = client.get(f"/tickets/{ticket.id}").get_data(True)
    online, offline = page.index('<optgroup label="Online">'), page.index('<optgroup label="Offline">')
    assert online < page.index(">Ana Ruiz</option>") < offline < page.index(">Laura Lead</option>")
