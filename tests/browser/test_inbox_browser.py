"""In Chromium: filter the inbox, open the most urgent ticket, insert a suggestion, send; a
second agent sees presence and gets the collision warning; simultaneous claims; XSS inert."""
import json
import os
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from tests.browser.helpers import sign_in
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket

pytestmark = pytest.mark.browser

XSS_TEXT = "<img src=x onerror=alert(1)>"
XSS_NAME = '"><svg onload=alert(1)>'
LIBRARY = {"format": "desk-canned-replies/1", "replies": [
    {"key": "where-es", "language": "es", "title": "Dónde está mi pedido",
     "triggers": ["dónde está mi pedido", "no me ha llegado el pedido"],
     "body": "¡Hola {{customer.first_name}}! Lo revisamos ahora mismo y te escribimos por DM."},
]}


def seed(app, agent):
    """A realistic morning: a breached Instagram DM on top, comments, mentions, an XSS probe."""
    now = clock_now()
    with app.app_context():
        try:
            from desk.replies.library import import_library
            import_library(json.dumps(LIBRARY), now)
        except ImportError:
            pass
        ig, fb, x = make_channel("instagram", name="Zapatería Sol"), make_channel("facebook", name="Zapatería Sol"), make_channel("x", name="@zapateriasol")
        urgent = make_ticket("Hola, ¿dónde está mi pedido? Lo pedí hace 10 días y no me ha llegado 😟",
                             channel=ig, customer=make_customer("Lucía Pérez", followers=1840),
                             sent_at=now - timedelta(minutes=75), now=now)
        make_ticket("¿Tenéis la talla 38 en las botas marrones?", channel=fb, kind="comment",
                    customer=make_customer("Marta Gómez", platform="facebook"), sent_at=now - timedelta(minutes=50), now=now)
        make_ticket("@zapateriasol my order arrived damaged, who can help?", channel=x, kind="mention", language="en",
                    customer=make_customer("James Whitfield", platform="x", vip=True, followers=48200, language="en"),
                    sent_at=now - timedelta(minutes=20), now=now, priority="high")
        make_ticket("Me encantan!! 😍😍", channel=ig, kind="comment",
                    customer=make_customer("Sara López"), sent_at=now - timedelta(minutes=8), now=now, priority="low")
        answered = make_ticket("¿Hacéis envíos a Canarias?", channel=ig, customer=make_customer("Pedro Ruiz"),
                               sent_at=now - timedelta(minutes=40), now=now)
        add_agent_reply(answered, agent, "¡Sí! Enviamos a Canarias en 3-5 días.", now=now - timedelta(minutes=30))
        xss = make_ticket(XSS_TEXT, channel=ig, customer=make_customer(XSS_NAME), sent_at=now - timedelta(minutes=5), now=now)
        free = make_ticket("Quiero cambiar la dirección de envío", channel=fb, kind="dm",
                           customer=make_customer("Nuria Vidal", platform="facebook"), sent_at=now - timedelta(minutes=3), now=now)
        return urgent.id, xss.id, free.id


