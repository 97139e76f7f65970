"""A person's rights over their data: an export holding everything the desk keeps about them,
an erasure after which no page, export or table still shows them while the service report
does not change, and the retention purge of old message text."""
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from desk.accounts.audit import Actor, AuditEvent
from desk.core.errors import Conflict
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerNote, CustomerTag
from desk.escalation.crisis import CrisisSignal, Incident
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Note, Ticket
from desk.intake.events import InboundEvent
from desk.notify.notifications import Notification
from desk.notify.webhooks import WebhookDelivery
from desk.people import merge, privacy, purge
from desk.reports.periods import ReportFilter
from desk.reports.refresh import refresh_rollup
from desk.reports.service import service_report
from desk.replies.models import CannedReply, ReplyExample
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket

NOW = datetime(2026, 9, 5, 12, 0, tzinfo=UTC)
JUNE = ReportFilter(start=datetime(2026, 6, 1, tzinfo=UTC), end=datetime(2026, 7, 1, tzinfo=UTC))
NAME, EMAIL, PHONE = "Marisol Quintanilla", "marisol.q@example.com", "+34611987654"
HANDLE, PLATFORM_ID = "marisolq", "ig-5550001"
SECRET = "zapatillaszx9"  # a word only her messages hold
SECRETS = (NAME, EMAIL, PHONE, HANDLE, PLATFORM_ID, SECRET, "Marisol")


def at(day, hour=10):
    return datetime(2026, 6, day, hour, tzinfo=UTC)


@pytest.fixture
def marisol(app_ctx, make_user):
    """A customer with two served tickets (Instagram DM, Facebook comment), a rated survey with
    a comment, activity, notes, a tag, a crisis incident named after her complaint, a
    notification, a suggestion example, the raw platform event and an outgoing event."""
    agent = make_user("cm", name="Ana Agent")
    instagram, facebook = make_channel("instagram", name="IG"), make_channel("facebook", name="FB")
    person = make_customer(name=NAME, platform="instagram", email=EMAIL)
    person.phone, person.timezone = PHONE, "Europe/Madrid"
    person.identities[0].platform_user_id, person.identities[0].handle = PLATFORM_ID, HANDLE
    other = make_customer(name="Jorge Ruiz", platform="facebook")
    db.session.add(CustomerNote(customer_id=person.id, body=f"{NAME} prefiere WhatsApp",
                                created_at=at(1)))
    person.tags.append(CustomerTag(name="wholesale"))
    db.session.commit()
    tickets = []
    for channel, kind, day in ((instagram, "dm", 2), (facebook, "comment", 20)):
        ticket = make_ticket(f"Hola, soy {NAME}: mis {SECRET} no llegan", channel=channel,
                             customer=person, kind=kind, sent_at=at(day), now=at(day))
        reply = add_agent_reply(ticket, agent, f"Hola Marisol, revisamos tus {SECRET}",
                                sent_at=at(day, 11), now=at(day, 11))
        ticket.status, ticket.resolved_at, ticket.resolution = "resolved", at(day, 12), "replied"
        db.session.add(Note(ticket_id=ticket.id, author_id=agent.id, body=f"Llamar a {PHONE}",
                            created_at=at(day, 11)))
        tickets.append((ticket, reply))
    theirs = make_ticket("¿Abrís el domingo?", channel=facebook, customer=other, kind="comment",
                         sent_at=at(21), now=at(21))
    (dm, dm_reply), (comment, _reply) = tickets
    db.session.add(Survey(ticket_id=dm.id, customer_id=person.id, state="sent",
                          token_hash="a" * 64, sent_at=at(2, 13), created_at=at(2, 13),
                          expires_at=at(16), rating=2, comment=f"Las {SECRET} siguen sin llegar",
                          answered_at=at(2, 14)))
    db.session.add(ActivityEvent(customer_id=person.id, kind="purchase", occurred_at=at(25),
                                 source="shop", external_id="order-881",
                                 data={"item": "talla 38 roja", "email": EMAIL}))
    first = db.session.scalar(select(Message).where(Message.ticket_id == dm.id,
                                                    Message.direction == "in"))
    incident = Incident(title=" ".join(first.text.split()), status="open", created_at=at(2))
    db.session.add(incident)
    db.session.flush()
    # Her complaint is negative: crisis detection kept its words (or is told to here).
    signal = db.session.scalar(select(CrisisSignal).where(CrisisSignal.message_id == first.id))
    signal = signal or CrisisSignal(message_id=first.id, ticket_id=dm.id, at=at(2))
    signal.text_key, signal.incident_id = SECRET, incident.id
    db.session.add(signal)
    reply = CannedReply(key="pedido", title="Pedido", body="Lo revisamos", language="es")
    db.session.add(reply)
    db.session.flush()
    db.session.add(ReplyExample(canned_reply_id=reply.id, ticket_id=dm.id, message_id=dm_reply.id,
                                text=first.text, language="es", created_at=at(2, 11)))
    db.session.add(Notification(user_id=agent.id, kind="mention", ticket_id=dm.id,
                                text=f"{NAME} escribió otra vez en {dm.reference}",
                                message="%(name)s wrote again on %(ref)s",
                                params=json.dumps({"name": NAME, "ref": dm.reference}),
                                dedupe_key="again", created_at=at(2)))
    payload = {"entry": [{"messaging": [{"sender": {"id": PLATFORM_ID},
                                         "message": {"text": first.text}}]}]}
    db.session.add(InboundEvent(source="meta", dedupe_key="meta:m-1", payload=json.dumps(payload),
                                status="processed", received_at=at(2), processed_at=at(2)))
    db.session.add(InboundEvent(source="meta", dedupe_key="meta:m-2", status="processed",
                                payload=json.dumps({"sender": {"id": "ig-5550001999"}}),
                                received_at=at(2), processed_at=at(2)))
    db.session.add(WebhookDelivery(msg_id="msg_1", event_type="message.created", created_at=at(2),
                                   status="delivered", payload={
                                       "type": "message.created", "data": {
                                           "ticket": {"ticket_id": dm.id, "customer_id": person.id},
                                           "message": {"text": first.text}}}))
    db.session.add(WebhookDelivery(msg_id="msg_2", event_type="ticket.created", created_at=at(21),
                                   status="delivered", payload={
                                       "type": "ticket.created", "data": {
                                           "ticket": {"ticket_id": theirs.id, "customer_id": other.id,
                                                      "subject": "¿Abrís el domingo?"}}}))
    db.session.commit()
    return {"agent": agent, "id": person.id, "other": other.id, "dm": dm.id,
            "comment": comment.id, "theirs": theirs.id, "incident": incident.id}


