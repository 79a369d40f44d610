"""Browser: a fresh `streamlit run app.py`, the Train page opened directly, live training."""
import re

import pytest
from playwright.sync_api import expect

from conftest import pause_and_check_it_holds, screenshot, serve_app, step_count, wait_idle, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server():
    """This module's own server: its first test opens a page URL first on a fresh server (the
    legacy-mode trap, DESIGN.md), which the session's shared server cannot promise."""
    with serve_app() as url:
        yield url


def test_train_page_live(app_server, page):
    # opened directly, first, on a freshly started server; settings from the URL
    page.goto(f"{app_server}/Train?steps=50000&hidden_size=64&cell=GRU")
    wait_idle(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    # our menu, not legacy mode (waited for: on a cold page the menu is drawn after the first run)
    expect(sidebar.get_by_role("link", name=re.compile("Home"))).to_have_count(1, timeout=15_000)
    expect(page.get_by_label("hidden_size")).to_have_value("64", timeout=15_000)

    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=60_000)
    assert wait_until(lambda: step_count(page) > 0)
    first = step_count(page)
    assert wait_until(lambda: step_count(page) > first + 20, timeout=30)  # the count rises live
    assert wait_until(lambda: page.locator(".js-plotly-plot").count() == 2)  # curves + grad norm
    assert page.get_by_text("Gradient norm").count() >= 1
    screenshot(page, "train_live")

    # leave for another page and come back: the run went on
    before = step_count(page)
    sidebar.get_by_role("link", name=re.compile("Home")).click()
    page.wait_for_url(re.compile(r"/$|/\?"))
    wait_idle(page)
    sidebar.get_by_role("link", name=re.compile("Train")).click()
    wait_idle(page)
    page.wait_for_selector("[data-testid='stMetric']", timeout=30_000)
    assert wait_until(lambda: step_count(page) > before + 10, timeout=30)
    expect(page.get_by_label("hidden_size")).to_have_value("64", timeout=15_000)  # survived the visit

    pause_and_check_it_holds(page)                                # paused means paused
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped by you").wait_for(timeout=15_000)
    # a stopped run: Continue trains it on, New run makes another from the sidebar
    expect(page.get_by_role("button", name="Continue (+50,000 steps)")).to_be_enabled(timeout=15_000)
    expect(page.get_by_role("button", name="New run")).to_be_enabled()
    screenshot(page, "train_stopped")
    # each drawn line's label sits on it, on the log-scale gradient norm chart too (the clip label
    # was drawn at 10**clip): label bottoms (yanchor bottom) against dotted/dashed line heights
    for chart in page.locator(".js-plotly-plot").all():
        lines = sorted(b["y"] for b in (p.bounding_box() for p in chart.locator(".shapelayer path").all()) if b)
        labels = sorted(b["y"] + b["height"] for b in (a.bounding_box() for a in chart.locator(".annotation").all()) if b)
        assert lines and len(lines) == len(labels), (lines, labels)
        assert all(abs(line - label) < 12 for line, label in zip(lines, labels)), (lines, labels)


def test_divergence_is_explained_in_the_page(app_server, page):
    page.goto(f"{app_server}/Train?cell=RNN+%28relu%29&optimizer=sgd&lr=3.0&clip=0.0&hidden_size=256&steps=2000")
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text("Training diverged").wait_for(timeout=60_000)
    assert page.get_by_text("lower learning rate", exact=False).count() >= 1
    screenshot(page, "train_diverged")


def test_checkpoint_download_and_resume(app_server, page, tmp_path):
    page.goto(f"{app_server}/Train?steps=30&hidden_size=32")
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text("tokens/s overall").wait_for(timeout=60_000)
    # the poll that shows the end redraws the page for the buttons: a click on a deferred download
    # while a redraw is under way was left spinning once (two test workers' contention)
    expect(page.get_by_role("button", name="Continue (+30 steps)")).to_be_visible(timeout=15_000)
    wait_idle(page)
    page.get_by_text("Save or resume a run").click()
    wait_idle(page)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download checkpoint").click()
    path = tmp_path / "run.pt"
    info.value.save_as(path)
    assert path.stat().st_size > 1000

    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_role("button", name="Yes, reset").click()          # Reset asks first
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_visible(timeout=15_000)
    wait_idle(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").last.set_input_files(str(path))
    page.get_by_text(re.compile(r"^Ready · 30 steps trained so far")).wait_for(timeout=30_000)  # the loaded run
    wait_idle(page)
    assert page.get_by_text(re.compile("^Reset: #1")).count() == 0        # the old run's note went with it
    start = page.get_by_role("button", name="Continue (+30 steps)")   # the loaded run is on screen
    expect(start).to_be_enabled(timeout=15_000)
    start.click()
    assert wait_until(lambda: page.get_by_text("tokens/s overall").count() > 0, timeout=60)
    assert step_count(page) == 60                    # resumed at 30, trained 30 more
    screenshot(page, "train_resumed")


def test_a_rejected_upload_does_not_block_pasted_text(app_server, page, tmp_path):
    page.goto(f"{app_server}/Train?corpus=Your+own+text&steps=5")
    wait_idle(page)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    page.locator("[data-testid='stSidebar'] [data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(binary))
    page.get_by_text("Could not read binary.txt").wait_for(timeout=30_000)
    wait_idle(page)
    assert not page.get_by_role("button", name="Start", exact=True).is_enabled()   # nothing to train on yet
    page.get_by_label("…or paste text (any language)").fill("ab cd ef\n" * 600)
    page.get_by_label("…or paste text (any language)").press("Control+Enter")
    page.get_by_text("Training on the pasted text instead").wait_for(timeout=30_000)
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled(timeout=30_000)