def test_inbox_flow_presence_collision_claims_and_xss(page, browser, live_server, app, make_user, artifacts_dir):
    ana = make_user("cm", name="Ana Torres", email="ana@desk.test")
    ben = make_user("cm", name="Ben Castro", email="ben@desk.test")
    urgent_id, xss_id, free_id = seed(app, make_user("cm", name="Carlos Ibáñez"))
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1440, "height": 900})

    # Ana signs in, filters to Instagram, and opens the most urgent ticket.
    sign_in(page, live_server, ana)
    page.goto(f"{live_server}/inbox")
    expect(page.locator(".ticket-row").first).to_be_visible()
    expect(page.locator(".ticket-row").first).to_have_id(f"row-{urgent_id}")
    expect(page.locator(f"#row-{xss_id} .preview")).to_contain_text(XSS_TEXT)
    expect(page.locator(f"#row-{xss_id} .customer-name")).to_have_text(XSS_NAME)
    page.screenshot(path=os.path.join(artifacts_dir, "inbox-list.png"))
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcut-help")).to_be_hidden()
    page.locator(".row-check").nth(5).check()
    page.locator(".row-check").nth(6).check()
    expect(page.locator("#bulk-bar")).to_be_visible()
    page.fill("#bulk-tag", "revisar")
    page.click("#bulk-add-tag")
    expect(page.locator("#bulk-done")).to_contain_text("2 tickets updated")
    expect(page.locator(".ticket-row .tag", has_text="revisar")).to_have_count(2)
    page.select_option("#filter-platform", "instagram")
    expect(page).to_have_url(f"{live_server}/inbox?platform=instagram")
    expect(page.locator(".ticket-row .pico-facebook")).to_have_count(0)
    page.fill("#inbox-search", "pedido")
    expect(page.locator(".ticket-row")).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/inbox?platform=instagram&q=pedido")
    page.fill("#inbox-search", "")
    expect(page.locator(".ticket-row")).to_have_count(4)
    page.keyboard.press("Escape")  # leave the search box; shortcuts work again
    # The cleared search's list may still be swapped in after the count matches, taking the
    # focus with it: "j" again until a row keeps it (the first row, whatever the tries).
    for _ in range(5):
        page.keyboard.press("j")
        if page.locator(".ticket-row.focused").count() == 1:
            break
        page.wait_for_timeout(300)
    expect(page.locator(".ticket-row.focused")).to_have_id(f"row-{urgent_id}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/tickets/{urgent_id}")

    # Ben opens the same ticket in his own browser.
    context2 = browser.new_context(viewport={"width": 1440, "height": 900})
    page2 = context2.new_page()
    page2.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page2, live_server, ben)
    page2.goto(f"{live_server}/tickets/{urgent_id}")
    expect(page2.locator("#presence-bar")).to_contain_text("Ana Torres is viewing", timeout=8000)

    # Ana inserts the suggestion (or types), edits, and Ben sees her typing.
    suggestion = page.locator("#suggestions .suggestion-insert").first
    if page.locator("#suggestions-panel").count():
        expect(suggestion).to_be_visible()
        suggestion.click()
        expect(page.locator("#composer-text")).to_have_value(
            "¡Hola Lucía! Lo revisamos ahora mismo y te escribimos por DM.")
    else:
        page.fill("#composer-text", "¡Hola Lucía! Lo revisamos ahora mismo y te escribimos por DM.")
    page.locator("#composer-text").press("End")
    page.locator("#composer-text").type(" Gracias por tu paciencia.")
    expect(page2.locator("#presence-bar")).to_contain_text("Ana Torres is typing", timeout=8000)
    page.screenshot(path=os.path.join(artifacts_dir, "inbox-ticket.png"))
    page.click("#send-reply")
    expect(page.locator("#thread .msg-out")).to_contain_text("Gracias por tu paciencia.")
    expect(page.locator("#composer-text")).to_have_value("")
    expect(page.locator("#ticket-owner")).to_contain_text("Ana Torres")

    # Ben, who had not seen Ana's reply, tries to answer: warned, nothing sent.
    page2.fill("#composer-text", "Hola Lucía, ¿me pasas el número de pedido?")
    page2.click("#send-reply")
    warning = page2.locator("#collision-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Gracias por tu paciencia")
    page2.screenshot(path=os.path.join(artifacts_dir, "inbox-collision.png"))
    with app.app_context():
        texts = db.session.scalars(select(Message.text).where(
            Message.ticket_id == urgent_id, Message.direction == "out")).all()
        assert len(texts) == 1 and "Gracias por tu paciencia" in texts[0]
    page2.click("#edit-first")
    expect(page2.locator("#collision-warning")).to_have_count(0)

    # Back in the list, the answered ticket now shows Ana's reply.
    page.goto(f"{live_server}/inbox")
    expect(page.locator(f"#row-{urgent_id} .preview")).to_contain_text("You:")
    expect(page.locator(f"#row-{urgent_id} .owner")).to_have_text("Ana")

    # The list updates by itself when a new message arrives.
    with app.app_context():
        make_ticket("Hola!! el código de descuento no funciona", channel=db.session.get(Ticket, free_id).channel,
                    kind="dm", customer=make_customer("Elena Sanz", platform="facebook"))
    expect(page.locator(".ticket-row .preview", has_text="código de descuento")).to_be_visible(timeout=12000)

    # Two agents claim the same free ticket at the same moment: one owner.
    page.goto(f"{live_server}/tickets/{free_id}")
    page2.goto(f"{live_server}/tickets/{free_id}")
    expect(page.locator("#claim-button")).to_be_visible()
    expect(page2.locator("#claim-button")).to_be_visible()
    # Both clicks go out before either answer is back (htmx requests are asynchronous).
    page.evaluate("() => document.getElementById('claim-button').click()")
    page2.evaluate("() => document.getElementById('claim-button').click()")
    page.wait_for_timeout(800)
    with app.app_context():
        owner = db.session.get(Ticket, free_id).assignee_id
    assert owner in (ana.id, ben.id)
    loser = page2 if owner == ana.id else page
    expect(loser.locator("#page-flash")).to_contain_text("already took this ticket")

    # The XSS probes render as text on the ticket page too.
    page.goto(f"{live_server}/tickets/{xss_id}")
    expect(page.locator("#ticket-customer-name")).to_have_text(XSS_NAME)
    expect(page.locator("#thread .msg-in .msg-body")).to_have_text(XSS_TEXT)
    page.wait_for_timeout(300)
    assert dialogs == [] and errors == []
    assert page.evaluate("() => document.querySelectorAll('#thread img, #thread svg, .customer-name svg').length") == 0
    context2.close()
