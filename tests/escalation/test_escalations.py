"""Escalations: by hand, by rule (breach, breach + minutes, VIP/reach, keywords), once per
(ticket, reason, level) even under a race, the ladder, acknowledgement, resolution, roles."""
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core import signals
from desk.core.extensions import db
from desk.escalation.escalations import Escalation, Forbidden, acknowledge, escalate, resolve
from desk.escalation.rules import ladder_sweep
from desk.escalation.settings import DEFAULT_KEYWORDS, matched_keywords, save_settings
from desk.inbox.tickets import Ticket
from desk.notify.notifications import Notification
from tests.factories import (
    add_agent_reply,
    add_customer_message,
    make_customer,
    make_ticket,
    minutes,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def _escalations(ticket_id=None):
    query = select(Escalation).order_by(Escalation.id)
    if ticket_id:
        query = query.where(Escalation.ticket_id == ticket_id)
    return db.session.scalars(query).all()


def _notified(user_id):
    return db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                              .order_by(Notification.id)).all()


def _user(user):
    return db.session.get(User, user.id)


@pytest.fixture
def team(make_user):
    return {"cm": make_user("cm"), "lead": make_user("lead"), "smm": make_user("smm")}


def test_cm_escalates_from_the_ticket_panel_once(app, client, login, team):
    with app.app_context():
        ticket_id = make_ticket("El pedido llegó roto", now=T0).id
    login(team["cm"])
    page = client.get(f"/tickets/{ticket_id}/escalation")
    assert page.status_code == 200 and b'id="escalation-panel-body"' in page.data
    assert b"Not escalated" in page.data
    for _ in range(2):
        response = client.post(f"/tickets/{ticket_id}/escalation", headers={"HX-Request": "true"},
                               data={"reason": "complaint", "level": "2", "note": "Cliente <b>muy</b> enfadado"})
        assert response.status_code == 200
    assert b"Escalated" in response.data and b"the SMM" in response.data
    assert b"Cliente &lt;b&gt;muy&lt;/b&gt; enfadado" in response.data  # escaped, never markup
    with app.app_context():
        [escalation] = _escalations(ticket_id)
        assert (escalation.reason, escalation.level, escalation.raised_by_id) == ("complaint", 2, team["cm"].id)
        assert db.session.get(Ticket, ticket_id).escalated
        assert [n.kind for n in _notified(team["smm"].id)] == ["escalation"]
        assert _notified(team["lead"].id) == []  # level 2 goes to the SMM only
        assert db.session.scalar(select(func.count()).where(
            AuditEvent.action == "escalation.raised", AuditEvent.ticket_id == ticket_id)) == 1


def test_panel_refuses_an_unknown_reason(app, client, login, team):
    with app.app_context():
        ticket_id = make_ticket(now=T0).id
    login(team["cm"])
    response = client.post(f"/tickets/{ticket_id}/escalation", data={"reason": "bogus", "level": "2"})
    assert response.status_code == 400
    with app.app_context():
        assert _escalations() == []


def test_concurrent_escalations_of_the_same_key_make_one(app, team):
    with app.app_context():
        ticket_id = make_ticket(now=T0).id
    barrier, results, errors = threading.Barrier(4), [], []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                results.append(escalate(ticket_id, "legal", 2, "race", T0, rule="keywords").id)
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert errors == []
    assert len(set(results)) == 1
    with app.app_context():
        assert len(_escalations(ticket_id)) == 1
        assert len(_notified(team["smm"].id)) == 1
        assert db.session.scalar(select(func.count()).where(
            AuditEvent.action == "escalation.raised")) == 1


