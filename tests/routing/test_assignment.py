"""Automatic assignment: capacity, modes, skills, due-time order, hand-back at sign-out,
availability, and concurrent dispatches (no agent past capacity, no ticket with two owners)."""
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core.extensions import db
from desk.inbox import actions as ticket_actions
from desk.inbox.tickets import Ticket
from desk.routing import availability, decision, teams
from desk.routing.assignment import dispatch
from desk.routing.models import Agent
from tests.conftest import DB_BACKEND
from tests.factories import add_agent_reply, make_channel, make_ticket, minutes

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def user(u):
    return db.session.get(User, u.id)


def owners(tickets):
    db.session.expire_all()
    return [db.session.get(Ticket, t.id).assignee_id for t in tickets]


def team_of(lead, members, mode="round_robin", capacity=2, channels=(), languages=(), name="Care"):
    team = teams.save_team(user(lead), T0, team_id=None, name=name, channel_ids=list(channels),
                           languages=list(languages), mode=mode, return_on_offline=True,
                           member_ids=[m.id for m in members])
    for member in members:
        teams.save_agent(user(lead), T0, member.id, capacity=capacity, languages=[], channel_ids=[])
        availability.set_status(member.id, "online", user(member), T0)
    return team


@pytest.mark.parametrize("mode", ["round_robin", "least_loaded"])
def test_four_dms_go_two_and_two_and_a_fifth_waits_for_the_first_resolution(
        app_ctx, make_user, run_jobs, mode):
    lead, ana, ben = make_user("lead"), make_user("cm", name="Ana"), make_user("cm", name="Ben")
    channel = make_channel("facebook")
    team_of(lead, [ana, ben], mode=mode)
    run_jobs()
    four = [make_ticket(f"hola {i}", channel=channel, sent_at=T0 + minutes(i), now=T0 + minutes(i))
            for i in range(4)]
    run_jobs()
    assert sorted(owners(four)) == sorted([ana.id, ana.id, ben.id, ben.id])
    # Two more wait; the later arrival is due first (an urgent policy would do the same).
    fifth = make_ticket("el quinto", channel=channel, sent_at=T0 + minutes(5), now=T0 + minutes(5))
    sixth = make_ticket("el sexto", channel=channel, sent_at=T0 + minutes(6), now=T0 + minutes(6))
    db.session.get(Ticket, sixth.id).sla_due_at = T0 + minutes(20)
    db.session.commit()
    run_jobs()
    assert owners([fifth, sixth]) == [None, None]
    bens = [t for t in four if db.session.get(Ticket, t.id).assignee_id == ben.id]
    ticket_actions.resolve(bens[0].id, user(ben), T0 + minutes(30))
    run_jobs()
    assert owners([fifth, sixth]) == [None, ben.id]
    assigned = db.session.scalars(select(AuditEvent).where(
        AuditEvent.ticket_id == sixth.id, AuditEvent.action == "ticket.assigned")).all()
    assert [(e.actor.startswith("routing:"), e.data["assignee"]) for e in assigned] == [(True, ben.id)]


def test_only_online_agents_whose_skills_fit_receive_work(app_ctx, make_user, run_jobs):
    lead, ana, ben = make_user("lead"), make_user("cm"), make_user("cm")
    fb, ig = make_channel("facebook"), make_channel("instagram")
    team_of(lead, [ana, ben], mode="least_loaded", capacity=5)
    teams.save_agent(user(lead), T0, ana.id, capacity=5, languages=["en"], channel_ids=[])
    availability.set_status(ben.id, "away", user(ben), T0)
    spanish = make_ticket("hola", channel=fb, now=T0, sent_at=T0, language="es")
    english = make_ticket("hello", channel=ig, now=T0, sent_at=T0, language="en")
    run_jobs()
    assert owners([spanish, english]) == [None, ana.id]
    availability.set_status(ben.id, "online", user(ben), T0 + minutes(1))  # back: work flows
    run_jobs()
    assert owners([spanish, english]) == [ben.id, ana.id]


