"""In Chromium: every page, as each role, at 1280, 1440 and 390 px wide, on the demo desk
(a small seed through the real services): no page scrolls sideways and no button leaves the
window or its container. Screenshots go to test-artifacts/layout/ (git-ignored) for people
to look at. One browser, one context a role, each page loaded once and resized (issue #20)."""
import os
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.demo.seed import DEMO_PASSWORD, seed
from desk.escalation.crisis import Incident
from desk.inbox.outbound import create_reply
from tests.factories import demo_pages

pytestmark = pytest.mark.browser

WIDTHS = (1440, 1280, 390)
# The SMM first, so that the one screenshot of each page shows the fullest version of it.
ROLES = {"smm": "smm@desk.demo", "lead": "lead@desk.demo", "cm": "ana@desk.demo",
         "admin": "admin@desk.demo"}

# What the page measures: the document's width, and every visible control whose box leaves
# the window, a box that clips it (overflow other than visible) or its cell, card or row.
MEASURE = """() => {
  const vw = document.documentElement.clientWidth, found = [];
  const name = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${el.textContent.trim().slice(0, 30)}"`;
  if (document.documentElement.scrollWidth > vw) {
    // Name the outermost boxes past the window's right edge: where to look.
    const past = [...document.querySelectorAll('body *')].filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width && r.right > vw + 1 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > vw + 1);
    }).slice(0, 3).map((el) => `${name(el)} to ${Math.round(el.getBoundingClientRect().right)}`);
    found.push(`page is ${document.documentElement.scrollWidth}px wide in ${vw}px (${past.join(', ')})`);
  }
  const controls = document.querySelectorAll('button, input[type=submit], a.button, summary.button, select');
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    if (r.left < -1 || r.right > vw + 1) { found.push(`${name(el)} leaves the window (${Math.round(r.left)}..${Math.round(r.right)})`); continue; }
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      const clips = s.overflowX !== 'visible';
      if (!clips && !p.matches('td, th, .card, .side-card')) continue;
      const q = p.getBoundingClientRect();
      if (r.left < q.left - 1 || r.right > q.right + 1) {
        found.push(`${name(el)} leaves ${name(p)} (${Math.round(r.left)}..${Math.round(r.right)} in ${Math.round(q.left)}..${Math.round(q.right)})`);
        break;
      }
    }
  }
  return found;
}"""
FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
SETTLED = "() => document.readyState === 'complete' && !document.querySelector('.htmx-request')"


def hold_a_reply() -> int:
    """A CM's public reply to a ticket of the demo's crisis, held for the SMM's approval."""
    incident = db.session.scalar(select(Incident).where(Incident.status == "open").order_by(Incident.id))
    incident.approval_required = True
    ticket = next(t for t in incident.tickets if t.kind != "dm")
    cm = db.session.scalar(select(User).where(User.email == "ana@desk.demo"))
    reply = create_reply(ticket.id, cm.id, "Lo sentimos mucho, lo estamos revisando.", "public", clock_now())
    assert reply.delivery_state == "held"
    return reply.id


def on_a_phone(page, base: str, held_id: int) -> None:
    """At 390 px the SMM opens the menu, acknowledges an escalation and approves a held reply."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/escalations")
    expect(page.locator("#main-nav")).to_be_hidden()
    page.click("#menu-button")
    expect(page.locator("#main-nav")).to_be_visible()
    expect(page.locator("#menu-button")).to_have_attribute("aria-expanded", "true")
    page.click("#menu-button")
    expect(page.locator("#main-nav")).to_be_hidden()
    row_id = page.locator(".esc-row.esc-open").first.get_attribute("id")
    page.locator(f"#{row_id} .ack-button").click()
    expect(page.locator(f"#{row_id}")).to_have_class(re.compile("esc-acknowledged"))
    page.locator(f"#held-{held_id} button.primary").click()
    expect(page.locator(f"#held-{held_id}")).not_to_have_class(re.compile("held-held"))


def sign_in(page, email):
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#main-nav", state="attached")


def test_every_page_fits_at_1280_1440_and_390(browser, live_server, app, monkeypatch, artifacts_dir):
    monkeypatch.setitem(app.config, "SANDBOX", True)
    with app.app_context():
        seed(clock_now(), tickets=24)
        held_id = hold_a_reply()
    folder = os.path.join(artifacts_dir, "layout")
    os.makedirs(folder, exist_ok=True)
    problems, visited, shot, assets = [], set(), set(), {}

    def cached(route):
        """Static files once per run, from memory: the walk measures pages, not the server."""
        if route.request.url not in assets:
            response = route.fetch()
            assets[route.request.url] = (response.status, response.headers, response.body())
        status, headers, body = assets[route.request.url]
        route.fulfill(status=status, headers=headers, body=body)

    for role, email in ROLES.items():
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.route(re.compile(r".*/static/.*"), cached)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        # Nothing a page loads by itself fails (a missing favicon.ico was asked for on every page).
        page.on("response", lambda r, errors=errors: errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)
        for name, path in [("login", "/login")] + demo_pages(app):
            if name == "login" and name in visited:  # the same page for everyone
                page.goto(f"{live_server}/login")
                sign_in(page, email)
                continue
            page.set_viewport_size({"width": 1440, "height": 900})
            response = page.goto(f"{live_server}{path}")
            if response.status in (403, 404):
                continue
            assert response.status == 200, (role, path, response.status)
            page.wait_for_function(SETTLED, timeout=5000)
            page.wait_for_timeout(60)
            page.wait_for_function(SETTLED, timeout=5000)
            visited.add(name)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
                page.evaluate(FRAMES)  # let resize observers (the report's charts) catch up
                found = page.evaluate(MEASURE)
                # A resize observer (the report's charts) may lag behind the new width, by more
                # than a frame on a loaded machine: what still overflows after 3 s is a fault.
                for _ in range(10):
                    if not found:
                        break
                    page.wait_for_timeout(300)
                    found = page.evaluate(MEASURE)
                for problem in found:
                    if f"{role} {width}px {path}: {problem}" not in problems:
                        problems.append(f"{role} {width}px {path}: {problem}")
                if width in (1440, 390) and (name, width) not in shot:  # one of each
                    shot.add((name, width))
                    page.screenshot(path=os.path.join(folder, f"{name}-{role}-{width}.png"),
                                    full_page=True)
            if name == "login":
                sign_in(page, email)
        if role == "smm":
            on_a_phone(page, live_server, held_id)
        assert errors == [], (role, errors)
        context.close()
    assert {"inbox", "ticket", "board", "escalations", "incident", "report", "notifications",
            "admin-users"} <= visited
    assert problems == [], "\n".join(problems)
