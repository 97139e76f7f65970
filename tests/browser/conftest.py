"""Browser tests under the suite's base-time run (.ci/test): Playwright and Chromium run on
the machine's clock (Chromium hangs under libfaketime), and every page gets the suite's time
through Playwright's clock, so pages count down against the same time as the desk."""
import os
from datetime import datetime, timezone

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import real_clock_env

BASE_TIME_RUN = bool(os.environ.get("FAKETIME"))


@pytest.fixture(scope="session")
def playwright():
    """pytest-playwright's fixture, with its driver started outside libfaketime."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(real_clock_env())
    try:
        pw = sync_playwright().start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield pw
    pw.stop()


@pytest.fixture(scope="session")
def browser(browser):
    """pytest-playwright's browser; in the base-time run each new context starts its pages'
    clock at this process's (faked) time, and the clock runs on from there."""
    if BASE_TIME_RUN:
        new_context = browser.new_context

        def new_context_at_suite_time(*args, **kwargs):
            context = new_context(*args, **kwargs)
            context.clock.install(time=datetime.now(timezone.utc))
            return context
        browser.new_context = new_context_at_suite_time
    return browser
