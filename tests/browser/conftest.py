"""Browser tests in the suite's base-time run (.ci/test): Chromium keeps the machine's clock,
so each new context's pages get the desk's moved time through Playwright's clock and count
down against the same time as the desk."""
import pytest

from desk.core.clock import OFFSET
from desk.core.clock import now as clock_now


@pytest.fixture(scope="session")
def browser(browser):
    """pytest-playwright's browser; with a moved desk clock, every new context's pages start
    their clock at the desk's time and it runs on from there."""
    if OFFSET:
        new_context = browser.new_context

        def new_context_at_desk_time(*args, **kwargs):
            context = new_context(*args, **kwargs)
            context.clock.install(time=clock_now())
            return context
        browser.new_context = new_context_at_desk_time
    return browser
