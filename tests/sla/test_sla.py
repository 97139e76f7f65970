"""SLA clocks with explicit times: every state, next-response cycles, policies, waivers."""
from datetime import datetime, timezone

from desk.core import signals
from desk.core.extensions import db
from desk.inbox.tickets import Message, Note
from desk.sla.clocks import clocks_of, current_state, latest_clock
from desk.sla.policies import (
    BusinessCalendar,
    SlaPolicy,
    default_policy,
    policy_for,
    save_calendar,
    save_policy,
)
from desk.sla.sweep import sweep
from tests.factories import (
    add_agent_reply,
    add_customer_message,
    make_channel,
    make_customer,
    make_ticket,
    minutes,
)

T0 = datetime(2026, 3, 10, 14, 2, tzinfo=timezone.utc)


def at(n):
    return T0 + minutes(n)


def test_clock_starts_at_the_platform_time_with_the_default_target(app_ctx):
    ticket = make_ticket(sent_at=T0, now=at(3))  # arrived three minutes after it was written
    clock = latest_clock(ticket)
    assert (clock.kind, clock.cycle, clock.state) == ("first", 0, "on_track")
    assert clock.started_at == T0 and clock.due_at == at(60) and clock.warn_at == at(45)
    assert ticket.first_response_started_at == T0 and ticket.first_response_due_at == at(60)
    assert (ticket.sla_state, ticket.sla_due_at, ticket.sla_warn_at) == ("on_track", at(60), at(45))
    assert clock.policy_id == default_policy().id == ticket.sla_policy_id


def test_on_track_at_risk_breached_late(app_ctx, make_user):
    agent = make_user("cm", name="Ana López")
    ticket = make_ticket(sent_at=T0, now=T0)
    assert current_state(ticket, at(44)) == "on_track" and current_state(ticket, at(45)) == "at_risk"
    assert sweep(at(44)) == ([], [])
    assert sweep(at(45)).warnings and ticket.sla_state == "at_risk"
    assert sweep(at(60)).breaches and ticket.sla_state == "breached"
    clock = latest_clock(ticket)
    assert clock.breached_at == at(60) and clock.warned_at == at(45)
    add_agent_reply(ticket, agent, sent_at=at(78), now=at(78))
    assert ticket.sla_state == "late" and latest_clock(ticket).state == "late"
    assert ticket.first_response_at == at(78) and ticket.first_responder_id == agent.id


def test_reply_by_the_due_time_is_met(app_ctx, make_user):
    ticket = make_ticket(sent_at=T0, now=T0)
    sweep(at(50))
    add_agent_reply(ticket, make_user("cm"), sent_at=at(60), now=at(60))
    assert ticket.sla_state == "met" and latest_clock(ticket).warned_at == at(50)
    assert sweep(at(120)) == ([], [])


def test_follow_ups_before_the_first_reply_do_not_restart_the_clock(app_ctx):
    ticket = make_ticket(sent_at=T0, now=T0)
    add_customer_message(ticket, "¿Hola? 😠", sent_at=at(30), now=at(30))
    add_customer_message(ticket, "¿¿Alguien??", sent_at=at(59), now=at(59))
    assert len(clocks_of(ticket.id)) == 1 and ticket.sla_due_at == at(60)


def test_a_late_arriving_earlier_message_moves_the_start_back(app_ctx):
    ticket = make_ticket(sent_at=T0, now=T0)
    add_customer_message(ticket, "escrito antes", sent_at=at(-10), now=at(1))
    assert ticket.first_response_started_at == at(-10) and ticket.sla_due_at == at(50)


def test_notes_and_automatic_messages_do_not_stop_the_clock(app_ctx, make_user):
    agent = make_user("cm")
    ticket = make_ticket(sent_at=T0, now=T0)
    db.session.add(Note(ticket_id=ticket.id, author_id=agent.id, body="mirando", created_at=at(5)))
    auto = Message(ticket=ticket, channel_id=ticket.channel.id, direction="out", text="Gracias, te respondemos pronto",
                   sent_at=at(1), automatic=True, author_id=None)
    db.session.add(auto)
    signals.reply_released.send(ticket, message=auto, now=at(1))
    db.session.commit()
    assert ticket.sla_state == "on_track" and ticket.first_response_at is None
    assert sweep(at(61)).breaches


def test_private_reply_stops_a_public_comment_clock(app_ctx, make_user):
    ticket = make_ticket(kind="comment", sent_at=T0, now=T0)
    reply = Message(ticket=ticket, channel_id=ticket.channel.id, direction="out", visibility="private",
                    text="Te escribimos por DM", sent_at=at(20), author_id=make_user("cm").id)
    db.session.add(reply)
    signals.reply_released.send(ticket, message=reply, now=at(20))
    db.session.commit()
    assert ticket.sla_state == "met"


