"""In Chromium: an admin connects a page with its token, sees only its last four characters,
and tests the connection against the fake platform."""
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in

pytestmark = pytest.mark.browser


def test_connect_a_page_and_test_the_connection(page, live_server, make_user, fake_platform):
    token = "EAAG-browser-token-zq9xw-6150"
    fake_platform.accounts[token] = {"id": "page-77", "name": "Tienda Centro"}
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server, make_user("admin"))
    page.goto(f"{live_server}/admin/channels")
    form = page.locator("#new-channel-form")
    form.locator("select[name=platform]").select_option("facebook")
    form.locator("input[name=account_id]").fill("page-77")
    form.locator("input[name=name]").fill("Tienda Centro")
    form.locator("input[name=access_token]").fill(token)
    form.locator("button[type=submit]").click()
    expect(page.locator("#token-hint")).to_have_text("…6150")
    page.locator("#test-form button").click()
    expect(page.locator(".flash").first).to_contain_text(
        "the platform says this is Tienda Centro (id page-77)")
    expect(page.locator("#check-result")).to_contain_text("works")
    assert "zq9xw" not in page.content()
    assert errors == []
