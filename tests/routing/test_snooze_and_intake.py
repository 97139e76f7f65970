"""Snooze (leaves the working views, comes back by itself, the clock keeps running) and
routing from a real webhook delivery."""
from datetime import datetime, timezone

from desk.accounts.users import User
from desk.core.extensions import db
from desk.inbox import query
from desk.inbox.snooze import snooze, wake_ended
from desk.inbox.tickets import Ticket
from desk.routing import availability, teams
from tests.factories import make_channel, make_ticket, minutes
from tests.webhook_helpers import post_meta, wire

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
PAGE = "1122334455"


def dm(mid: str, text: str = "hola", sender: str = "2233445566") -> bytes:
    return wire({"object": "page", "entry": [{"id": PAGE, "time": 1458692752478, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": 1458692752478,
        "message": {"mid": mid, "text": text}}]}]})


def listed(view: str, user_id: int, now) -> list[int]:
    return [t.id for t in query.page(query.InboxParams(view=view), user_id, now).tickets]


def test_a_snoozed_ticket_returns_when_the_customer_writes(app_ctx, client, run_jobs, make_user):
    make_channel("facebook", PAGE)
    ana = make_user("cm")
    post_meta(client, dm("m-1"))
    run_jobs()
    ticket = db.session.scalar(db.select(Ticket))
    due = ticket.sla_due_at
    snooze(ticket.id, db.session.get(User, ana.id), None, ticket.created_at + minutes(1))
    later = ticket.created_at + minutes(2)
    assert listed("open", ana.id, later) == [] and listed("snoozed", ana.id, later) == [ticket.id]
    post_meta(client, dm("m-2", "¿hola?"))
    run_jobs()
    db.session.expire_all()
    woken = db.session.get(Ticket, ticket.id)
    assert woken.snoozed_at is None and woken.sla_due_at == due  # the clock never stopped
    assert listed("open", ana.id, later) == [ticket.id]


def test_a_timed_snooze_ends_by_itself_and_the_form_says_the_clock_runs(
        app_ctx, client, login, make_user):
    ana = make_user("cm")
    ticket = make_ticket(now=T0, sent_at=T0)
    login(ana)
    page = client.get(f"/tickets/{ticket.id}").get_data(True)
    assert 'id="snooze-clock-note"' in page and "keeps running" in page
    assert client.post(f"/tickets/{ticket.id}/snooze", data={"until": "1h"}).status_code == 200
    ticket = db.session.get(Ticket, ticket.id)
    until = ticket.snoozed_until
    assert listed("open", ana.id, until - minutes(1)) == []
    assert listed("open", ana.id, until + minutes(1)) == [ticket.id]
    assert wake_ended(until - minutes(1)) == 0 and wake_ended(until) == 1
    assert db.session.get(Ticket, ticket.id).snoozed_at is None
    assert client.post(f"/tickets/{ticket.id}/snooze", data={"until": "at", "at": "nonsense"}
                       ).status_code == 400


def test_a_dm_from_a_webhook_goes_to_an_online_agent(app_ctx, client, run_jobs, make_user):
    channel = make_channel("facebook", PAGE)
    lead, ana = make_user("lead"), make_user("cm")
    teams.save_team(db.session.get(User, lead.id), T0, team_id=None, name="Care",
                    channel_ids=[channel.id], languages=[], mode="least_loaded",
                    return_on_offline=True, member_ids=[ana.id])
    availability.set_status(ana.id, "online", db.session.get(User, ana.id), T0)
    post_meta(client, dm("m-1"))
    run_jobs()
    assert db.session.scalar(db.select(Ticket.assignee_id)) == ana.id