def _figures(live=False):
    data = service_report(JUNE, NOW, live=live).as_dict()
    data.pop("generated_at")
    return data


def _everything_stored() -> str:
    """Every row of every table of the desk, as one text."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_the_export_holds_everything_the_desk_keeps_about_the_person(marisol, client, login,
                                                                       make_user):
    login(make_user("smm"))
    response = client.post(f"/customers/{marisol['id']}/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="customer-{marisol["id"]}.json"'
    document = json.loads(response.data)
    assert document["customer"]["name"] == NAME and document["customer"]["email"] == EMAIL
    assert document["customer"]["phone"] == PHONE and document["customer"]["tags"] == ["wholesale"]
    assert [(i["platform"], i["platform_user_id"], i["handle"]) for i in document["identities"]] == [
        ("instagram", PLATFORM_ID, HANDLE)]
    assert [t["reference"] for t in document["tickets"]] == [f"T-{marisol['dm']:06d}",
                                                             f"T-{marisol['comment']:06d}"]
    for ticket in document["tickets"]:
        assert [m["from"] for m in ticket["messages"]] == ["customer", "brand"]
        assert all(SECRET in m["text"] for m in ticket["messages"])
    assert document["surveys"][0]["rating"] == 2 and SECRET in document["surveys"][0]["comment"]
    assert document["activity"][0]["data"] == {"item": "talla 38 roja", "email": EMAIL}
    assert document["notes"][0]["text"] == f"{NAME} prefiere WhatsApp"
    assert "Jorge" not in response.text and "domingo" not in response.text  # only hers
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.exported"))
    assert (event.object_type, event.object_id, event.data) == ("customer", marisol["id"], {"tickets": 2})


def test_after_erasure_no_page_export_or_table_shows_her_and_the_report_is_unchanged(
        marisol, client, login, make_user):
    refresh_rollup(NOW, full=True)
    before = _figures()
    admin = make_user("admin")
    login(admin)
    # Before: the searches below find her (so their silence afterwards means something).
    assert f"/tickets/{marisol['dm']}\"" in client.get(f"/inbox?view=resolved&q={SECRET}").text
    assert f"/customers/{marisol['id']}\"" in client.get(f"/customers?q={HANDLE}").text
    confirm = client.get(f"/customers/{marisol['id']}/erase")
    assert confirm.status_code == 200 and 'id="erase-counts"' in confirm.text
    response = client.post(f"/customers/{marisol['id']}/erase", data={"confirm": "erase"})
    assert response.status_code == 302

    # Figures: the same, rolled up and live.
    refresh_rollup(NOW)
    after = _figures()
    assert after == before and after == _figures(live=True)
    assert after["totals"]["volume"] == 3 and after["totals"]["surveys_answered"] == 1

    # Only the events that name her exact id are emptied (a longer id is someone else's).
    near_miss = db.session.scalar(select(InboundEvent).where(InboundEvent.dedupe_key == "meta:m-2"))
    assert "ig-5550001999" in near_miss.payload
    db.session.delete(near_miss)
    db.session.commit()
    # No table holds her any more, in any column (Jorge's rows are untouched).
    stored = _everything_stored()
    assert [s for s in SECRETS if s in stored] == []
    assert "¿Abrís el domingo?" in stored
    customer = db.session.get(Customer, marisol["id"])
    assert customer.display_name == f"C-{marisol['id']:06d}" and customer.erased_at is not None
    assert customer.identities == [] and customer.name_known is False
    # Rows the figures count are kept: tickets, messages, the rating, the purchase.
    assert db.session.scalar(select(func.count()).select_from(Message).where(
        Message.ticket_id.in_([marisol["dm"], marisol["comment"]]))) == 4
    assert db.session.scalar(select(Survey.rating).where(Survey.ticket_id == marisol["dm"])) == 2
    assert db.session.scalar(select(func.count()).select_from(ActivityEvent)) == 1
    assert db.session.get(Incident, marisol["incident"]).title == f"#{marisol['incident']}"

    # No page shows her: her page, her tickets, searches, notifications, audit, the incident.
    pages = [f"/customers/{marisol['id']}", f"/tickets/{marisol['dm']}",
             f"/tickets/{marisol['comment']}", "/inbox?view=resolved", "/admin/audit?who=all",
             f"/escalations/incidents/{marisol['incident']}"]
    for page in pages:
        shown = client.get(page)
        assert shown.status_code == 200, page
        assert [s for s in SECRETS if s in shown.text] == [], page
    # Searches for her (the search box repeats the words) find none of her tickets or records.
    for search in (f"/inbox?view=resolved&q={SECRET}", "/inbox?view=resolved&q=Marisol",
                   "/customers?q=Marisol", f"/customers?q={EMAIL}", f"/customers?q={HANDLE}"):
        shown = client.get(search)
        assert shown.status_code == 200, search
        assert f"/tickets/{marisol['dm']}\"" not in shown.text, search
        assert f"/customers/{marisol['id']}\"" not in shown.text, search
    assert 'id="customer-erased"' in client.get(f"/customers/{marisol['id']}").text
    assert "Text removed" in client.get(f"/tickets/{marisol['dm']}").text
    export = client.post(f"/customers/{marisol['id']}/export")
    assert export.status_code == 200 and [s for s in SECRETS if s in export.text] == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.erased"))
    assert (event.object_id, event.user_id, event.data["tickets"]) == (marisol["id"], admin.id, 2)
    # An erasure happens once.
    again = client.post(f"/customers/{marisol['id']}/erase", data={"confirm": "erase"})
    assert again.status_code == 409


def test_after_the_erasure_a_new_message_starts_a_new_customer_and_no_reply_goes(marisol):
    privacy.erase_customer(marisol["id"], by=Actor(), now=NOW)
    dm = db.session.get(Ticket, marisol["dm"])
    assert dm.thread_key == f"erased:{dm.id}" and dm.subject == ""
    newcomer = make_customer(name="Marisol Q", platform="instagram")
    assert newcomer.id != marisol["id"]
    from desk.inbox.outbound import create_reply
    with pytest.raises(Conflict):  # nobody left to send it to
        create_reply(dm.id, marisol["agent"].id, "Hola", "private", NOW)


def test_erasure_is_for_smm_and_admin_and_needs_the_confirmation(marisol, client, login, make_user):
    login(make_user("lead"))
    assert client.post(f"/customers/{marisol['id']}/erase", data={"confirm": "erase"}).status_code == 403
    assert client.post(f"/customers/{marisol['id']}/export").status_code == 403
    assert client.get(f"/customers/{marisol['id']}/erase").status_code == 403
    page = client.get(f"/customers/{marisol['id']}")
    assert 'id="customer-erase"' not in page.text and 'id="customer-export"' not in page.text
    assert db.session.get(Customer, marisol["id"]).erased_at is None


def test_an_unconfirmed_erasure_is_a_400_that_changes_nothing(marisol, client, login, make_user):
    login(make_user("smm"))
    response = client.post(f"/customers/{marisol['id']}/erase", data={})
    assert response.status_code == 400 and 'id="erase-error"' in response.text
    db.session.expire_all()
    assert db.session.get(Customer, marisol["id"]).display_name == NAME
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "customer.erased")) == 0


def test_erasing_a_merged_person_erases_both_records_and_the_merge_cannot_be_undone(marisol):
    by = Actor(user_id=marisol["agent"].id)
    duplicate = make_customer(name="Marisol Quintanilla G", platform="whatsapp",
                              email="mq@example.com")
    record = merge.merge(marisol["id"], duplicate.id, by=by, now=NOW)
    privacy.erase_customer(marisol["id"], by=by, now=NOW)
    merged = db.session.get(Customer, duplicate.id)
    assert merged.display_name == f"C-{duplicate.id:06d}" and merged.email is None
    assert "mq@example.com" not in _everything_stored()
    with pytest.raises(Conflict):
        merge.undo(record.id, by=by, now=NOW)


def test_the_commands_export_and_erase(marisol, app):
    runner = CliRunner()
    exported = runner.invoke(app.cli, ["customers", "export", str(marisol["id"])])
    assert exported.exit_code == 0 and json.loads(exported.output)["customer"]["email"] == EMAIL
    refused = runner.invoke(app.cli, ["customers", "erase", str(marisol["id"])])
    assert refused.exit_code != 0 and "--yes" in refused.output
    erased = runner.invoke(app.cli, ["customers", "erase", str(marisol["id"]), "--yes"])
    assert erased.exit_code == 0 and "2 tickets, 4 messages, 1 raw events" in erased.output
    db.session.expire_all()
    assert db.session.get(Customer, marisol["id"]).erased_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.erased"))
    assert event.source == "cli"


@pytest.mark.parametrize("now,months,cutoff", [
    (datetime(2026, 9, 5, 3, 30, tzinfo=UTC), 3, datetime(2026, 6, 5, 3, 30, tzinfo=UTC)),
    (datetime(2026, 3, 31, 3, 30, tzinfo=UTC), 1, datetime(2026, 2, 28, 3, 30, tzinfo=UTC)),
    (datetime(2026, 1, 15, tzinfo=UTC), 13, datetime(2024, 12, 15, tzinfo=UTC)),
    (datetime(2028, 5, 31, tzinfo=UTC), 3, datetime(2028, 2, 29, tzinfo=UTC)),
])
def test_the_retention_cutoff_counts_calendar_months(now, months, cutoff):
    assert purge.retention_cutoff(now, months) == cutoff


def test_the_retention_purge_removes_old_text_only_and_keeps_the_figures(marisol):
    august = datetime(2026, 8, 20, tzinfo=UTC)
    recent = make_ticket("¿Y el lunes?", channel=db.session.get(Ticket, marisol["theirs"]).channel,
                         customer=db.session.get(Customer, marisol["other"]), kind="comment",
                         sent_at=august, now=august)
    refresh_rollup(NOW, full=True)
    before = _figures()
    old_signals = db.session.scalar(select(func.count()).select_from(CrisisSignal).where(
        CrisisSignal.at < datetime(2026, 7, 5, tzinfo=UTC)))
    assert old_signals >= 1
    assert purge.purge_old_text(NOW, 0).total == 0  # off
    result = purge.purge_old_text(NOW, 2)  # cutoff 5 July: June's text goes
    assert result.messages == 5 and result.comments == 1 and result.examples == 1
    assert result.raw_events == 2 and result.deliveries == 2 and result.signals == old_signals
    assert result.subjects == 3 and result.incidents == 1
    assert recent.messages[0].text == "¿Y el lunes?" and recent.subject == "¿Y el lunes?"
    stored = _everything_stored()
    assert SECRET not in stored and "domingo" not in stored
    assert NAME in stored  # the purge removes text, not people
    assert purge.purge_old_text(NOW, 2).total == 0  # a second run finds nothing left
    refresh_rollup(NOW)
    assert _figures() == before


def test_the_nightly_job_purges_only_when_a_retention_is_set(marisol, app, run_jobs, monkeypatch):
    from desk.core.clock import now as clock_now
    from desk.core.queue import enqueue
    from workers.schedule import cron_registrations
    jobs = {func.__name__: cron for func, _queue, cron in cron_registrations(app.config)}
    assert jobs["purge_old_text"] == "30 3 * * *"
    fresh = make_ticket("¿Y hoy?", channel=db.session.get(Ticket, marisol["theirs"]).channel,
                        customer=db.session.get(Customer, marisol["other"]), kind="comment",
                        sent_at=clock_now())
    fresh_id = fresh.id
    enqueue("default", "workers.customers.purge_old_text")
    run_jobs()
    assert SECRET in _everything_stored()  # off by default
    monkeypatch.setitem(app.config, "TEXT_RETENTION_MONTHS", 2)
    enqueue("default", "workers.customers.purge_old_text")
    run_jobs()
    db.session.expire_all()
    assert SECRET not in _everything_stored()
    assert db.session.get(Ticket, fresh_id).messages[0].text == "¿Y hoy?"