def test_breach_escalates_to_level_1_once(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        for _ in range(2):
            signals.sla_breached.send(ticket, clock=None, now=T0 + minutes(60))
            db.session.commit()
        [escalation] = _escalations(ticket.id)
        assert (escalation.reason, escalation.level, escalation.rule) == ("sla_breach", 1, "sla_breach")
        assert escalation.ack_due_at == T0 + minutes(75)
        assert [n.kind for n in _notified(team["lead"].id)] == ["escalation"]
        assert _notified(team["smm"].id) == []


def _breached(ticket, at):
    ticket.sla_state, ticket.sla_due_at = "breached", at
    signals.sla_breached.send(ticket, clock=None, now=at)
    db.session.commit()


def test_still_unanswered_30_minutes_after_the_breach_goes_to_level_2(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        due = T0 + minutes(60)
        _breached(ticket, due)
        acknowledge(_escalations(ticket.id)[0].id, _user(team["lead"]), due + minutes(2))
        assert ladder_sweep(due + minutes(29))["breach_level2"] == 0
        assert ladder_sweep(due + minutes(30))["breach_level2"] == 1
        assert ladder_sweep(due + minutes(45))["breach_level2"] == 0
        levels = [(e.reason, e.level, e.rule) for e in _escalations(ticket.id)]
        assert levels == [("sla_breach", 1, "sla_breach"), ("sla_breach", 2, "breach_level2")]


def test_a_reply_before_the_30_minutes_stops_the_level_2_rule(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        due = T0 + minutes(60)
        _breached(ticket, due)
        acknowledge(_escalations(ticket.id)[0].id, _user(team["lead"]), due + minutes(1))
        add_agent_reply(ticket, _user(team["cm"]), sent_at=due + minutes(10), now=due + minutes(10))
        assert ladder_sweep(due + minutes(40))["breach_level2"] == 0
        assert len(_escalations(ticket.id)) == 1


def test_ladder_renotifies_once_and_climbs_then_stops(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        level1 = escalate(ticket.id, "other", 1, "mira esto", T0, user_id=team["cm"].id)
        assert ladder_sweep(T0 + minutes(14)) == {"renotified": 0, "climbed": 0, "breach_level2": 0}
        assert ladder_sweep(T0 + minutes(15)) == {"renotified": 1, "climbed": 1, "breach_level2": 0}
        level2 = _escalations(ticket.id)[1]
        assert (level2.level, level2.rule, level2.reason) == (2, "ladder", "other")
        assert level2.ack_due_at == T0 + minutes(30)
        assert ladder_sweep(T0 + minutes(20)) == {"renotified": 0, "climbed": 0, "breach_level2": 0}
        lead_kinds = [n.dedupe_key for n in _notified(team["lead"].id)]
        assert lead_kinds == [f"escalation:{level1.id}:raised", f"escalation:{level1.id}:reminder"]
        # Level 2 is reminded once at its own deadline, and never climbs further.
        assert ladder_sweep(T0 + minutes(30)) == {"renotified": 1, "climbed": 0, "breach_level2": 0}
        assert ladder_sweep(T0 + minutes(90)) == {"renotified": 0, "climbed": 0, "breach_level2": 0}
        assert [n.dedupe_key for n in _notified(team["smm"].id)] == [
            f"escalation:{level2.id}:raised", f"escalation:{level2.id}:reminder"]
        assert db.session.scalar(select(func.count()).where(
            AuditEvent.action == "escalation.renotified")) == 2


def test_acknowledgement_stops_the_ladder_and_resolution_closes(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        escalation = escalate(ticket.id, "other", 1, "", T0, user_id=team["cm"].id)
        acknowledge(escalation.id, _user(team["lead"]), T0 + minutes(5))
        assert ladder_sweep(T0 + minutes(60)) == {"renotified": 0, "climbed": 0, "breach_level2": 0}
        assert escalation.acknowledged_by_id == team["lead"].id
        assert escalation.acknowledged_at == T0 + minutes(5)
        with pytest.raises(Exception, match="resolution note"):
            resolve(escalation.id, _user(team["lead"]), "  ", T0 + minutes(6))
        resolve(escalation.id, _user(team["lead"]), "Llamamos al cliente", T0 + minutes(20))
        assert escalation.state == "resolved" and escalation.resolution_note == "Llamamos al cliente"
        assert not db.session.get(Ticket, ticket.id).escalated
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.ticket_id == ticket.id)
                                     .order_by(AuditEvent.id)).all()
        assert [a for a in actions if a.startswith("escalation.")] == [
            "escalation.raised", "escalation.acknowledged", "escalation.resolved"]


def test_a_lead_cannot_acknowledge_level_2(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        escalation = escalate(ticket.id, "crisis", 2, "", T0, user_id=team["cm"].id)
        with pytest.raises(Forbidden):
            acknowledge(escalation.id, _user(team["lead"]), T0)
        assert acknowledge(escalation.id, _user(team["smm"]), T0).acknowledged_by_id == team["smm"].id


@pytest.mark.parametrize("text,expected", [
    ("Voy a llamar a mi ABOGADO ahora mismo", "abogado"),
    ("Os denunciaré en la OCU", "ocu"),
    ("Presentaré una demanda", "demanda"),
    ("Soy periodista y esto saldrá publicado", "periodista"),
    ("My lawyer will hear about this", "lawyer"),
    ("I am going to SUE you", "sue"),
    ("I'm a journalist at a newspaper", "journalist"),
    ("Talking to the press tomorrow", "press"),
])
def test_legal_and_press_keywords_escalate_to_level_2(app, team, text, expected):
    with app.app_context():
        ticket = make_ticket("Hola", now=T0)
        add_customer_message(ticket, text, sent_at=T0 + minutes(1), now=T0 + minutes(1))
        add_customer_message(ticket, text + " otra vez", sent_at=T0 + minutes(2), now=T0 + minutes(2))
        [escalation] = _escalations(ticket.id)
        assert (escalation.reason, escalation.level, escalation.rule) == ("legal", 2, "keywords")
        assert expected in escalation.note


@pytest.mark.parametrize("text", ["El suelo está mojado", "Under pressure", "Demandante de empleo",
                                  "Expressly delivered", "¿Abren el domingo?"])
def test_keywords_match_whole_words_only(text):
    assert matched_keywords(text, DEFAULT_KEYWORDS) == []


def test_keywords_ignore_accents_and_case():
    assert matched_keywords("DENUNCIARÉ y llamaré al Abogado", DEFAULT_KEYWORDS) == ["denunciare", "abogado"]


def test_vip_and_reach_complaints_go_to_level_2(app, team):
    with app.app_context():
        vip = make_ticket("Pésimo servicio, estoy harto 😡", now=T0, customer=make_customer(vip=True))
        big = make_ticket("Worst service ever, awful", now=T0,
                          customer=make_customer("Big Account", followers=50_000))
        small = make_ticket("Worst service ever, awful", now=T0, customer=make_customer(followers=500))
        praise = make_ticket("¡Me encanta, gracias!", now=T0, customer=make_customer(vip=True))
        assert [(e.reason, e.level) for e in _escalations(vip.id)] == [("vip", 2)]
        assert [(e.reason, e.level) for e in _escalations(big.id)] == [("complaint", 2)]
        assert _escalations(small.id) == [] and _escalations(praise.id) == []


def test_rules_are_editable_and_respected(app, client, login, team):
    with app.app_context():
        save_settings({"keywords_enabled": False, "vip_level2": False}, team["smm"].id, T0)
        ticket = make_ticket("Mi abogado os llamará, pésimo", now=T0, customer=make_customer(vip=True))
        assert _escalations(ticket.id) == []
    login(team["smm"])
    assert client.get("/escalations/rules").status_code == 200
    response = client.post("/escalations/rules", data={
        "breach_level1": "y", "breach_level2_minutes": "45", "ack_minutes": "10", "vip_level2": "y",
        "follower_threshold": "1000", "keywords_enabled": "y", "keywords": "abogado, lawyer\nfiscalía",
        "crisis_enabled": "y", "crisis_burst": "6", "crisis_window_minutes": "20",
        "crisis_similarity": "80", "crisis_approval": "y"})
    assert response.status_code == 302
    with app.app_context():
        from desk.escalation.settings import current_settings
        settings = current_settings()
        assert (settings.breach_level2_minutes, settings.ack_minutes, settings.crisis_burst) == (45, 10, 6)
        assert settings.keywords == "abogado, lawyer, fiscalía"
        ticket = make_ticket("Hablaré con la Fiscalia", now=T0)
        assert [e.reason for e in _escalations(ticket.id)] == ["legal"]


@pytest.mark.parametrize("role", ["cm", "lead"])
def test_rules_are_for_smms(client, login, make_user, role):
    login(make_user(role))
    assert client.get("/escalations/rules").status_code == 403
    assert client.post("/escalations/rules", data={"ack_minutes": "1"}).status_code == 403


def test_queues_by_role(app, client, login, team):
    with app.app_context():
        t1, t2 = make_ticket("uno", now=T0), make_ticket("dos", now=T0)
        l1 = escalate(t1.id, "other", 1, "nivel uno", T0, user_id=team["cm"].id).id
        l2 = escalate(t2.id, "crisis", 2, "nivel dos", T0, user_id=team["cm"].id).id
    login(team["cm"])
    assert client.get("/escalations").status_code == 403
    assert client.post(f"/escalations/{l2}/acknowledge").status_code == 403
    client.post("/logout")
    login(team["lead"])
    page = client.get("/escalations?level=all")
    assert page.status_code == 200
    assert f'id="escalation-{l1}"'.encode() in page.data and f'id="escalation-{l2}"'.encode() not in page.data
    assert client.post(f"/escalations/{l2}/acknowledge").status_code == 403
    client.post("/logout")
    login(team["smm"])
    page = client.get("/escalations")
    assert f'id="escalation-{l2}"'.encode() in page.data and f'id="escalation-{l1}"'.encode() not in page.data
    assert f'id="escalation-{l1}"'.encode() in client.get("/escalations?level=all").data
    response = client.post(f"/escalations/{l2}/acknowledge", headers={"HX-Request": "true"})
    assert response.status_code == 200 and b"esc-acknowledged" in response.data
    response = client.post(f"/escalations/{l2}/resolve", data={"note": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    response = client.post(f"/escalations/{l2}/resolve", data={"note": "Hecho"})
    assert response.status_code == 302
    page = client.get("/escalations?state=resolved")
    assert f'id="escalation-{l2}"'.encode() in page.data and b"Hecho" in page.data


def test_sweep_command(app, team):
    with app.app_context():
        ticket = make_ticket(now=T0)
        escalate(ticket.id, "other", 1, "", T0, user_id=team["cm"].id)
    result = app.test_cli_runner().invoke(args=["escalations", "sweep", "--now", (T0 + minutes(16)).isoformat()])
    assert result.exit_code == 0, result.output
    assert "renotified=1 climbed=1" in result.output
    bad = app.test_cli_runner().invoke(args=["escalations", "sweep", "--now", "yesterday"])
    assert bad.exit_code != 0 and "not an ISO time" in bad.output


def test_the_cm_hears_when_their_escalation_is_acknowledged(app, team, client, login):
    with app.app_context():
        ticket = make_ticket(now=T0)
        escalation = escalate(ticket.id, "complaint", 2, "Cliente muy enfadado", T0, user_id=team["cm"].id)
        acknowledge(escalation.id, _user(team["smm"]), T0 + minutes(3))
        acknowledge(escalation.id, _user(team["smm"]), T0 + minutes(4))  # a repeat tells nobody again
        told = _notified(team["cm"].id)
        assert [(n.kind, n.ticket_id) for n in told] == [("escalation", ticket.id)]
        assert told[0].text == f"SMM Tester acknowledged your escalation of {ticket.reference} (Complaint)."
        mine = escalate(ticket.id, "other", 1, "", T0, user_id=team["lead"].id)
        acknowledge(mine.id, _user(team["lead"]), T0 + minutes(5))  # their own: no news to them
        assert not [n for n in _notified(team["lead"].id) if "acknowledged" in n.text]
    login(team["cm"])
    with app.app_context():
        user = db.session.get(User, team["cm"].id)
        user.locale = "es"
        db.session.commit()
    assert "SMM Tester confirmó tu escalado de" in client.get("/notifications").get_data(as_text=True)
