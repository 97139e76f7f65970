"""Each role signs in through the real login form in Chromium and sees its own navigation."""
import os

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

ROLE_NAMES = {"cm": "Community manager", "lead": "Team lead", "smm": "Social media manager",
              "admin": "Administrator"}
EXPECTED_NAV = {
    "cm": ["Inbox", "Customers", "Canned replies", "Macros"],
    "lead": ["Inbox", "Customers", "SLA board", "Routing", "Escalations", "Canned replies", "Macros"],
    "smm": ["Inbox", "Customers", "SLA board", "Routing", "Escalations", "Canned replies", "Macros",
            "Service report", "SLA policies"],
    "admin": ["Inbox", "Customers", "SLA board", "Routing", "Escalations", "Canned replies", "Macros",
              "Service report", "SLA policies", "Admin"],
}


@pytest.mark.parametrize("role", ["cm", "lead", "smm", "admin"])
def test_role_signs_in_and_sees_its_navigation(role, page, live_server, make_user, artifacts_dir):
    user = make_user(role, name=f"Demo {role.upper()}")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#main-nav")).to_be_visible()
    labels = [text.strip() for text in page.locator("#main-nav a").all_inner_texts()]
    assert labels == EXPECTED_NAV[role]
    expect(page.locator(".me-role")).to_have_text(ROLE_NAMES[role])
    page.screenshot(path=os.path.join(artifacts_dir, f"first-page-{role}.png"), full_page=True)
    assert errors == []
    page.click("#sign-out")
    expect(page.locator("#login-form")).to_be_visible()


def test_login_page_in_spanish(browser, live_server, artifacts_dir):
    context = browser.new_context(locale="es-ES")
    page = context.new_page()
    page.goto(f"{live_server}/login")
    expect(page.locator("#login-form button[type=submit]")).to_have_text("Iniciar sesión")
    page.screenshot(path=os.path.join(artifacts_dir, "login-es.png"))
    context.close()
