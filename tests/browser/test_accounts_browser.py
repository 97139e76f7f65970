"""In Chromium, as people do it: an admin invites someone, who chooses a password, turns on
two-step sign-in, signs out and in with a code, then with a recovery code; a forgotten
password is reset through the mail (a real SMTP server on loopback)."""
import os
import re
from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from desk.core.clock import now as clock_now
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.browser
CHOSEN = "amber otter carries lanterns"
RESET = "quiet harbour of paper boats"


def _mailed_link(smtp_server, run_jobs, to: str) -> str:
    run_jobs()
    mail = next(m for recipients, m in reversed(smtp_server.messages) if recipients == [to])
    return re.search(r"http://desk\.test(/\S+)", mail.get_payload(decode=True).decode()).group(1)


def _password_then(page, live_server, email, password, code):
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.fill("#code", code)
    page.click("#code-form button[type=submit]")
    expect(page.locator("#main-nav")).to_be_visible()


def test_invitation_two_step_sign_in_recovery_code_and_password_reset(
        browser, live_server, make_user, smtp_server, run_jobs, artifacts_dir):
    admin_context, context = browser.new_context(), browser.new_context()
    admin_page, page = admin_context.new_page(), context.new_page()
    sign_in(admin_page, live_server, make_user("admin"))
    admin_page.goto(f"{live_server}/admin/users")
    admin_page.fill("#invite-form #email", "rocio@desk.test")
    admin_page.fill("#invite-form #name", "Rocío Martín")
    admin_page.select_option("#invite-form #role", "cm")
    admin_page.click("#invite-form button[type=submit]")
    expect(admin_page.locator(".flash")).to_contain_text("Invitation sent to rocio@desk.test")

    page.goto(live_server + _mailed_link(smtp_server, run_jobs, "rocio@desk.test"))
    expect(page.locator("h1")).to_contain_text("Welcome, Rocío")
    page.fill("#password", CHOSEN)
    page.fill("#confirm", CHOSEN)
    page.click("#choose-password-form button[type=submit]")
    expect(page.locator("#main-nav")).to_be_visible()

    page.click("#security-link")
    page.goto(f"{live_server}/account/two-factor")
    secret = page.locator("#totp-secret").inner_text()
    expect(page.locator("#totp-qr")).to_be_visible()
    page.fill("#code", pyotp.TOTP(secret).at(clock_now()))
    page.click("#two-factor-form button[type=submit]")
    codes = page.locator("#recovery-code-list code").all_inner_texts()
    assert len(codes) == 10
    page.screenshot(path=os.path.join(artifacts_dir, "accounts-recovery-codes.png"))
    page.click("#sign-out")

    # The app's next code: the one that confirmed the set-up is spent.
    _password_then(page, live_server, "rocio@desk.test", CHOSEN,
                   pyotp.TOTP(secret).at(clock_now() + timedelta(seconds=30)))
    page.click("#sign-out")
    _password_then(page, live_server, "rocio@desk.test", CHOSEN, codes[0])
    expect(page.locator(".flash")).to_contain_text("You used a recovery code; 9 are left")
    page.click("#sign-out")

    page.click("#forgot-link")
    page.fill("#email", "rocio@desk.test")
    page.click("#forgot-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("a link to choose a new password is on its way")
    page.goto(live_server + _mailed_link(smtp_server, run_jobs, "rocio@desk.test"))
    page.fill("#password", RESET)
    page.fill("#confirm", RESET)
    page.click("#choose-password-form button[type=submit]")
    page.fill("#code", codes[1])  # a reset link is no way around the second step
    page.click("#code-form button[type=submit]")
    expect(page.locator("#main-nav")).to_be_visible()
    admin_context.close()
    context.close()
