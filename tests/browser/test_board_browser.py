"""In Chromium: a lead watches the SLA board; the countdown ticks and a ticket crossing its
due time moves from "at risk" to "breached" without a reload."""
import os
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.sla.sweep import sweep
from tests.browser.helpers import sign_in
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket, minutes

pytestmark = pytest.mark.browser

WAITING = [  # (platform, customer, followers, text, minutes waiting, vip)
    ("instagram", "Lucía Pérez", 1200, "¿Dónde está mi pedido 48213? Llevo una semana 📦", 52, False),
    ("facebook", "Jorge Núñez", 340, "La app no me deja pagar con tarjeta", 48, False),
    ("x", "María García", 48200, "@marca ¿alguien me puede ayudar con la factura?", 75, True),
    ("whatsapp", "Iñaki Etxeberria", 760, "Quiero cambiar la talla de la chaqueta", 96, False),
    ("instagram", "Ana Belén", 15800, "¿Tenéis la sudadera en azul marino?", 12, False),
    ("youtube", "Pablo Ortega", 2100, "El tutorial del minuto 3 no funciona", 30, False),
    ("facebook", "Elena Vidal", 3400, "Me cobraron dos veces el mismo pedido", 20, True),
]


def _working_day(app, agents):
    """A morning's worth of tickets in every state, then a sweep, as the scheduler would."""
    with app.app_context():
        now = clock_now()
        channels = {}
        for i, (platform, name, followers, text, waited, vip) in enumerate(WAITING):
            channel = channels.get(platform) or make_channel(platform, name=f"Marca {platform.title()}")
            channels[platform] = channel
            ticket = make_ticket(text, channel=channel, now=now, sent_at=now - minutes(waited),
                                 customer=make_customer(name, platform=platform, followers=followers, vip=vip),
                                 priority="high" if vip else "normal")
            ticket.assignee_id = agents[i % len(agents)]
        for waited in (40, 25):
            done = make_ticket("Gracias por la info", channel=channels["instagram"], now=now,
                               sent_at=now - minutes(waited))
            add_agent_reply(done, db.session.get(User, agents[0]), now=now, sent_at=now - minutes(waited - 8))
        db.session.commit()
        sweep(now)
        # Due in a few seconds: the lead will watch this one cross the line.
        crossing = make_ticket("Necesito una respuesta YA, el envío no ha llegado 😡",
                               channel=channels["instagram"], now=now,
                               sent_at=now - timedelta(minutes=60) + timedelta(seconds=12),
                               customer=make_customer("Raúl Sanz", followers=860))
        return crossing.id


def test_lead_sees_live_countdown_and_a_breach_arrive(browser, live_server, app, make_user, artifacts_dir):
    lead = make_user("lead", name="Laura Lead")
    agents = [make_user("cm", name=n).id for n in ("Ana Ruiz", "Carlos Martín", "Bea Núñez")]
    crossing_id = _working_day(app, agents)
    context = browser.new_context(viewport={"width": 1440, "height": 960}, locale="en-GB")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "404" not in msg.text else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, live_server, lead)
    page.goto(f"{live_server}/board")
    row = page.locator(f"#board-row-{crossing_id}")
    expect(page.locator("#board-at_risk").locator(f"#board-row-{crossing_id}")).to_be_visible()
    countdown = row.locator(".countdown")
    first = countdown.inner_text()
    # A second's tick, or two: the board's poll may swap the row in just before a tick.
    expect(countdown).not_to_have_text(first, timeout=3000)
    page.screenshot(path=os.path.join(artifacts_dir, "sla-board.png"), full_page=True)
    # Crossing the due time: the row moves to "breached" and the counters follow, no reload.
    breached_count = int(page.locator("#count-breached").inner_text())
    expect(page.locator("#board-breached").locator(f"#board-row-{crossing_id}")).to_be_visible(timeout=25000)
    expect(row.locator(".badge.sla-breached")).to_be_visible()
    assert countdown.inner_text().startswith("+")
    assert int(page.locator("#count-breached").inner_text()) == breached_count + 1
    page.screenshot(path=os.path.join(artifacts_dir, "sla-board-breached.png"), full_page=True)
    # Reassign in place: the row's menu holds its owner only until it gets the focus.
    menu = row.locator("select")
    assert menu.locator("option").count() <= 2
    menu.focus()
    assert menu.locator("option").count() > 2
    menu.select_option(label="Carlos Martín")
    row.locator("button[type=submit]").click()
    expect(page.locator(f"#board-row-{crossing_id} .saved-mark")).to_be_visible()
    # Opting in to alerts takes a click; the button says so.
    page.click("#board-alerts")
    expect(page.locator("#board-alerts")).to_have_attribute("aria-pressed", "true")
    assert not errors, errors
    context.close()


def test_smm_sets_up_a_policy_and_the_ticket_explains_its_clock(browser, live_server, app, make_user,
                                                                artifacts_dir):
    smm = make_user("smm", name="Sofía Molina")
    agent = make_user("cm", name="Ana Ruiz")
    with app.app_context():
        now = clock_now()
        ticket = make_ticket("¿Me ayudáis con la devolución? 🙏", channel=make_channel("instagram"), now=now,
                             sent_at=now - minutes(70), customer=make_customer("Lucía Pérez"))
        sweep(now)
        add_agent_reply(ticket, db.session.get(User, agent.id), now=now, sent_at=now - minutes(2))
        ticket_id = ticket.id
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    sign_in(page, live_server, smm)
    page.goto(f"{live_server}/sla/policies")
    page.fill("#name", "VIP en Instagram")
    page.fill("#position", "1")
    page.select_option("#platform", "instagram")
    page.select_option("#vip", "yes")
    page.fill("#first_response_minutes", "0")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("#policy-form .field-error").first).to_be_visible()
    page.fill("#first_response_minutes", "20")
    page.fill("#next_response_minutes", "45")
    page.fill("#warning_value", "25")
    page.select_option("#warning_unit", "percent")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("#policies-table")).to_contain_text("VIP en Instagram")
    page.screenshot(path=os.path.join(artifacts_dir, "sla-policies.png"), full_page=True)
    page.goto(f"{live_server}/tickets/{ticket_id}")
    timeline = page.locator("#sla-timeline-body")
    expect(timeline).to_contain_text("answered")
    expect(timeline).to_contain_text("by Ana Ruiz")
    expect(timeline).to_contain_text("late by")
    timeline.screenshot(path=os.path.join(artifacts_dir, "sla-timeline.png"))
    page.screenshot(path=os.path.join(artifacts_dir, "sla-ticket.png"), full_page=True)
    context.close()
