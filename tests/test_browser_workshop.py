"""Browser: several learners on one server — the concurrency cap queues runs, per session."""
import re

import pytest

from conftest import screenshot, serve_app, wait_idle

pytestmark = pytest.mark.browser


def start_run(browser, url):
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    tab.goto(f"{url}/Train?steps=50000&hidden_size=32")
    wait_idle(tab)
    tab.get_by_role("button", name="Start", exact=True).click()
    return tab


def test_second_learner_waits_for_a_free_slot_then_trains(browser):
    with serve_app({"PLAYGROUND_MAX_RUNS": "1"}) as url:
        first = start_run(browser, url)
        first.get_by_text(re.compile(r"Training · step")).wait_for(timeout=30_000)
        second = start_run(browser, url)
        second.get_by_text("Waiting for a free training slot").wait_for(timeout=30_000)
        assert second.get_by_text("This server trains at most 1 run at once").count() == 1
        screenshot(second, "workshop_queued")
        first.get_by_role("button", name="Stop", exact=True).click()   # frees the slot
        second.get_by_text(re.compile(r"Training · step")).wait_for(timeout=30_000)
        assert first.get_by_text("Stopped by you").count() == 1          # each page shows its own run
        first.context.close()
        second.context.close()
