"""In Chromium: a CM escalates from the ticket panel, the SMM sees the unread count rise live
and acknowledges in one click; screenshots of the queue and of a crisis incident page."""
import os

import pytest
from playwright.sync_api import expect

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.escalation.escalations import escalate
from tests.browser.helpers import sign_in
from tests.factories import make_channel, make_customer, make_ticket, minutes

pytestmark = pytest.mark.browser

BURST = [
    ("instagram", "Lucía Pérez", 1200, "La leche entera de hoy sabe agria, me ha sentado fatal 🤢"),
    ("facebook", "Jorge Núñez", 340, "La leche entera sabe agria!! me ha sentado fatal"),
    ("x", "María G.", 48200, "leche entera agria, me sentó fatal, qué vergüenza @marca"),
    ("instagram", "Pablo Ortega", 2100, "Otra más: la leche entera sabe agria y me ha sentado fatal 😡"),
    ("youtube", "Ana Belén", 15800, "LA LECHE ENTERA SABE AGRIA. Me ha sentado fatal."),
    ("x", "Iñaki Etxeberria", 760, "Mi hijo bebió la leche entera, sabe agria y le ha sentado fatal"),
]


def _background(cm_id):
    """A few other escalations so the queue looks like a working day."""
    now = clock_now()
    vip = make_ticket("Llevo tres semanas esperando el reembolso, pésimo", now=now - minutes(9),
                      customer=make_customer("Elena Vidal", vip=True, followers=3400))
    breach = make_ticket("¿Alguien me puede ayudar con la factura 48213?", now=now - minutes(75),
                         channel=make_channel("facebook"))
    escalate(breach.id, "sla_breach", 2, "Still unanswered 30 minutes after the breach.",
             now - minutes(4), rule="breach_level2")
    other = make_ticket("Quiero hablar con un responsable", now=now - minutes(30),
                        channel=make_channel("whatsapp"))
    escalate(other.id, "other", 2, "Pide hablar con alguien de la marca.", now - minutes(20), user_id=cm_id)
    return vip


def test_escalate_notify_acknowledge_and_incident(browser, live_server, app, make_user, artifacts_dir):
    cm = make_user("cm", name="Carlos Martín")
    smm = make_user("smm", name="Sofía Molina")
    with app.app_context():
        _background(cm.id)
        ticket = make_ticket("Esto es intolerable, el producto llegó caducado y nadie responde",
                             channel=make_channel("instagram"), kind="comment",
                             customer=make_customer("Raúl Sanz", followers=860))
        ticket_id = ticket.id
    errors = []
    smm_context = browser.new_context(viewport={"width": 1440, "height": 900})
    cm_context = browser.new_context(viewport={"width": 1440, "height": 900})
    smm_page, cm_page = smm_context.new_page(), cm_context.new_page()
    for p in (smm_page, cm_page):
        p.on("pageerror", lambda exc: errors.append(str(exc)))

    sign_in(smm_page, live_server, smm)
    smm_page.goto(f"{live_server}/escalations")
    count = smm_page.locator("#notification-count")
    expect(count).to_have_attribute("data-count", "3")  # the VIP rule and the two escalations above
    before = int(count.get_attribute("data-count"))

    sign_in(cm_page, live_server, cm)
    cm_page.goto(f"{live_server}/tickets/{ticket_id}")
    panel = cm_page.locator("#escalation-panel-body")
    expect(panel).to_contain_text("Not escalated")
    cm_page.select_option("#reason", "complaint")
    cm_page.fill("#note", "Producto caducado; el cliente amenaza con publicarlo.")
    cm_page.click("#escalate-button")
    expect(panel).to_contain_text("Escalated")
    expect(panel).to_contain_text("Waiting for acknowledgement")
    cm_page.screenshot(path=os.path.join(artifacts_dir, "escalation-ticket-panel.png"))

    # The SMM's bell polls every 15 s: the count rises without a reload.
    expect(count).to_have_attribute("data-count", str(before + 1), timeout=25_000)
    smm_page.reload()
    row = smm_page.locator("tr.esc-row", has_text="producto llegó caducado")
    expect(row).to_be_visible()
    row.locator(".ack-button").click()
    acknowledged = smm_page.locator("tr.esc-row.esc-acknowledged", has_text="producto llegó caducado")
    expect(acknowledged).to_contain_text("Sofía Molina")
    expect(smm_page.locator("#queue-acknowledged .stat")).to_have_text("1")
    smm_page.screenshot(path=os.path.join(artifacts_dir, "escalation-queue.png"), full_page=True)

    cm_page.reload()
    expect(cm_page.locator("#escalation-panel-body")).to_contain_text("Acknowledged by Sofía Molina")

    with app.app_context():
        from desk.escalation.crisis import Incident
        from desk.inbox.outbound import create_reply
        start = clock_now() - minutes(25)
        channels = {p: make_channel(p) for p in ("instagram", "facebook", "x", "youtube")}
        for i, (platform, name, followers, text) in enumerate(BURST):
            at = start + minutes(3 * i)
            make_ticket(text, channel=channels[platform], kind="comment", sent_at=at, now=at,
                        customer=make_customer(name, platform=platform, followers=followers))
        incident = db.session.scalars(db.select(Incident)).one()
        create_reply(incident.tickets[0].id, cm.id,
                     "Hola Lucía, lo sentimos mucho. ¿Nos das el lote por privado?", "public", clock_now())
        incident_id = incident.id
    smm_page.goto(f"{live_server}/escalations/incidents/{incident_id}")
    expect(smm_page.locator("#incident-ticket-count")).to_have_text("6")
    expect(smm_page.locator("#incident-reach")).to_have_text("68,400")
    expect(smm_page.locator("#held-replies .held-reply")).to_have_count(1)
    smm_page.fill("#text", "Estamos retirando el lote afectado. Escríbenos por privado y te lo reponemos hoy.")
    smm_page.screenshot(path=os.path.join(artifacts_dir, "escalation-incident.png"), full_page=True)
    smm_page.goto(f"{live_server}/notifications")
    expect(smm_page.locator("#notification-list .notification").first).to_be_visible()
    smm_page.screenshot(path=os.path.join(artifacts_dir, "notifications.png"))
    smm_page.click("#mark-all-read")
    expect(smm_page.locator("#notification-list .notification.unread")).to_have_count(0)
    smm_page.goto(f"{live_server}/escalations/rules")
    smm_page.screenshot(path=os.path.join(artifacts_dir, "escalation-rules.png"), full_page=True)
    assert errors == []
    smm_context.close()
    cm_context.close()
