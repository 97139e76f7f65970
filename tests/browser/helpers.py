"""What every browser test does first: sign in through the real login form."""
from playwright.sync_api import expect

from tests.conftest import PASSWORD


def sign_in(page, live_server, user, password=PASSWORD):
    """Sign `user` in on `page` and wait for the navigation to show."""
    page.goto(f"{live_server}/login")
    page.fill("#email", user.email)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#main-nav")).to_be_visible()
