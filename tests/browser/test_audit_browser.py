"""In Chromium: an admin changes a role on the users page and the audit page shows it."""
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in

pytestmark = pytest.mark.browser


def test_a_role_change_shows_on_the_audit_page(page, live_server, make_user):
    admin = make_user("admin", name="Alba Admin")
    cm = make_user("cm", name="Carla Campos")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server, admin)
    page.goto(f"{live_server}/admin/users")
    row = page.locator(f"#user-{cm.id}")
    row.locator("select[name=role]").select_option("lead")
    row.locator("button", has_text="Change").click()
    expect(page.locator(".flash, .flashes").first).to_contain_text("Carla Campos is now Team lead")
    page.locator("#admin-tabs a", has_text="Audit log").click()
    first = page.locator("#audit-table tbody tr").first
    expect(first).to_contain_text("Alba Admin changed the role of Carla Campos from cm to lead")
    page.select_option("#audit-filters select[name=action]", "user.role_changed")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    assert errors == []
