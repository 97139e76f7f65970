"""In Chromium: an SMM reads the service report, changes period and channel (figures and
charts update), opens the print view; a customer answers a survey on a phone."""
import os
import random
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.feedback import surveys as feedback
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.reports.periods import resolve_period
from tests.browser.helpers import sign_in
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket, minutes

pytestmark = pytest.mark.browser

NAMES = ["Lucía Pérez", "Jorge Núñez", "María García", "Iñaki Etxeberria", "Ana Belén", "Pablo Ortega",
         "Elena Vidal", "Raúl Sanz", "Sofía Muñoz", "Carlos Peña", "Marta Ibáñez", "Diego Ruiz"]


def _half_year_of_service(app, agent_ids):
    """160 tickets over 200 days on two channels, with replies, surveys and activity;
    returns the Facebook channel id and the expected ticket counts."""
    rng = random.Random(7)
    counts = {"all": 0, "facebook": 0, "facebook_30": 0}
    # The preset's window, not "29 days back": it starts at midnight, so whether a ticket
    # opened 29.3 days ago is in it depends on the time of day.
    last_30_days, _end, _ = resolve_period("last_30_days", clock_now())
    with app.app_context():
        now = clock_now()
        channels = [make_channel("instagram", name="Marca Instagram"), make_channel("facebook", name="Marca Facebook")]
        agents = [db.session.get(User, i) for i in agent_ids]
        for n in range(160):
            channel = channels[n % 3 == 0]
            age = rng.uniform(1, 199)
            opened = now - timedelta(days=age)
            counts["all"] += 1
            if channel.platform == "facebook":
                counts["facebook"] += 1
                counts["facebook_30"] += opened >= last_30_days
            customer = make_customer(NAMES[n % len(NAMES)], platform=channel.platform)
            ticket = make_ticket("¿Dónde está mi pedido?", channel=channel, customer=customer,
                                 sent_at=opened, now=opened)
            answered = rng.random() < 0.88
            wait = rng.choice([rng.uniform(2, 40), rng.uniform(30, 70), rng.uniform(60, 300)])
            if answered:
                add_agent_reply(ticket, agents[n % len(agents)], sent_at=opened + minutes(wait),
                                now=opened + minutes(wait), canned_reply_id=rng.choice([None, 1, 2, 3]))
            resolved = opened + minutes(wait + 30)
            ticket.status, ticket.resolved_at, ticket.resolution = "resolved", resolved, "replied"
            if answered and rng.random() < 0.6:
                rating = rng.choice([5, 5, 4, 4, 4, 3, 2, 1]) if rng.random() < 0.7 else None
                db.session.add(Survey(ticket_id=ticket.id, customer_id=customer.id, state="sent",
                                      token_hash=f"{ticket.id:064x}", sent_at=resolved, created_at=resolved,
                                      expires_at=resolved + timedelta(days=14), rating=rating,
                                      answered_at=resolved + minutes(20) if rating else None))
            if rng.random() < (0.6 if answered else 0.25):
                db.session.add(ActivityEvent(customer_id=customer.id, kind="purchase",
                                             occurred_at=min(now, resolved + timedelta(days=rng.uniform(1, 80)))))
            db.session.commit()
        return channels[1].id, counts


def test_smm_reads_the_report_and_filters_it(page, live_server, app, make_user, artifacts_dir):
    smm = make_user("smm", name="Sara SMM")
    agents = [make_user("cm", name=name).id for name in ("Ana López", "Bruno Díaz", "Carla Gil")]
    facebook_id, counts = _half_year_of_service(app, agents)
    today = clock_now().date()
    half_year = f"period=custom&start={today - timedelta(days=200)}&end={today}"
    errors = []
    page.on("console", lambda msg: errors.append(f"{msg.text} {msg.location}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1440, "height": 1000})
    sign_in(page, live_server, smm)
    page.goto(f"{live_server}/reports?{half_year}")
    expect(page.locator("#report-body")).to_be_visible()
    assert page.evaluate("typeof Chart !== 'undefined' && Chart.version") == "4.6.1"
    for chart in ("chart-distribution", "chart-trend", "chart-retention"):
        assert page.evaluate(f"!!Chart.getChart(document.getElementById('{chart}'))"), chart
    everything = page.locator("#kpi-volume").inner_text()
    assert everything == str(counts["all"])
    page.wait_for_timeout(400)  # let the chart animation finish for the screenshot
    page.screenshot(path=os.path.join(artifacts_dir, "reports-service.png"), full_page=True)

    page.select_option("#f-channel", str(facebook_id))
    expect(page.locator("#kpi-volume")).to_have_text(str(counts["facebook"]))
    assert re.search(r"channel_id=%s" % facebook_id, page.url)
    page.wait_for_function("!!Chart.getChart(document.getElementById('chart-trend'))")
    trend_points = page.evaluate("Chart.getChart(document.getElementById('chart-trend')).data.labels.length")
    page.select_option("#f-period", "last_30_days")
    expect(page.locator("#kpi-volume")).to_have_text(str(counts["facebook_30"]))
    page.wait_for_function("(n) => { const c = Chart.getChart(document.getElementById('chart-trend'));"
                           " return c && c.data.labels.length !== n; }", arg=trend_points)
    page.select_option("#f-period", "custom")
    expect(page.locator("#f-start")).to_be_visible()

    page.goto(f"{live_server}/reports/print?{half_year}")
    page.emulate_media(media="print")
    expect(page.locator("#kpi-volume")).to_have_text(str(counts["all"]))
    assert page.evaluate("!!Chart.getChart(document.getElementById('chart-retention'))")
    page.screenshot(path=os.path.join(artifacts_dir, "reports-print.png"), full_page=True)
    pdf = page.pdf(format="A4", landscape=True)
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") <= 3
    for error in errors:
        print(error)
    assert [e for e in errors if "favicon.ico" not in e] == []


def test_survey_on_a_phone(page, live_server, app, make_user, artifacts_dir):
    with app.app_context():
        now = clock_now()
        agent = make_user("cm")
        ticket = make_ticket(customer=make_customer("Lucía Pérez", language="es"), sent_at=now - minutes(90),
                             now=now - minutes(90))
        add_agent_reply(ticket, agent, sent_at=now - minutes(80), now=now - minutes(80))
        ticket.status, ticket.resolved_at = "resolved", now - minutes(70)
        from desk.core import signals
        signals.ticket_resolved.send(ticket, now=now - minutes(70), resolution="replied")
        db.session.commit()
        survey = feedback.send_survey(ticket.id, now - minutes(5))
        from desk.inbox.tickets import Message
        token = re.search(r"/s/([\w-]+)", db.session.get(Message, survey.message_id).text).group(1)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/s/{token}")
    expect(page.locator("#survey-form")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("label.choice-4")
    page.fill("#comment", "Muy rápidos, ¡gracias! Mañana os recomiendo.")
    page.screenshot(path=os.path.join(artifacts_dir, "survey-phone.png"), full_page=True)
    page.click("#survey-form button[type=submit]")
    expect(page.locator("#survey-done")).to_be_visible()
    page.screenshot(path=os.path.join(artifacts_dir, "survey-phone-thanks.png"), full_page=True)
    with app.app_context():
        assert db.session.get(Survey, survey.id).rating == 4
    assert [e for e in errors if "favicon.ico" not in e] == []