def test_next_response_clock_starts_at_the_oldest_unanswered_message(app_ctx, make_user):
    agent = make_user("cm")
    ticket = make_ticket(sent_at=T0, now=T0)
    add_agent_reply(ticket, agent, sent_at=at(10), now=at(10))
    add_customer_message(ticket, "Sigue sin llegar", sent_at=at(100), now=at(100))
    add_customer_message(ticket, "¿Me oís?", sent_at=at(130), now=at(130))
    clock = latest_clock(ticket)
    assert (clock.kind, clock.cycle, clock.started_at, clock.due_at) == ("next", 1, at(100), at(160))
    assert ticket.sla_state == "on_track" and ticket.first_response_at == at(10)
    assert sweep(at(160)).breaches and ticket.sla_state == "breached"
    add_agent_reply(ticket, agent, sent_at=at(170), now=at(170))
    assert ticket.sla_state == "late" and ticket.first_response_at == at(10)
    add_customer_message(ticket, "Gracias", sent_at=at(200), now=at(200))
    assert [(c.kind, c.cycle, c.state) for c in clocks_of(ticket.id)] == [
        ("first", 0, "met"), ("next", 1, "late"), ("next", 2, "on_track")]


def test_message_written_before_the_reply_does_not_open_a_next_clock(app_ctx, make_user):
    ticket = make_ticket(sent_at=T0, now=T0)
    add_agent_reply(ticket, make_user("cm"), sent_at=at(10), now=at(10))
    add_customer_message(ticket, "cruzado", sent_at=at(9), now=at(12))
    assert len(clocks_of(ticket.id)) == 1 and ticket.sla_state == "met"


def test_no_reply_needed_waives_even_after_a_breach(app_ctx):
    ticket = make_ticket(sent_at=T0, now=T0)
    sweep(at(61))
    ticket.status = "resolved"
    signals.ticket_resolved.send(ticket, now=at(70), resolution="no_reply_needed")
    db.session.commit()
    clock = latest_clock(ticket)
    assert ticket.sla_state == clock.state == "waived" and clock.breached_at == at(60)
    assert sweep(at(200)) == ([], [])


def test_resolving_closes_a_running_next_clock_but_not_an_unanswered_first(app_ctx, make_user):
    answered = make_ticket(sent_at=T0, now=T0)
    add_agent_reply(answered, make_user("cm"), sent_at=at(5), now=at(5))
    add_customer_message(answered, "¡Gracias! 🙌", sent_at=at(6), now=at(6))
    signals.ticket_resolved.send(answered, now=at(7), resolution="replied")
    unanswered = make_ticket(sent_at=T0, now=T0)
    signals.ticket_resolved.send(unanswered, now=at(7), resolution="replied")
    db.session.commit()
    assert answered.sla_state == "waived" and unanswered.sla_state == "on_track"


def test_reopened_ticket_starts_a_clock_for_the_waiting_message(app_ctx):
    ticket = make_ticket(sent_at=T0, now=T0)
    ticket.status = "resolved"
    signals.ticket_resolved.send(ticket, now=at(5), resolution="no_reply_needed")
    db.session.commit()
    add_customer_message(ticket, "Vuelvo a escribir", sent_at=at(30), now=at(30))
    assert ticket.sla_state == "waived"  # still resolved: ingest reopens next
    ticket.status = "open"
    signals.ticket_reopened.send(ticket, now=at(30))
    db.session.commit()
    clock = latest_clock(ticket)
    assert (clock.kind, clock.started_at, ticket.sla_state) == ("next", at(30), "on_track")


def test_policies_match_in_order_and_the_default_catches_the_rest(app_ctx):
    base = dict(first_response_minutes=30, next_response_minutes=90, warning_minutes=5)
    vip = save_policy({**base, "name": "VIP", "position": 1, "vip": True, "first_response_minutes": 15})
    x_dm = save_policy({**base, "name": "X DMs", "position": 2, "platform": "x", "kind": "dm"})
    save_policy({**base, "name": "Off", "position": 0, "active": False})
    x = make_channel("x")
    vip_customer = make_customer("Marta Ibáñez", platform="x", vip=True)
    assert policy_for(make_ticket(channel=x, customer=vip_customer, sent_at=T0, now=T0)) == vip
    ticket = make_ticket(channel=x, sent_at=T0, now=T0)
    assert ticket.sla_policy_id == x_dm.id and ticket.sla_due_at == at(30) and ticket.sla_warn_at == at(25)
    other = make_ticket(channel=make_channel("facebook"), sent_at=T0, now=T0)
    assert other.sla_policy_id == default_policy().id and other.sla_due_at == at(60)
    assert db.session.scalar(db.select(db.func.count()).select_from(SlaPolicy).where(SlaPolicy.is_default)) == 1


