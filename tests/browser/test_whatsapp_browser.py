"""In Chromium: an admin enters a WhatsApp template on the channel page; an agent whose
customer last wrote 25 hours ago cannot type free text, picks the template, fills its values
and sends it, and the platform receives the template."""
import os
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity
from desk.inbox.tickets import Message, Ticket
from tests.browser.helpers import sign_in
from tests.factories import make_channel

pytestmark = pytest.mark.browser


def _late_whatsapp_ticket(app) -> tuple[int, int]:
    with app.app_context():
        channel = make_channel("whatsapp", "1065403522", name="Tienda WhatsApp")
        channel.access_token = "wa-browser-token"
        customer = Customer(display_name="Lucía Pérez")
        customer.identities.append(CustomerIdentity(platform="whatsapp", platform_user_id="34600111222"))
        sent = clock_now() - timedelta(hours=25)
        ticket = Ticket(channel=channel, customer=customer, kind="dm", thread_key="34600111222",
                        created_at=sent, updated_at=sent, language="es")
        db.session.add_all([ticket, Message(
            ticket=ticket, channel_id=channel.id, direction="in", visibility="private",
            customer=customer, platform_message_id="wamid.browser-1", text="¿Y mi pedido?",
            sent_at=sent, received_at=sent)])
        db.session.commit()
        return channel.id, ticket.id


def test_a_template_entered_by_an_admin_goes_after_the_window(page, live_server, app, make_user,
                                                              fake_platform, artifacts_dir):
    channel_id, ticket_id = _late_whatsapp_ticket(app)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    admin = make_user("admin")
    sign_in(page, live_server, admin)
    page.goto(f"{live_server}/admin/channels/{channel_id}")
    page.click("#add-template summary")
    form = page.locator("#template-form")
    form.locator("input[name=name]").fill("pedido_en_camino")
    form.locator("input[name=language]").fill("es")
    form.locator("textarea[name=body]").fill("Hola {{1}}, tu pedido {{2}} sale hoy.")
    form.locator("button[type=submit]").click()
    expect(page.locator("#template-list")).to_contain_text("pedido_en_camino")
    page.screenshot(path=os.path.join(artifacts_dir, "whatsapp-templates.png"), full_page=True)
    page.context.clear_cookies()

    sign_in(page, live_server, make_user("cm", name="Ana Ruiz"))
    page.goto(f"{live_server}/tickets/{ticket_id}")
    expect(page.locator("#wa-window")).to_contain_text("24-hour WhatsApp window closed")
    expect(page.locator("#composer-text")).to_have_count(0)
    page.select_option("#template-select", label="pedido_en_camino · es")
    expect(page.locator("#template-preview")).to_have_text("Hola {{1}}, tu pedido {{2}} sale hoy.")
    page.fill("#param-1", "Lucía")
    page.fill("#param-2", "48213")
    page.screenshot(path=os.path.join(artifacts_dir, "whatsapp-composer.png"), full_page=True)
    page.click("#send-reply")
    expect(page.locator("#thread")).to_contain_text("Hola Lucía, tu pedido 48213 sale hoy.")
    with app.app_context():
        reply = db.session.scalar(select(Message).where(Message.ticket_id == ticket_id,
                                                        Message.direction == "out"))
        assert reply.template == {"name": "pedido_en_camino", "language": "es",
                                  "params": ["Lucía", "48213"]}
    assert errors == []
