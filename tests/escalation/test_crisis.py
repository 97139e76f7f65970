"""Crisis detection (burst of similar negative messages -> one incident, one level-2
escalation), negativity in Spanish and English, the approval hold and one reviewed reply."""
import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.core.extensions import db
from desk.escalation.crisis import CRISIS_LOCK_KEY, Incident
from desk.escalation.escalations import Escalation
from desk.escalation.sentiment import is_negative, score
from desk.inbox.tickets import Message, Ticket
from desk.notify.notifications import Notification
from tests.factories import make_channel, make_customer, make_ticket, minutes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

BURST_ES = [
    "La leche entera de hoy sabe agria, me ha sentado fatal 🤢",
    "La leche entera sabe agria!! me ha sentado fatal",
    "leche entera agria, me sentó fatal, qué vergüenza",
    "Otra más: la leche entera sabe agria y me ha sentado fatal 😡",
    "LA LECHE ENTERA SABE AGRIA. Me ha sentado fatal.",
    "Mi hijo bebió la leche entera, sabe agria y le ha sentado fatal",
    "La leche entera está agria, me ha sentado fatal, vergonzoso",
    "leche entera agria = me ha sentado fatal 👎",
]
BURST_EN = [
    "The oat milk I bought today is sour and made me sick 🤮",
    "Your oat milk is sour, it made me sick",
    "oat milk sour again, made me sick. disgusting",
    "Bought oat milk, it's sour and it made me sick 😡",
    "OAT MILK IS SOUR AND MADE ME SICK",
]
PRAISE = ["¡Me encanta la nueva leche entera, gracias!", "Me encanta la leche entera nueva, genial 😍",
          "La nueva leche entera me encanta, gracias!!", "Genial la leche entera nueva, me encanta",
          "me encanta la leche entera nueva 👍 gracias", "Gracias, la leche entera nueva me encanta",
          "La leche entera nueva: me encanta, genial", "Qué rica la leche entera nueva, me encanta"]
ORDINARY = [
    "¿A qué hora abre la tienda de {city} el sábado?", "¿Tenéis {product} sin lactosa?",
    "Hola, ¿hacéis envíos a {city}?", "Gracias por la atención de ayer en {city} 😊",
    "¿Cuánto cuesta el {product} grande?", "Me encanta el {product}, ¡gracias!",
    "Do you ship {product} to {city}?", "What time do you open in {city}?",
    "Great {product}, thanks!", "Is the {product} gluten free?",
    "Mi pedido {n} no ha llegado todavía", "El {product} que compré llegó roto",
    "My order {n} is late", "The app crashes when I pay for {product}",
    "La factura {n} tiene un error", "Nadie contesta en el teléfono de {city}",
    "Quiero cambiar la dirección del pedido {n}", "¿Puedo devolver el {product}?",
]
CITIES = ["Madrid", "Sevilla", "Bilbao", "Valencia", "Málaga", "Zaragoza", "London", "Vigo"]
PRODUCTS = ["yogur", "queso", "batido", "café", "zumo", "helado", "pan", "cereal", "kéfir", "flan"]
PLATFORMS = ["instagram", "facebook", "x", "youtube"]


@pytest.fixture
def channels(app_ctx):
    return [make_channel(p) for p in PLATFORMS]


def _post(channels, text, at, i, followers=100):
    channel = channels[i % len(channels)]
    customer = make_customer(f"Cliente {i}", platform=channel.platform, followers=followers)
    return make_ticket(text, channel=channel, customer=customer, kind="comment", sent_at=at, now=at)


def _ordinary_stream(channels, start, count=200, step=3):
    rng = random.Random(7)
    tickets = []
    for i in range(count):
        text = rng.choice(ORDINARY).format(city=rng.choice(CITIES), product=rng.choice(PRODUCTS),
                                           n=rng.randint(10000, 99999))
        tickets.append(_post(channels, text, start + minutes(i * step), 1000 + i))
    return tickets


def _incidents():
    return db.session.scalars(select(Incident).order_by(Incident.id)).all()


def _crisis_escalations():
    return db.session.scalars(select(Escalation).where(Escalation.reason == "crisis")).all()