def test_warning_in_percent_and_next_target(app_ctx, make_user):
    save_policy({"name": "Percent", "position": 1, "first_response_minutes": 40,
                 "next_response_minutes": 120, "warning_percent": 25})
    ticket = make_ticket(sent_at=T0, now=T0)
    assert ticket.sla_warn_at == at(30)
    add_agent_reply(ticket, make_user("cm"), sent_at=at(1), now=at(1))
    add_customer_message(ticket, "otra", sent_at=at(2), now=at(2))
    assert ticket.sla_due_at == at(122) and ticket.sla_warn_at == at(92)


def test_business_hours_policy_skips_the_night(app_ctx):
    cal = save_calendar("Madrid office", "Europe/Madrid",
                        {d: [["09:00", "14:00"], ["15:00", "18:00"]] for d in range(5)}, [])
    save_policy({"name": "Office", "position": 1, "first_response_minutes": 60,
                 "next_response_minutes": 60, "warning_minutes": 15, "calendar_id": cal.id})
    friday_evening = datetime(2026, 3, 13, 16, 45, tzinfo=timezone.utc)  # 17:45 in Madrid
    ticket = make_ticket(sent_at=friday_evening, now=friday_evening)
    assert ticket.sla_due_at == datetime(2026, 3, 16, 8, 45, tzinfo=timezone.utc)  # Mon 09:45
    assert ticket.sla_warn_at == datetime(2026, 3, 16, 8, 30, tzinfo=timezone.utc)
    assert latest_clock(ticket).business_hours is True
    assert db.session.get(BusinessCalendar, cal.id).to_calendar().timezone == "Europe/Madrid"


def test_invalid_policies_are_refused_without_writing(app_ctx):
    import pytest

    from desk.core.errors import DeskError
    for bad in ({"name": "", "first_response_minutes": 60, "next_response_minutes": 60},
                {"name": "a", "first_response_minutes": 0, "next_response_minutes": 60},
                {"name": "a", "first_response_minutes": 60, "next_response_minutes": 60, "platform": "myspace"},
                {"name": "a", "first_response_minutes": 60, "next_response_minutes": 60, "warning_percent": 150}):
        with pytest.raises(DeskError):
            save_policy(bad)
    assert db.session.scalar(db.select(db.func.count()).select_from(SlaPolicy)) == 0


def test_one_clock_per_ticket_kind_and_cycle_is_enforced_by_the_database(app_ctx):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from desk.sla.policies import SlaClock
    ticket = make_ticket(sent_at=T0, now=T0)
    twin = SlaClock(ticket_id=ticket.id, kind="first", cycle=0, target_minutes=60,
                    started_at=T0, warn_at=at(45), due_at=at(60))
    db.session.add(twin)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert len(clocks_of(ticket.id)) == 1


def test_a_priority_change_moves_a_running_clock_to_the_matching_policy(app_ctx, make_user):
    from desk.inbox.actions import set_priority
    lead = make_user("lead")
    urgent = save_policy({"name": "Urgent", "position": 1, "priority": "urgent",
                          "first_response_minutes": 15, "next_response_minutes": 30,
                          "warning_minutes": 5})
    ticket = make_ticket(sent_at=T0, now=T0)
    set_priority(ticket.id, lead, "urgent", at(2))
    clock = latest_clock(ticket)
    assert clock.policy_id == urgent.id == ticket.sla_policy_id
    assert (clock.started_at, clock.due_at, clock.warn_at) == (T0, at(15), at(10))
    assert (ticket.sla_due_at, ticket.first_response_due_at) == (at(15), at(15))
    set_priority(ticket.id, lead, "normal", at(12))  # back to the default: an hour from T0
    assert latest_clock(ticket).due_at == at(60) and ticket.sla_policy_id == default_policy().id
    assert len(clocks_of(ticket.id)) == 1


def test_a_priority_change_leaves_a_breach_standing(app_ctx, make_user):
    from desk.inbox.actions import set_priority
    save_policy({"name": "Low", "position": 1, "priority": "low", "first_response_minutes": 240,
                 "next_response_minutes": 240})
    ticket = make_ticket(sent_at=T0, now=T0)
    sweep(at(61))
    set_priority(ticket.id, make_user("lead"), "low", at(62))
    assert ticket.sla_state == "breached" and latest_clock(ticket).due_at == at(60)
