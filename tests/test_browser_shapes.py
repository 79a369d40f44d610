"""Browser test: open /Shapes directly on a fresh server, change controls, look at the result."""
from __future__ import annotations

import pytest
from conftest import ARTIFACTS, screenshot, wait_idle

pytestmark = pytest.mark.browser


def metric(page, label: str) -> str:
    box = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=label)).first
    return box.locator("[data-testid='stMetricValue']").inner_text().strip()


def wait_metric(page, label: str, value: str) -> None:
    box = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=label))
    box.locator("[data-testid='stMetricValue']", has_text=value).first.wait_for(timeout=30_000)
    wait_idle(page)


def click_first_gate_block(page) -> None:
    """Click the centre of the first gate block (gate i of weight_ih_l0) of the weight chart."""
    x, y = page.locator("[data-testid='stPlotlyChart']").first.evaluate("""el => {
        const gd = el.querySelector('.js-plotly-plot');
        const tr = gd._fullData[gd._fullData.length - 1];
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(tr.x[0]), r.top + ya._offset + ya.l2p(tr.y[0])];
    }""")
    page.mouse.click(x, y)


def test_shapes_page_direct_url_and_controls(app_server, page):
    page.goto(f"{app_server}/Shapes")
    wait_idle(page)
    page.get_by_text("Shapes of RNN, LSTM and GRU").wait_for(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert (metric(page, "output"), metric(page, "h_n")) == ("(5, 3, 20)", "(2, 3, 20)")

    hidden = page.get_by_role("spinbutton", name="hidden_size")
    hidden.fill("32")
    hidden.press("Enter")
    wait_metric(page, "output", "(5, 3, 32)")
    page.locator("[data-testid='stCheckbox']", has_text="bidirectional").click()
    wait_metric(page, "output", "(5, 3, 64)")
    assert metric(page, "h_n") == "(4, 3, 32)"
    assert metric(page, "c_n") == "(4, 3, 32)"

    page.get_by_role("tab", name="Weight blocks").click()
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=30_000)
    plotly_drawn(page)
    assert page.locator("[data-testid='stException']").count() == 0
    click_first_gate_block(page)  # plotly selection event -> rerun -> the page names the block
    page.get_by_text("Selected block:").wait_for(timeout=30_000)
    wait_idle(page)
    assert "weight_ih_l0[0:32]" in page.get_by_text("Selected block:").inner_text()
    screenshot(page, "shapes")

    page.get_by_role("tab", name="Tensor layout").click()
    chart = page.locator("[data-testid='stPlotlyChart']").last
    chart.scroll_into_view_if_needed()
    plotly_drawn(page, last=True)
    chart.screenshot(path=str(ARTIFACTS / "shapes_tensors.png"))  # the colour-coded layouts


def plotly_drawn(page, last: bool = False) -> None:
    """Wait until plotly has drawn the first (or last) chart's traces."""
    page.wait_for_function("""(last) => {
        const plots = document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot");
        const el = last ? plots[plots.length - 1] : plots[0];
        return !!(el && el._fullData && el._fullData.length > 0 && el._fullLayout);
    }""", arg=last, timeout=30_000)


def click_gate_block(page, index: int) -> list:
    """Click gate block `index` of the weight chart; returns its [parameter, gate]."""
    x, y, data = page.locator("[data-testid='stPlotlyChart']").first.evaluate("""(el, i) => {
        const gd = el.querySelector('.js-plotly-plot');
        const tr = gd._fullData[gd._fullData.length - 1];
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(tr.x[i]), r.top + ya._offset + ya.l2p(tr.y[i]),
                tr.customdata[i]];
    }""", index)
    page.mouse.click(x, y)
    return data


def test_clicking_a_block_shows_the_trained_values(app_server, page):
    # a short LSTM run on the Train page, then its weights on Shapes
    page.goto(f"{app_server}/Train?steps=30&hidden_size=16&cell=LSTM")
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text("tokens/s overall").wait_for(timeout=60_000)
    page.locator("[data-testid='stSidebar']").get_by_role("link", name="Shapes").click()
    wait_idle(page)
    page.get_by_role("tab", name="Weight blocks").click()
    use = page.get_by_role("button", name="Set the inspector to the trained model's settings")
    use.wait_for(timeout=30_000)  # the inspector's defaults differ from the trained model
    use.click()
    wait_metric(page, "output", "(3, 5, 16)")  # the playground's models are batch_first
    assert page.get_by_role("button", name="Set the inspector to the trained model's settings").count() == 0

    page.get_by_role("tab", name="Weight blocks").click()
    plotly_drawn(page)
    name, gate = click_gate_block(page, 6)  # LSTM: weight_ih_l0 i f g o, then weight_hh_l0 i f ...
    assert (name, gate) == ("weight_hh_l0", "g")
    title = page.get_by_text("trained weight_hh_l0[32:48] — gate g, shape (16, 16)")
    title.wait_for(timeout=30_000)
    wait_idle(page)
    screenshot(page, "shapes_trained_block")
