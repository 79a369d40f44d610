"""Browser: train briefly on the Train page, then generate on the Generate page and hover
a character to see the model's candidates at that step."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import train_until, screenshot, wait_idle

pytestmark = pytest.mark.browser
TRAIN_STEPS = 500  # arithmetic lines: the run stops there (nothing left training on the shared server)


def test_generate_after_training_shows_candidates_on_hover(app_server, page):
    # opened directly; a small LSTM on arithmetic lines
    page.goto(f"{app_server}/Train?corpus=Arithmetic+lines&cell=LSTM&hidden_size=64&steps={TRAIN_STEPS}")
    wait_idle(page)  # select boxes are bound to the URL by their shown label
    corpus = page.locator("[data-testid='stSidebar']").get_by_label("Corpus")
    expect(corpus).to_have_value("Arithmetic lines", timeout=15_000)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=60_000)
    train_until(page, TRAIN_STEPS)

    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_role("link", name=re.compile("Generate")).click()
    page.wait_for_url(re.compile(r"/Generate"))
    wait_idle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    wait_idle(page)
    page.wait_for_selector(".gen-text .gen-tok", timeout=30_000)
    assert page.get_by_text(re.compile(r"weights from step \d+")).count() == 1
    texts = page.locator(".gen-text")
    assert texts.count() == 4  # greedy, sampled, without clamp, with clamp
    for i in range(2):
        assert texts.nth(i).locator(".gen-tok").count() == 200
    assert page.locator("[data-testid='stPlotlyChart']").count() == 1  # the clamp's unit trace

    # hovering a character of the sampled text shows its tooltip with 5 candidates
    tok = texts.nth(1).locator(".gen-tok").nth(5)
    tip = tok.locator(".gen-tip")
    assert not tip.is_visible()
    tok.hover()
    tip.wait_for(state="visible", timeout=5_000)
    assert re.match(r"step 5: chose .+ \(p = [01]\.\d{3}\)", tip.inner_text())  # a sure model shows 1.000
    assert tip.locator(".gen-row").count() == 6, tip.inner_html()  # header + top-5
    box = tip.bounding_box()
    assert box and box["width"] > 60 and box["height"] > 60
    screenshot(page, "generate")

    # the last character's tooltip (bottom of the box) is not clipped by its container
    last = texts.nth(0).locator(".gen-tok").last
    last.hover()
    tip = last.locator(".gen-tip")
    tip.wait_for(state="visible", timeout=5_000)
    box = tip.bounding_box()
    top_el = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.gen-tip') !== null",
                           [box["x"] + box["width"] / 2, box["y"] + box["height"] - 4])
    assert top_el, "the tooltip's bottom edge is hidden behind something"
    page.screenshot(path=str(Path(__file__).parent / "artifacts" / "generate_last_tip.png"),
                    clip={"x": box["x"] - 300, "y": box["y"] - 150, "width": 700, "height": box["height"] + 250})
