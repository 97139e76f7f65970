"""Out-of-hours acknowledgements: a DM while the channel is closed gets one automatic reply in
the customer's language saying when the team is back, once per conversation per closed
period; its SLA clock keeps running and it still waits for an agent; public comments only
when the channel says so; leads set it up (audited), others cannot; bad settings are 400s."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from desk.accounts.audit import AuditEvent
from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from desk.routing.out_of_hours import OutOfHoursReply
from desk.sla.policies import BusinessCalendar
from tests.factories import add_customer_message, make_channel, make_ticket

SATURDAY = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # 13:00 in Madrid: the office is closed
MONDAY_OPEN = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 09:00 in Madrid


@pytest.fixture
def office(app_ctx):
    weekdays = {str(day): [["09:00", "18:00"]] for day in range(5)}
    calendar = BusinessCalendar(name="Oficina Madrid", timezone="Europe/Madrid", windows=weekdays)
    db.session.add(calendar)
    channel = make_channel("facebook", name="Tienda Sol")
    db.session.flush()
    db.session.add(OutOfHoursReply(channel_id=channel.id, calendar_id=calendar.id, active=True,
                                   text_es="¡Hola! Estamos cerrados; te respondemos el {opens}.",
                                   text_en="Hi! We're closed; we'll answer on {opens}.",
                                   public_too=False, updated_at=SATURDAY))
    db.session.commit()
    return channel


def _acks(ticket_id: int) -> list[Message]:
    db.session.expire_all()
    return list(db.session.scalars(select(Message).where(
        Message.ticket_id == ticket_id, Message.direction == "out").order_by(Message.id)))


def test_a_dm_while_closed_gets_one_acknowledgement_in_spanish_and_the_clock_runs(office):
    ticket = make_ticket("¿Dónde está mi pedido?", channel=office, kind="dm", sent_at=SATURDAY,
                         now=SATURDAY)
    [ack] = _acks(ticket.id)
    assert ack.automatic and ack.visibility == "private" and ack.author_id is None
    assert ack.text == "¡Hola! Estamos cerrados; te respondemos el lunes a las 9:00."
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.sla_state in ("on_track", "at_risk", "breached") and ticket.first_response_at is None
    assert ticket.last_message_at == ticket.last_customer_message_at == SATURDAY  # still waiting
    later = SATURDAY + timedelta(minutes=10)
    add_customer_message(ticket, "¿Hola?", sent_at=later, now=later)
    assert len(_acks(ticket.id)) == 1  # once per closed period
    add_customer_message(ticket, "Buenos días", sent_at=MONDAY_OPEN + timedelta(hours=1),
                         now=MONDAY_OPEN + timedelta(hours=1))
    assert len(_acks(ticket.id)) == 1  # open: nothing automatic
    next_saturday = SATURDAY + timedelta(days=7)
    add_customer_message(ticket, "¿Seguís ahí?", sent_at=next_saturday, now=next_saturday)
    assert len(_acks(ticket.id)) == 2  # a new closed period


def test_an_english_customer_reads_it_in_english(office):
    ticket = make_ticket("Where is my order?", channel=office, kind="dm", sent_at=SATURDAY,
                         now=SATURDAY, language="en")
    assert [m.text for m in _acks(ticket.id)] == ["Hi! We're closed; we'll answer on Monday at 9:00 AM."]


def test_public_comments_only_when_the_channel_says_so(office):
    comment = make_ticket("Vaya servicio", channel=office, kind="comment", sent_at=SATURDAY,
                          now=SATURDAY)
    assert _acks(comment.id) == []
    db.session.get(OutOfHoursReply, office.id).public_too = True
    db.session.commit()
    again = make_ticket("¿Abrís hoy?", channel=office, kind="comment", sent_at=SATURDAY,
                        now=SATURDAY)
    [ack] = _acks(again.id)
    assert ack.visibility == "public"


def test_a_lead_sets_it_up_and_a_cm_cannot(app_ctx, client, login, make_user):
    channel = make_channel("instagram", name="IG Sol")
    calendar = BusinessCalendar(name="Horario", timezone="America/Mexico_City",
                                windows={"0": [["09:00", "17:00"]]})
    db.session.add(calendar)
    db.session.commit()
    login(make_user("cm"))
    form = {"active": "on", "calendar_id": calendar.id, "text_es": "Cerrado hasta {opens}",
            "text_en": "Closed until {opens}"}
    assert client.post(f"/routing/out-of-hours/{channel.id}", data=form).status_code == 403
    client.post("/logout")
    lead = make_user("lead")
    login(lead)
    page = client.get(f"/routing?ooh={channel.id}")
    assert page.status_code == 200 and 'id="ooh-form"' in page.text
    assert client.post(f"/routing/out-of-hours/{channel.id}", data=form).status_code == 302
    rule = db.session.get(OutOfHoursReply, channel.id)
    assert (rule.active, rule.calendar_id, rule.public_too) == (True, calendar.id, False)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "channel.out_of_hours_changed"))
    assert (event.object_id, event.user_id) == (channel.id, lead.id)


@pytest.mark.parametrize("change", [{"calendar_id": ""}, {"calendar_id": "999"}, {"text_es": " "},
                                    {"text_en": "Closed {until}"}, {"text_es": "x" * 601}])
def test_bad_settings_are_a_400_that_saves_nothing(app_ctx, client, login, make_user, change):
    channel = make_channel("instagram", name="IG Sol")
    calendar = BusinessCalendar(name="Horario", timezone="Europe/Madrid", windows={"0": [["09:00", "17:00"]]})
    db.session.add(calendar)
    db.session.commit()
    login(make_user("lead"))
    form = {"active": "on", "calendar_id": str(calendar.id), "text_es": "Cerrado", "text_en": "Closed",
            **change}
    response = client.post(f"/routing/out-of-hours/{channel.id}", data=form)
    assert response.status_code == 400 and 'id="routing-error"' in response.text
    assert db.session.scalar(select(func.count()).select_from(OutOfHoursReply)) == 0
