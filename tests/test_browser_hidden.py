"""Browser: train on nested brackets from the Train page, then look inside on Hidden states."""
import re

import pytest

from conftest import screenshot, train_until, wait_idle, wait_until

pytestmark = pytest.mark.browser
TRAIN_STEPS = 1500  # enough for a unit to track nesting depth


def test_hidden_states_live_after_training(app_server, page):
    # opened directly, first, on a fresh server; a small LSTM on the brackets corpus
    page.goto(f"{app_server}/Train?corpus=brackets&cell=LSTM&hidden_size=32&steps=50000")
    wait_idle(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_by_label("Corpus").input_value() == "Nested brackets"
    page.get_by_role("button", name="Start").click()
    page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=60_000)
    train_until(page, TRAIN_STEPS)

    sidebar.get_by_role("link", name=re.compile("Hidden states")).click()
    page.wait_for_url(re.compile(r"/Hidden_states"))
    wait_idle(page)
    # the heatmap is drawn: plotly renders heatmap cells as an <image> inside the .hm layer
    page.wait_for_selector("[data-testid='stPlotlyChart'] .hm image", timeout=60_000)
    # still training (50,000 steps take minutes), so the views are live
    assert page.get_by_text(re.compile(r"refreshed every 2 s")).count() == 1, page.locator("[data-testid='stCaptionContainer']").all_inner_texts()
    assert page.get_by_text("Gate saturation").count() >= 1
    assert page.get_by_text("Parity with PyTorch").count() >= 1

    # the nesting-depth hint selects a unit and says its correlation
    page.get_by_role("button", name="Find the nesting-depth unit").click()
    hint = page.locator("[data-testid='stAlertContentSuccess']")
    hint.wait_for(timeout=30_000)
    r = float(re.search(r"r = ([+-]\d\.\d\d)", hint.inner_text()).group(1))
    assert abs(r) > 0.3, hint.inner_text()  # after 1,500 steps some unit tracks depth
    wait_idle(page)
    page.wait_for_selector("[data-testid='stPlotlyChart'] .hm image", timeout=30_000)
    charts = page.locator("[data-testid='stPlotlyChart']")
    assert wait_until(lambda: charts.count() == 3, timeout=30)  # heatmap, saturation, parity
    page.mouse.move(5, 5)  # no tooltip over the controls
    page.set_viewport_size({"width": 1400, "height": 3400})  # the app scrolls inside: show it all
    wait_idle(page)
    screenshot(page, "hidden_states")
