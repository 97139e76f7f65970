"""The notification centre (list, badge count, mark read) and escalation e-mail through a
real SMTP server on loopback (aiosmtpd)."""
from datetime import datetime, timezone

from sqlalchemy import select

from desk.accounts.users import User
from desk.core.extensions import db
from desk.escalation.escalations import acknowledge, escalate
from desk.escalation.rules import ladder_sweep
from desk.notify.notifications import Notification, notify
from tests.factories import make_ticket, minutes

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def test_notify_is_idempotent_per_user_and_key(app_ctx, make_user):
    a, b = make_user("smm"), make_user("smm")
    notify([a.id], "escalation", "uno", dedupe_key="k1", now=T0)
    notify([a.id, b.id], "escalation", "uno otra vez", dedupe_key="k1", now=T0)
    db.session.commit()
    rows = db.session.scalars(select(Notification).order_by(Notification.user_id)).all()
    assert [(n.user_id, n.text) for n in rows] == [(a.id, "uno"), (b.id, "uno otra vez")]


def test_centre_lists_counts_and_marks_read(app, client, login, make_user):
    me, other = make_user("smm"), make_user("smm")
    with app.app_context():
        for i in range(3):
            notify([me.id], "escalation", f"T-{i} escalado <script>x</script>", dedupe_key=f"n{i}",
                   link=f"/tickets/{i}", now=T0 + minutes(i))
        notify([other.id], "escalation", "not yours", dedupe_key="o1", now=T0)
        db.session.commit()
        mine = db.session.scalars(select(Notification.id).where(Notification.user_id == me.id)
                                  .order_by(Notification.id)).all()
        theirs = db.session.scalar(select(Notification.id).where(Notification.user_id == other.id))
    login(me)
    badge = client.get("/notifications/badge")
    assert badge.status_code == 200 and b'data-count="3"' in badge.data
    page = client.get("/notifications")
    assert page.status_code == 200 and page.data.count(b'class="notification kind-escalation unread"') == 3
    assert b"<script>x</script>" not in page.data and b"&lt;script&gt;" in page.data
    assert b"not yours" not in page.data
    response = client.post(f"/notifications/{mine[0]}/read", headers={"HX-Request": "true"})
    assert response.status_code == 200 and b'id="notification-list"' in response.data
    assert b'data-count="2"' in client.get("/notifications/badge").data
    client.post(f"/notifications/{theirs}/read")  # someone else's: left alone
    assert client.post("/notifications/read-all").status_code == 302
    assert b'data-count="0"' in client.get("/notifications/badge").data
    with app.app_context():
        assert db.session.get(Notification, theirs).read_at is None


def test_bell_is_in_the_navigation(client, login, make_user):
    login(make_user("cm"))
    page = client.get("/preferences")
    assert b'id="notification-bell"' in page.data and b"/notifications/badge" in page.data
    assert b"escalations.css" in page.data


def test_centre_needs_sign_in(client):
    assert client.get("/notifications").status_code == 302
    assert client.get("/notifications/badge").status_code == 302




def test_escalation_mail_goes_to_the_levels_people(app, make_user, smtp_server, run_jobs):
    smm = make_user("smm", email="smm@desk.test")
    make_user("lead", email="lead@desk.test")
    cm = make_user("cm")
    with app.app_context():
        ticket = make_ticket("Esto es inaceptable", now=T0)
        escalation_id = escalate(ticket.id, "complaint", 2, "Cliente con 80k seguidores", T0,
                                 user_id=cm.id).id
        reference = ticket.reference
    run_jobs()
    [(recipients, mail)] = smtp_server.messages
    assert recipients == ["smm@desk.test"]
    assert reference in mail["Subject"] and "Complaint" in mail["Subject"]
    body = mail.get_payload(decode=True).decode()
    assert "Cliente con 80k seguidores" in body and "http://desk.test/tickets/" in body
    # The reminder at the deadline is mailed too; once acknowledged, nothing more.
    with app.app_context():
        ladder_sweep(T0 + minutes(15))
    run_jobs()
    assert len(smtp_server.messages) == 2 and "Reminder" in smtp_server.messages[1][1]["Subject"]
    with app.app_context():
        acknowledge(escalation_id, db.session.get(User, smm.id), T0 + minutes(16))
        assert ladder_sweep(T0 + minutes(60))["renotified"] == 0
    run_jobs()
    assert len(smtp_server.messages) == 2


def test_no_smtp_no_mail_job(app, make_user, run_jobs):
    make_user("smm", email="smm2@desk.test")
    with app.app_context():
        ticket = make_ticket(now=T0)
        escalate(ticket.id, "other", 2, "", T0, rule="test")
    assert run_jobs() == 0


def test_each_recipient_reads_notifications_and_mail_in_their_language(app, make_user, smtp_server,
                                                                      run_jobs):
    make_user("smm", email="smm-es@desk.test", locale="es")
    make_user("smm", email="smm-en@desk.test", locale="en")
    with app.app_context():
        ticket = make_ticket("El pedido no llega", now=T0)
        reference = ticket.reference
        escalate(ticket.id, "complaint", 2, "", T0)
        texts = dict(db.session.execute(select(User.locale, Notification.text)
                                        .join(User, User.id == Notification.user_id)).all())
    assert texts["es"].startswith(f"{reference} escalado a SMM (Queja)")
    assert texts["en"].startswith(f"{reference} escalated to SMM (Complaint)")
    run_jobs()
    subjects = {tuple(to): mail["Subject"] for to, mail in smtp_server.messages}
    assert subjects[("smm-es@desk.test",)].startswith("[desk] Escalado:")
    assert subjects[("smm-en@desk.test",)].startswith("[desk] Escalation:")


