"""AppTest for pages/3_Hidden_states.py, with a briefly trained model in the session."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import open_page
from conftest import trained_run as make_trained_run
from playground.config import ModelConfig, TrainConfig
from playground.corpora import brackets_text
from playground.figures.hidden import GATE_TITLES
from playground.probe import best_unit, nesting_depth, probe

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/3_Hidden_states.py"
OWNER = "test-owner-hidden"


@pytest.fixture(scope="module")
def trained_run():
    with make_trained_run(ModelConfig(cell="LSTM", embedding_dim=8, hidden_size=16, num_layers=2),
                          TrainConfig(seq_len=32, batch_size=8, seed=0), brackets_text(4000),
                          steps=20, owner=OWNER) as run:
        yield run


def _app(run) -> AppTest:
    return open_page(PAGE, run)


def test_without_a_run_the_page_points_to_train():
    at = open_page(PAGE)
    assert not at.exception
    assert any("Train a model first" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_page_shows_heatmap_text_strip_and_parity(trained_run):
    at = _app(trained_run)
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # heatmap, gate saturation, parity
    assert at.selectbox(key="hid_quantity").options == [GATE_TITLES[q] for q in "hcifgo"]
    assert at.selectbox(key="hid_layer").options == ["0", "1"]
    parity = next(m for m in at.metric if m.label.startswith("max |equations"))
    assert float(parity.value) <= 1e-5
    html = [h.proto.body for h in at.get("html")]
    snippet = trained_run.val_text(300)
    assert any("background:rgba" in h for h in html)               # coloured text
    model, vocab, _ = trained_run.copy_model()
    res = probe(model, vocab, snippet)  # the strip shows each token's loss and top guesses
    strip = next(h for h in html if f"{res.loss[1]:.2f}" in h and f"{res.top_probs[0][0]:.0%}" in h)
    assert "display:inline-block" in strip
    assert f"{len(snippet)} tokens" in " ".join(c.value for c in at.caption)


def test_switching_quantity_and_sorting(trained_run):
    at = _app(trained_run)
    at.selectbox(key="hid_quantity").select("f").run()
    at.selectbox(key="hid_sort").select("correlation").run()
    assert not at.exception, at.exception
    assert "forget gate f" in at.get("plotly_chart")[0].proto.spec


def test_depth_button_selects_the_most_correlated_unit(trained_run):
    at = _app(trained_run)
    at.button[0].click().run()  # "Find the nesting-depth unit"
    assert not at.exception, at.exception
    model, vocab, _ = trained_run.copy_model()
    res = probe(model, vocab, trained_run.val_text(300))
    best = best_unit(res, nesting_depth(res.tokens))
    assert at.session_state["hid_unit"] == best["unit"]
    assert at.session_state["hid_layer"] == best["layer"]
    assert at.session_state["hid_quantity"] == best["quantity"]
    msg = " ".join(s.value for s in at.success)
    assert f"Unit {best['unit']} of layer {best['layer']}" in msg and f"{best['r']:+.2f}" in msg
    assert np.isfinite(best["r"]) and best["r"] != 0


def test_own_text_is_probed(trained_run):
    at = _app(trained_run)
    at.radio(key="hid_source").set_value("My own text").run()
    at.text_area(key="hid_own_text").input("(()())").run()
    assert not at.exception, at.exception
    assert "6 tokens" in " ".join(c.value for c in at.caption)
    at.text_area(key="hid_own_text").input("").run()
    assert not at.exception
    assert any("empty" in w.value for w in at.warning)


def test_view_holds_the_chosen_arrays_and_the_probe_is_cached(trained_run):
    from playground.ui import hidden as hidden_ui

    text = trained_run.val_text(200)
    result, step = hidden_ui.probe_run(trained_run, text)
    assert step == trained_run.steps_done
    assert hidden_ui.probe_run(trained_run, text)[0] is result       # the last probe, not a new one
    other, _ = hidden_ui.probe_run(trained_run, text[:50])
    assert len(other.tokens) == 50 != len(result.tokens)   # another text is probed, not reused
    view = hidden_ui.make_view(result, 1, 0, "c", "correlation", "is a vowel")
    c = view.values
    assert c.shape == (len(result.tokens), 16) and view.r.shape == (16,)
    assert np.array_equal(c, result.states[(1, 0)]["c"])
    assert abs(view.r[view.order[0]]) == np.nanmax(np.abs(view.r))  # strongest |r| first
    assert view.title == "cell state c, layer 1 forward: time × units (sorted by correlation)"
    with pytest.raises(AttributeError):
        view.valus  # noqa: B018  a typo fails loudly
