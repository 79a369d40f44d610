"""Links: settings from the URL, bad values ignored with a note, instructor lock/hide."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from conftest import open_page, wait_idle, screenshot

ROOT = Path(__file__).resolve().parent.parent


def train_with(params: dict) -> AppTest:
    return open_page("pages/1_Train.py", query=params)


def test_link_restores_the_config():
    at = train_with({"hidden_size": "64", "cell": "GRU", "lr": "0.01", "sampler": "random"})
    assert not at.exception
    assert at.number_input(key="hidden_size").value == 64
    assert at.selectbox(key="cell").value == "GRU"
    assert at.select_slider(key="lr").value == 0.01
    assert at.radio(key="sampler").value == "random"
    assert not at.warning


def test_bad_values_are_ignored_with_a_note():
    at = train_with({"hidden_size": "lots", "num_layers": "99", "cell": "Transformer", "nope": "1",
                     "seq_len": "16"})
    assert not at.exception
    note = " ".join(w.value for w in at.warning)
    assert "hidden_size=lots" in note and "cell=Transformer" in note
    errors = " ".join(e.value for e in at.error)               # a number out of range: named, Start waits
    assert "num_layers 99 is outside 1…8" in errors and next(b for b in at.button if b.label == "Start").disabled
    assert "“nope”" in note and "seq_len" not in note
    assert at.number_input(key="hidden_size").value == 128  # the default, not a crash
    assert at.number_input(key="seq_len").value == 16


INJECTION = {"\n\n[Log in again](http://ev.il/a)": "1", "seed": "\n\n![](/pixel.png?u=1)",
             "lr": "<img src=x onerror=alert(1)>", "steps": "`x` :red[big] $x^2$ # head"}


def as_shown(markdown: str) -> str:
    """Markdown's backslash escapes resolved: the text a reader sees."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def unescaped(markdown: str) -> str:
    """What CommonMark would treat as syntax: the text with backslash-escaped characters removed."""
    return re.sub(r"\\[!-/:-@\[-`{-~]", "", markdown)


def test_a_link_cannot_put_a_link_or_an_image_in_the_page():
    """Issue 19: `_short()` stripped backticks, not newlines, so a link rendered a link and an image."""
    at = train_with(INJECTION)
    assert not at.exception
    shown = [e.value for e in [*at.warning, *at.error, *at.info, *at.markdown, *at.caption, *at.success]]
    note = as_shown(" ".join(w.value for w in at.warning))
    assert "[Log in again](http://ev.il/a)" in note and "seed= ![](/pixel.png?u=1)" in note  # named, as typed
    for markdown in shown:
        syntax = unescaped(markdown)
        for needle in ("](", "![", "<img", ":red[", "$x", "`x`", "\n\n"):
            assert needle not in syntax, (needle, markdown)


def test_plain_escapes_markdown_and_line_breaks():
    from playground.ui.share import plain
    assert plain("a\n\n[b](http://c)") == "a \\[b\\]\\(http\\:\\/\\/c\\)"
    assert plain("x" * 50, 40) == "x" * 40 + "… (50 characters)"
    assert plain("été 循环 🙂") == "été 循环 🙂"


def test_instructor_lock_disables_controls():
    at = train_with({"cell": "GRU", "lock": "cell,hidden_size", "hide": "seq_len"})
    assert at.selectbox(key="cell").disabled and at.number_input(key="hidden_size").disabled
    assert at.number_input(key="seq_len").disabled and not at.number_input(key="batch_size").disabled
    assert any("Instructor mode" in i.value for i in at.info)


@pytest.mark.browser
def test_shared_link_opens_the_same_config(app_server, page, browser):
    page.goto(f"{app_server}/Train?hidden_size=48&cell=GRU")
    wait_idle(page)
    page.get_by_text("Share these settings").click()
    wait_idle(page)
    hide = page.locator("[data-testid='stMultiSelect']").filter(has_text="Hide")
    hide.locator("input").click()  # open the options list, filter it, pick seq_len from it
    hide.locator("input").fill("seq_len")
    page.get_by_role("option", name="seq_len", exact=True).click(timeout=20_000)
    code = page.locator("[data-testid='stCode']").filter(has_text="hide=")
    code.wait_for(timeout=20_000)
    link = code.inner_text().strip()
    assert re.search(r"hidden_size=48", link) and "hide=seq_len" in link

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    fresh.goto(link)
    wait_idle(fresh)
    expect(fresh.get_by_label("hidden_size")).to_have_value("48", timeout=15_000)
    summary = fresh.locator("[data-testid='stCaptionContainer']").filter(has_text="parameters").inner_text()
    assert "GRU, 1 layer × hidden_size 48" in summary
    expect(fresh.get_by_label("seq_len (time steps per window)")).to_be_hidden()  # hidden by the instructor
    assert fresh.get_by_text("Instructor mode:").count() == 1
    screenshot(fresh, "train_shared_link")
    fresh.context.close()


def test_shapes_link_restores_the_inspector():
    at = open_page("pages/2_Shapes.py", query={"shp_cell": "GRU", "shp_hidden_size": "33",
                                               "shp_bidirectional": "true"})
    assert not at.exception
    assert at.radio(key="shp_cell").value == "GRU" and at.number_input(key="shp_hidden_size").value == 33
    shown = {m.label: m.value for m in at.metric}
    assert shown["output"] == "(5, 3, 66)" and shown["h_n"] == "(4, 3, 33)"   # 2 layers × 2 directions


def test_shapes_bad_link_values_get_a_note_and_lock_works():
    at = open_page("pages/2_Shapes.py", query={"shp_hidden_size": "-5", "shp_cell": "TRANSFORMER",
                                               "lock": "shp_cell"})
    assert not at.exception
    note = as_shown(" ".join(w.value for w in at.warning))
    assert "shp_hidden_size=-5" in note and "shp_cell=TRANSFORMER" in note
    assert at.radio(key="shp_cell").disabled and not at.number_input(key="shp_hidden_size").disabled
    assert at.number_input(key="shp_hidden_size").value == 20     # the inspector's default kept
