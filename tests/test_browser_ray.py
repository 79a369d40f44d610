"""Browser: the Train page on a server with PLAYGROUND_BACKEND=ray (a local Ray it starts itself):
the same page, the run trains in a Ray actor."""
import re

import pytest
from playwright.sync_api import expect

from conftest import pause_and_check_it_holds, screenshot, serve_app, step_count, wait_idle, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.ray]


@pytest.fixture(scope="module")
def ray_app_server():
    pytest.importorskip("ray", reason="ray is not installed: pip install -r requirements-dev.txt")
    with serve_app(env={"PLAYGROUND_BACKEND": "ray", "PLAYGROUND_MAX_CONCURRENT": "2"}) as url:
        yield url


def test_train_page_trains_on_ray(ray_app_server, page):
    page.goto(f"{ray_app_server}/Train?steps=50000&hidden_size=32&cell=GRU")
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    # the first Start starts the local Ray and the run's actor: allow for both
    page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)
    assert wait_until(lambda: step_count(page) > 0, timeout=60)
    first = step_count(page)
    assert wait_until(lambda: step_count(page) > first + 20, timeout=30)          # rising live
    expect(page.get_by_text(re.compile("on the Ray cluster's 2 cores"))).to_be_visible(timeout=15_000)
    assert wait_until(lambda: page.locator(".js-plotly-plot").count() == 2)
    screenshot(page, "train_live_ray")

    paused_at = pause_and_check_it_holds(page)                    # paused means paused
    page.get_by_role("button", name="Resume").click()
    assert wait_until(lambda: step_count(page) > paused_at + 5, timeout=30)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped by you").wait_for(timeout=15_000)
    # a stopped run: Continue trains it on, New run makes another from the sidebar
    expect(page.get_by_role("button", name="Continue (+50,000 steps)")).to_be_enabled(timeout=15_000)
    expect(page.get_by_role("button", name="New run")).to_be_enabled()