def test_stored_texts_are_shown_in_the_readers_language_and_time_zone(app, client, login, make_user):
    """A notification keeps a message id and its values: the reader sees it in the language
    and time zone they have today; a row from before keeps its text."""
    from desk.sla.policies import SlaClock
    from desk.sla.sweep import event_message
    reader = make_user("lead", locale="en")
    with app.app_context():
        ticket = make_ticket("¿Dónde está mi pedido?", now=T0)
        clock = db.session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket.id))
        notify([reader.id], "sla_warning", event_message("warning", clock, ticket),
               dedupe_key="w1", link=f"/tickets/{ticket.id}", ticket_id=ticket.id, now=T0)
        db.session.add(Notification(user_id=reader.id, kind="sla_warning", dedupe_key="old",
                                    text="T-9: first response due at 10:00 UTC is at risk.",
                                    created_at=T0))
        db.session.commit()
        reference = ticket.reference
    login(reader)
    english = client.get("/notifications").get_data(as_text=True)
    assert f"{reference}: first response due at 2 Mar 11:00 is at risk." in english
    with app.app_context():
        user = db.session.get(User, reader.id)
        user.locale, user.timezone = "es", "Europe/Madrid"
        db.session.commit()
    spanish = client.get("/notifications").get_data(as_text=True)
    assert f"{reference}: la primera respuesta que vence 2 mar 12:00 está en riesgo." in spanish
    assert "T-9: first response due at 10:00 UTC is at risk." in spanish  # the old row, as it was


def test_centre_groups_by_ticket_filters_pages_and_marks_groups_read(app, client, login, make_user):
    from desk.notify import centre
    me = make_user("lead")
    with app.app_context():
        tickets = [make_ticket(f"Pedido {n}", now=T0) for n in range(25)]
        for n, ticket in enumerate(tickets):
            for step, kind in enumerate(("sla_warning", "sla_breach", "escalation")):
                notify([me.id], kind, f"{ticket.reference} {kind}", dedupe_key=f"{ticket.id}-{kind}",
                       ticket_id=ticket.id, link=f"/tickets/{ticket.id}", now=T0 + minutes(n * 3 + step))
        notify([me.id], "mention", "sin ticket", dedupe_key="lone", now=T0 + minutes(200))
        db.session.commit()
        first = centre.grouped(me.id)
        assert [g.ticket_id for g in first.groups[:3]] == [None, tickets[-1].id, tickets[-2].id]
        assert len(first.groups) == 20 and first.has_more
        assert [(n.kind) for n in first.groups[1].items] == ["escalation", "sla_breach", "sla_warning"]
        second = centre.grouped(me.id, page=2)
        assert len(second.groups) == 6 and not second.has_more
        assert {g.ticket_id for g in first.groups + second.groups} == {None} | {t.id for t in tickets}
        breaches = centre.grouped(me.id, kind="sla_breach")
        assert all(len(g.items) == 1 and g.first.kind == "sla_breach" for g in breaches.groups)
        last_id, older_id = tickets[-1].id, tickets[0].id
    login(me)
    page = client.get("/notifications").get_data(as_text=True)
    assert page.count('class="notification ') == 20 and 'id="older-page"' in page
    assert "3 notifications on this ticket" in page
    assert f"{tickets[0].reference} escalation" in client.get("/notifications?page=2").get_data(as_text=True)
    # One ticket's group read at once; the unread filter then leaves it out.
    client.post(f"/notifications/tickets/{last_id}/read", data={"kind": "", "unread": "1"})
    unread_page = client.get("/notifications?unread=1").get_data(as_text=True)
    assert f'data-ticket="{last_id}"' not in unread_page and f'data-ticket="{tickets[-2].id}"' in unread_page
    # "Mark these read" under a kind filter marks only that kind.
    client.post("/notifications/read-all", data={"kind": "sla_warning"})
    with app.app_context():
        assert centre.grouped(me.id, kind="sla_warning", unread_only=True).groups == []
        assert centre.unread_count(me.id) == 24 * 2 + 1
        assert len(centre.grouped(me.id, unread_only=True, page=1).groups) == 20
    assert f'data-ticket="{older_id}"' in client.get("/notifications?unread=1&page=2").get_data(as_text=True)
    assert client.get("/notifications?kind=nonsense&page=99999999999").status_code == 200


def test_centre_gathers_a_crisis_incidents_tickets(app, client, login, make_user):
    from desk.escalation.crisis import Incident, incident_tickets
    smm = make_user("smm")
    with app.app_context():
        a, b, c = (make_ticket(f"la app no funciona {n}", now=T0) for n in range(3))
        incident = Incident(title="la app no funciona", status="open", created_at=T0)
        db.session.add(incident)
        db.session.flush()
        for ticket in (a, c):
            db.session.execute(incident_tickets.insert().values(incident_id=incident.id, ticket_id=ticket.id))
        for n, ticket in enumerate((a, b, c)):
            notify([smm.id], "escalation", f"{ticket.reference} escalado", dedupe_key=f"e{n}",
                   ticket_id=ticket.id, now=T0 + minutes(n))
        db.session.commit()
        refs = (a.reference, b.reference, c.reference)
    login(smm)
    page = client.get("/notifications").get_data(as_text=True)
    section = page.split('class="notification-section incident-section"')[1].split("</section>")[0]
    assert refs[0] in section and refs[2] in section and refs[1] not in section
