"""Each person chooses what reaches them, in the desk and by e-mail: the Preferences page
stores it (audited), escalations, SLA events and the weekly report follow it, and a topic
that does not reach a role is not offered to it."""
from datetime import datetime, timezone

from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core.extensions import db
from desk.escalation.escalations import escalate
from desk.notify.notifications import Notification
from desk.sla.sweep import sweep
from tests.factories import make_ticket, minutes

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def _save(client, *on, locale="en", zone="Europe/Madrid"):
    return client.post("/preferences", data={"locale": locale, "timezone": zone,
                                             "notify": list(on)})


def test_the_page_offers_each_role_its_topics_and_stores_the_choice(app_ctx, client, login, make_user):
    cm = make_user("cm")
    login(cm)
    page = client.get("/preferences").text
    assert 'value="sla.mail"' in page and 'value="mention.app"' in page
    assert 'id="notify-weekly_report"' not in page and 'id="notify-channels"' not in page
    assert _save(client, "sla.app", "escalation.app", "escalation.mail", "approval.app").status_code == 302
    db.session.expire_all()
    prefs = db.session.get(User, cm.id).notification_prefs
    assert prefs["sla"] == {"app": True, "mail": False} and prefs["mention"] == {"app": False}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.notifications_changed"))
    assert event.object_id == cm.id and event.data["changed"] == ["mention", "sla"]
    assert 'value="sla.mail" checked' not in client.get("/preferences").text


def test_an_unknown_choice_is_a_400_that_changes_nothing(app_ctx, client, login, make_user):
    lead = make_user("lead")
    login(lead)
    assert _save(client, "sla.app", "weekly_report.mail").status_code == 400  # not a lead's
    assert _save(client, "sla.fax").status_code == 400
    db.session.expire_all()
    stored = db.session.get(User, lead.id)
    assert stored.notification_prefs is None and stored.timezone != "Europe/Madrid"  # nothing half-saved


def test_escalations_reach_people_only_the_ways_they_chose(app, client, login, make_user,
                                                          smtp_server, run_jobs):
    quiet = make_user("smm", email="quiet@desk.test")
    mail_only = make_user("smm", email="mail-only@desk.test")
    everything = make_user("smm", email="all@desk.test")
    with app.app_context():
        for user, prefs in ((quiet, {"escalation": {"app": False, "mail": False}}),
                            (mail_only, {"escalation": {"app": False, "mail": True}})):
            db.session.get(User, user.id).notification_prefs = prefs
        db.session.commit()
        ticket = make_ticket("Esto es inaceptable", now=T0)
        escalate(ticket.id, "complaint", 2, "", T0, rule="test")
        notified = set(db.session.scalars(select(Notification.user_id)))
    run_jobs()
    assert notified == {everything.id}
    [(recipients, _mail)] = smtp_server.messages
    assert recipients == ["all@desk.test", "mail-only@desk.test"]


def test_sla_notifications_follow_the_choice(app_ctx, make_user):
    lead, other = make_user("lead"), make_user("lead")
    db.session.get(User, lead.id).notification_prefs = {"sla": {"app": False, "mail": True}}
    db.session.commit()
    make_ticket("¿Hola?", now=T0)
    sweep(T0 + minutes(61))
    db.session.commit()
    sla = set(db.session.execute(select(Notification.user_id, Notification.kind)
                                 .where(Notification.kind.like("sla_%"))))
    assert sla == {(other.id, "sla_breach")}