def test_five_similar_complaints_across_channels_form_one_incident(channels, make_user):
    smm = make_user("smm")
    tickets = [_post(channels, text, T0 + minutes(5 * i), i, followers=1000 * (i + 1))
               for i, text in enumerate(BURST_ES[:5])]
    [incident] = _incidents()
    assert incident.status == "open" and incident.approval_required
    assert sorted(t.id for t in incident.tickets) == sorted(t.id for t in tickets)
    assert len({t.channel.platform for t in incident.tickets}) == 4
    [escalation] = _crisis_escalations()
    assert (escalation.level, escalation.incident_id, escalation.rule) == (2, incident.id, "crisis")
    assert all(db.session.get(Ticket, t.id).escalated for t in tickets)
    notes = db.session.scalars(select(Notification).where(Notification.user_id == smm.id)).all()
    assert len(notes) == 1
    # Later similar messages join the open incident; the SMM is not called again.
    late = [_post(channels, text, T0 + minutes(40 + i), 10 + i) for i, text in enumerate(BURST_ES[5:])]
    assert _incidents() == [incident]
    assert {t.id for t in late} <= {t.id for t in incident.tickets}
    assert len(_crisis_escalations()) == 1


def test_four_complaints_are_not_a_crisis(channels):
    for i, text in enumerate(BURST_ES[:4]):
        _post(channels, text, T0 + minutes(5 * i), i)
    assert _incidents() == [] and _crisis_escalations() == []


def test_complaints_spread_beyond_the_window_are_not_a_crisis(channels):
    for i, text in enumerate(BURST_ES[:6]):
        _post(channels, text, T0 + minutes(31 * i), i)
    assert _incidents() == []


def test_a_burst_of_praise_is_not_a_crisis(channels):
    for i, text in enumerate(PRAISE):
        _post(channels, text, T0 + minutes(i), i)
    assert _incidents() == []


def test_english_burst_forms_an_incident(channels):
    for i, text in enumerate(BURST_EN):
        _post(channels, text, T0 + minutes(2 * i), i)
    [incident] = _incidents()
    assert len(incident.tickets) == 5 and "oat milk" in incident.title.lower()


def test_burst_among_200_ordinary_messages_forms_exactly_one_incident(channels):
    _ordinary_stream(channels, T0)
    assert _incidents() == []
    burst = [_post(channels, text, T0 + minutes(300 + 3 * i), 500 + i) for i, text in enumerate(BURST_ES)]
    _ordinary_stream(channels, T0 + minutes(600), count=40)
    [incident] = _incidents()
    assert sorted(t.id for t in incident.tickets) == sorted(t.id for t in burst)
    assert len(_crisis_escalations()) == 1


@pytest.mark.parametrize("text", [
    "Pésimo servicio, nunca más 😡", "El pedido no ha llegado y nadie responde", "No funciona la app",
    "Es una vergüenza, me habéis estafado", "Worst customer service ever 🤬", "It doesn't work, useless",
    "The package never arrived", "I'm not happy at all", "👎👎", "No es bueno"])
def test_negative_texts(text):
    assert is_negative(text), score(text)


@pytest.mark.parametrize("text", [
    "¡Gracias, me encanta!", "No está mal, la verdad", "Not bad at all", "¿Dónde está mi pedido?",
    "Great service, thanks 👍", "Excelente atención, muy rápida", "What time do you open?",
    "No problem, thanks!", "Sin problemas, todo perfecto"])
def test_not_negative_texts(text):
    assert not is_negative(text), score(text)


def _incident_with_tickets(channels, count=5):
    for i, text in enumerate(BURST_ES[:count]):
        _post(channels, text, T0 + minutes(i), i, followers=2000)
    return _incidents()[0]


def test_public_replies_wait_for_smm_approval_during_an_incident(app, client, login, channels, make_user):
    from desk.inbox.outbound import create_reply
    cm, smm = make_user("cm"), make_user("smm")
    incident = _incident_with_tickets(channels)
    ticket_id = incident.tickets[0].id
    held = create_reply(ticket_id, cm.id, "Lo sentimos, lo revisamos", "public", T0 + minutes(10))
    assert held.delivery_state == "held"
    private = create_reply(ticket_id, cm.id, "Te escribo por privado", "private", T0 + minutes(10))
    assert private.delivery_state == "pending"
    own = create_reply(incident.tickets[1].id, smm.id, "Comunicado oficial", "public", T0 + minutes(11))
    assert own.delivery_state == "pending"  # the SMM's reply is the reviewed one
    held_id, ticket = held.id, db.session.get(Ticket, ticket_id)
    login(cm)
    panel = client.get(f"/tickets/{ticket_id}/escalation")
    assert b'id="panel-held"' in panel.data and b"1 reply waits for SMM approval" in panel.data
    assert b"Part of crisis incident" in panel.data
    client.post("/logout")
    assert ticket.first_response_at == T0 + minutes(10)  # the private reply answered
    login(cm)
    assert client.post(f"/escalations/replies/{held_id}/approve").status_code == 403
    client.post("/logout")
    login(smm)
    page = client.get("/escalations")
    assert f'id="held-{held_id}"'.encode() in page.data
    response = client.post(f"/escalations/replies/{held_id}/approve", headers={"HX-Request": "true"})
    assert response.status_code == 200 and b"Approved" in response.data
    db.session.expire_all()
    assert db.session.get(Message, held_id).delivery_state == "pending"