def test_a_team_serves_only_its_channels_and_mode_off_assigns_nothing(app_ctx, make_user, run_jobs):
    lead, ana = make_user("lead"), make_user("cm")
    fb, ig = make_channel("facebook"), make_channel("instagram")
    team = team_of(lead, [ana], channels=[fb.id])
    on_ig = make_ticket(channel=ig, now=T0, sent_at=T0)
    run_jobs()
    assert owners([on_ig]) == [None]
    teams.save_team(user(lead), T0, team_id=team.id, name="Care", channel_ids=[fb.id],
                    languages=[], mode="off", return_on_offline=True, member_ids=[ana.id])
    on_fb = make_ticket(channel=fb, now=T0, sent_at=T0)
    run_jobs()
    assert owners([on_fb]) == [None]


def test_going_offline_hands_back_unanswered_tickets(app_ctx, make_user, run_jobs):
    lead, ana, ben = make_user("lead"), make_user("cm"), make_user("cm")
    channel = make_channel()
    team_of(lead, [ana], mode="round_robin", capacity=2)
    answered, unanswered = (make_ticket(channel=channel, now=T0, sent_at=T0) for _ in range(2))
    run_jobs()
    assert owners([answered, unanswered]) == [ana.id, ana.id]
    add_agent_reply(db.session.get(Ticket, answered.id), user(ana), now=T0 + minutes(2))
    teams.save_team(user(lead), T0, team_id=1, name="Care", channel_ids=[], languages=[],
                    mode="round_robin", return_on_offline=True, member_ids=[ana.id, ben.id])
    availability.set_status(ana.id, "offline", user(ana), T0 + minutes(3))
    run_jobs()  # ben is offline too: the ticket waits for someone
    assert owners([answered, unanswered]) == [ana.id, None]
    availability.set_status(ben.id, "online", user(ben), T0 + minutes(4))
    run_jobs()
    assert owners([answered, unanswered]) == [ana.id, ben.id]
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.ticket_id == unanswered.id).order_by(AuditEvent.id)).all()
    assert actions == ["ticket.assigned", "ticket.unassigned", "ticket.assigned"]


def test_idle_agents_go_away_and_come_back_when_seen(app_ctx, make_user):
    lead, ana = make_user("lead"), make_user("cm")
    team_of(lead, [ana])
    teams.save_settings(user(lead), T0, away_after_minutes=10)
    availability.touch(ana.id, T0)
    assert availability.sweep_idle(T0 + minutes(9)) == ([], [])
    assert availability.sweep_idle(T0 + minutes(11)) == ([ana.id], [])
    assert db.session.get(Agent, ana.id).status == "away"
    availability.touch(ana.id, T0 + minutes(12))
    assert availability.sweep_idle(T0 + minutes(12)) == ([], [ana.id])
    assert availability.statuses()[ana.id] == "online"


def test_only_leads_configure_routing(app_ctx, make_user):
    ana = make_user("cm")
    with pytest.raises(teams.Forbidden):
        teams.save_settings(user(ana), T0, away_after_minutes=5)
    with pytest.raises(Exception, match="lead"):
        availability.set_status(make_user("cm").id, "online", user(ana), T0)


