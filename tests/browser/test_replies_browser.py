"""In Chromium: insert a suggested canned reply on the ticket page, fill its placeholder, send."""
import json
import os

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.inbox.tickets import Message
from desk.replies.library import import_library
from desk.replies.models import ReplyUsage
from tests.browser.helpers import sign_in
from tests.factories import make_channel, make_customer, make_ticket

pytestmark = pytest.mark.browser

LIBRARY = {"format": "desk-canned-replies/1", "replies": [
    {"key": "cancel-es", "language": "es", "title": "Cancelar pedido",
     "triggers": ["quiero cancelar mi pedido", "anular la compra"],
     "body": "¡Hola {{customer.first_name}}! Escríbenos a {{channel.handle}} y lo anulamos. {{agent.first_name}}"},
    {"key": "refund-es", "language": "es", "title": "Reembolso",
     "triggers": ["quiero un reembolso"], "body": "Hola {{customer.first_name}}, el reembolso tarda 5 días."},
    {"key": "cancel-en", "language": "en", "title": "Cancel order",
     "triggers": ["cancel my order"], "body": "Hi {{customer.first_name}}, we'll cancel it."},
]}


def test_insert_fill_and_send_a_suggestion(page, live_server, app, make_user, artifacts_dir):
    agent = make_user("cm", name="Marta Ruiz")
    with app.app_context():
        import_library(json.dumps(LIBRARY), clock_now())
        channel = make_channel("instagram")
        ticket = make_ticket("holaa, quiero cancelar mi pedido porfa 🙏", channel=channel, kind="dm",
                             customer=make_customer(name="Lucía Pérez"))
        ticket_id = ticket.id
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server, agent)
    page.goto(f"{live_server}/tickets/{ticket_id}")
    first = page.locator("#suggestions .suggestion-insert").first
    expect(first).to_be_visible()
    expect(page.locator("#suggestion-1 .suggestion-title")).to_have_text("Cancelar pedido")
    expect(page.locator("#suggestion-1 mark").first).to_be_visible()
    page.keyboard.press("Alt+1")
    composer = page.locator("#composer-text")
    expect(composer).to_have_value("¡Hola Lucía! Escríbenos a {{channel.handle}} y lo anulamos. Marta")
    selected = page.evaluate("() => { const t = document.getElementById('composer-text');"
                             " return t.value.slice(t.selectionStart, t.selectionEnd); }")
    assert selected == "{{channel.handle}}"
    expect(page.locator("#composer-placeholders")).to_contain_text("channel.handle")
    reply_id = page.locator("#composer-canned-reply-id").input_value()
    assert reply_id.isdigit()
    page.screenshot(path=os.path.join(artifacts_dir, "replies-suggestion-inserted.png"), full_page=True)

    page.click("#send-reply")  # refused while the placeholder is there
    page.wait_for_timeout(300)
    with app.app_context():
        assert db.session.scalar(select(Message).where(Message.direction == "out")) is None
    page.keyboard.type("un DM a @tienda")  # replaces the selected placeholder
    expect(page.locator("#composer-placeholders")).to_have_count(0)
    page.click("#send-reply")
    expect(page.locator("#composer-text")).to_have_value("")
    with app.app_context():
        sent = db.session.scalar(select(Message).where(Message.direction == "out"))
        assert sent.text == "¡Hola Lucía! Escríbenos a un DM a @tienda y lo anulamos. Marta"
        assert sent.canned_reply_id == int(reply_id)
        usage = db.session.scalar(select(ReplyUsage).where(ReplyUsage.canned_reply_id == int(reply_id)))
        assert (usage.uses, usage.edits) == (1, 0) and usage.suggested_at is not None
    assert errors == []


def test_slash_searches_the_library_by_title(page, live_server, app, make_user):
    agent = make_user("cm", name="Marta Ruiz")
    with app.app_context():
        import_library(json.dumps(LIBRARY), clock_now())
        ticket_id = make_ticket("hola", channel=make_channel("instagram"), kind="dm",
                                customer=make_customer(name="Lucía Pérez")).id
    sign_in(page, live_server, agent)
    page.goto(f"{live_server}/tickets/{ticket_id}")
    expect(page.locator("#suggestions")).to_be_visible()
    page.click("#composer-text")
    page.keyboard.type("/reembol")
    item = page.locator("#reply-search-results .reply-search-item").first
    expect(item).to_contain_text("Reembolso")
    item.click()
    expect(page.locator("#composer-text")).to_have_value("Hola Lucía, el reembolso tarda 5 días.")
    expect(page.locator("#reply-search")).to_have_count(0)


def test_lead_imports_a_library_from_the_page(page, live_server, make_user, artifacts_dir, tmp_path):
    path = tmp_path / "library.json"
    path.write_text(json.dumps(LIBRARY), encoding="utf-8")
    sign_in(page, live_server, make_user("lead"))
    page.goto(f"{live_server}/replies")
    page.set_input_files("#import-replies-form input[type=file]", str(path))
    page.click("#import-replies-form button[type=submit]")
    expect(page.locator("#replies-table tbody tr")).to_have_count(3)
    expect(page.locator("#replies-table")).to_contain_text("Cancelar pedido")
    page.screenshot(path=os.path.join(artifacts_dir, "replies-library.png"), full_page=True)
