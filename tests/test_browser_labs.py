"""Browser: a fresh `streamlit run app.py`; every lab opened by its URL, checked and screenshot
(tests/artifacts/lab_<key>.png)."""
import re

import pytest

from conftest import APP_IDLE, screenshot, wait_idle
from playground.labs.registry import LABS

pytestmark = pytest.mark.browser


def full_height(pg) -> None:
    """Streamlit scrolls inside its main container: grow the viewport to show all of it."""
    height = pg.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    pg.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 6000)})
    # the resize is drawn once the browser has painted two frames at the new size
    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
    pg.wait_for_selector(APP_IDLE)


def test_each_lab_opens_by_its_url_and_the_picker_moves_between_them(app_server, page):
    """The first lab by its URL; every other through the sidebar's picker (one page load, not
    eleven: AppTest opens each `?lab=` URL in tests/test_page_labs.py), which must write that
    lab's URL. Each is checked and screenshot."""
    sidebar = page.locator("[data-testid='stSidebar']")
    for i, lab in enumerate(LABS):
        if i == 0:
            page.goto(f"{app_server}/Labs?lab={lab.key}")
            sidebar.get_by_role("link", name=re.compile("Home")).first.wait_for(timeout=60_000)
            assert sidebar.get_by_role("link", name=re.compile("Home")).count() == 1  # our menu, not the legacy list
        else:
            sidebar.get_by_text(lab.title, exact=True).click()
            page.wait_for_url(re.compile(rf"lab={lab.key}(&|$)"), timeout=30_000)
        wait_idle(page)
        page.get_by_role("heading", name=lab.title).wait_for(timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.get_by_text(lab.teaches).count() == 1
        if lab.key == "perplexity":
            assert page.get_by_text("∞").count() >= 1
        if page.locator(".js-plotly-plot").count():
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        full_height(page)
        screenshot(page, f"lab_{lab.key}")
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_samplers_random_and_no_detach(app_server, page):
    page.goto(f"{app_server}/Labs?lab=samplers")
    wait_idle(page)
    page.get_by_text("random", exact=True).click()
    wait_idle(page)
    page.get_by_text("Don't detach the carried state").click()
    wait_idle(page)
    page.get_by_text(re.compile(r"without detach, [\d.]+ ms")).wait_for(timeout=30_000)
    assert page.get_by_text("h=0").count() >= 1
    full_height(page)
    screenshot(page, "lab_samplers_random_nodetach")