def test_concurrent_dispatches_never_pass_capacity_nor_double_assign(app, make_user):
    """Twelve workers dispatch two teams that share agents, at once (PostgreSQL row locks;
    SQLite's one writer serialises them)."""
    with app.app_context():
        lead = make_user("lead")
        agents = [make_user("cm") for _ in range(3)]
        channel = make_channel()
        first = team_of(lead, agents[:2], mode="round_robin", capacity=3, name="First")
        second = team_of(lead, agents[1:], mode="least_loaded", capacity=3, name="Second")
        for i in range(15):
            make_ticket(f"t{i}", channel=channel, now=T0, sent_at=T0 + minutes(i))
        team_ids = [first.id, second.id]
    errors = []

    def work(index):
        with app.app_context():
            try:
                dispatch(team_ids[index % 2], T0 + minutes(30))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert errors == [] or DB_BACKEND == "sqlite" and all("locked" in str(e) for e in errors)
        loads = dict(db.session.execute(select(Ticket.assignee_id, func.count())
                                        .group_by(Ticket.assignee_id)).all())
        assert loads == {agents[0].id: 3, agents[1].id: 3, agents[2].id: 3, None: 6}
        per_ticket = db.session.execute(select(AuditEvent.ticket_id, func.count()).where(
            AuditEvent.action == "ticket.assigned").group_by(AuditEvent.ticket_id)).all()
        assert len(per_ticket) == 9 and {n for _tid, n in per_ticket} == {1}


def test_an_at_risk_ticket_of_an_absent_owner_goes_to_someone_free(app_ctx, make_user):
    from desk.routing.tick import tick
    lead, ana, ben = make_user("lead"), make_user("cm"), make_user("cm")
    team_of(lead, [ana, ben], mode="least_loaded", capacity=2)
    availability.set_status(ben.id, "offline", user(ben), T0)
    ticket = make_ticket(now=T0, sent_at=T0)
    assert tick(T0) == 1 and owners([ticket]) == [ana.id]
    availability.set_status(ana.id, "away", user(ana), T0 + minutes(1))  # away keeps tickets
    availability.set_status(ben.id, "online", user(ben), T0 + minutes(2))
    assert tick(T0 + minutes(30)) == 0 and owners([ticket]) == [ana.id]  # not at risk yet
    assert tick(T0 + minutes(46)) == 1 and owners([ticket]) == [ben.id]  # warned at 45 min


def test_a_deactivated_agent_gets_nothing(app_ctx, make_user, run_jobs):
    lead, ana = make_user("lead"), make_user("cm")
    team_of(lead, [ana])
    db.session.get(User, ana.id).active = False
    db.session.commit()
    ticket = make_ticket(now=T0, sent_at=T0)
    run_jobs()
    assert owners([ticket]) == [None]


@pytest.mark.parametrize("mode", ["round_robin", "least_loaded"])
def test_a_member_the_kept_counts_show_free_but_who_is_full_is_passed_over(
        app_ctx, make_user, mode):
    """The counts the choice reads can lag (a moment under concurrency): the count under the
    lock decides, a full member is passed over and released, and the next one gets it."""
    from desk.sla.board_counts import BoardCount
    lead, ana, ben = make_user("lead"), make_user("cm", name="Ana"), make_user("cm", name="Ben")
    channel = make_channel("facebook")
    team = team_of(lead, [ana, ben], mode=mode, capacity=2)
    for i in range(2):
        ticket = make_ticket(f"de Ana {i}", channel=channel, now=T0, sent_at=T0)
        db.session.get(Ticket, ticket.id).assignee_id = ana.id
    db.session.commit()
    # Ana's open tickets vanish from the kept counts: she looks free, and first in either mode.
    db.session.execute(BoardCount.__table__.delete().where(BoardCount.assignee_id == ana.id))
    db.session.commit()
    waiting = make_ticket("nuevo", channel=channel, now=T0 + minutes(1), sent_at=T0 + minutes(1))
    step = decision.next_assignment(team.id, T0 + minutes(2), [])
    assert (step.ticket_id, step.agent_id) == (waiting.id, ben.id)
    if DB_BACKEND == "postgresql":  # row locks: Ben's is held, Ana's was let go at once
        lock = text("SELECT user_id FROM agent WHERE user_id = :id FOR UPDATE NOWAIT")
        with db.engine.connect() as other:
            assert other.execute(lock, {"id": ana.id}).scalar() == ana.id
            other.rollback()
            with pytest.raises(OperationalError, match="could not obtain lock"):
                other.execute(lock, {"id": ben.id})
    db.session.commit()
    assert dispatch(team.id, T0 + minutes(2)) == [(waiting.id, ben.id)]