def test_rejected_reply_never_goes_and_its_author_hears_why(app, client, login, channels, make_user):
    from desk.inbox.outbound import create_reply
    cm, smm = make_user("cm"), make_user("smm")
    incident = _incident_with_tickets(channels)
    held_id = create_reply(incident.tickets[0].id, cm.id, "Es culpa del cliente", "public", T0 + minutes(9)).id
    login(smm)
    response = client.post(f"/escalations/replies/{held_id}/reject", data={"note": "Tono inadecuado"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Message, held_id).delivery_state == "rejected"
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == cm.id)).all()
    assert "Tono inadecuado" in note.text
    assert client.post(f"/escalations/replies/{held_id}/approve").status_code == 400


def test_incident_page_and_one_reviewed_reply_to_every_ticket(app, client, login, channels, make_user):
    cm, smm = make_user("cm"), make_user("smm")
    incident = _incident_with_tickets(channels)
    incident_id, ticket_ids = incident.id, [t.id for t in incident.tickets]
    login(cm)
    assert client.get(f"/escalations/incidents/{incident_id}").status_code == 403
    assert client.post(f"/escalations/incidents/{incident_id}/reply",
                       data={"text": "x", "reviewed": "y"}).status_code == 403
    client.post("/logout")
    login(smm)
    page = client.get(f"/escalations/incidents/{incident_id}")
    assert page.status_code == 200
    assert b'id="incident-reach">10,000<' in page.data  # 5 customers x 2,000 followers
    assert page.data.count(b'class="timeline-text"') == 5
    client.post(f"/escalations/incidents/{incident_id}/reply", data={"text": "Lo sentimos mucho"})
    db.session.expire_all()
    assert db.session.scalars(select(Message).where(Message.direction == "out")).all() == []
    response = client.post(f"/escalations/incidents/{incident_id}/reply",
                           data={"text": "Lo sentimos mucho, estamos retirando el lote.", "reviewed": "y"})
    assert response.status_code == 302
    replies = db.session.scalars(select(Message).where(Message.direction == "out")).all()
    assert sorted(m.ticket_id for m in replies) == sorted(ticket_ids)
    assert {m.delivery_state for m in replies} == {"pending"} and {m.author_id for m in replies} == {smm.id}
    response = client.post(f"/escalations/incidents/{incident_id}/resolve", data={"note": "Lote retirado"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Incident, incident_id).status == "resolved"
    assert all(e.resolved_at for e in _crisis_escalations())


def test_two_workers_completing_the_burst_at_once_open_one_incident(app, channels, run_jobs):
    """The batch that finds detection busy leaves its message to a job: never a deadlock,
    never two incidents."""
    import threading
    for i, text in enumerate(BURST_ES[:4]):
        _post(channels, text, T0 + minutes(i), i)
    channel_ids = [c.id for c in channels]
    barrier, errors = threading.Barrier(2), []

    def worker(n):
        try:
            with app.app_context():
                from desk.channels.accounts import Channel
                local = [db.session.get(Channel, cid) for cid in channel_ids]
                barrier.wait()
                _post(local, BURST_ES[4 + n], T0 + minutes(5), 20 + n)
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert errors == []
    run_jobs()
    db.session.expire_all()
    [incident] = _incidents()
    assert len(incident.tickets) == 6 and len(_crisis_escalations()) == 1


def test_a_batch_never_waits_for_busy_detection_and_a_job_catches_up(app, channels, run_jobs):
    for i, text in enumerate(BURST_ES[:4]):
        _post(channels, text, T0 + minutes(i), i)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):  # one writer at a time: nothing to wait for
        return
    import psycopg
    other = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (CRISIS_LOCK_KEY,))  # detection busy
        _post(channels, BURST_ES[4], T0 + minutes(5), 4)  # returns: it did not wait
        assert _incidents() == []
    finally:
        other.rollback()
        other.close()
    run_jobs()
    db.session.expire_all()
    [incident] = _incidents()
    assert len(incident.tickets) == 5 and len(_crisis_escalations()) == 1
