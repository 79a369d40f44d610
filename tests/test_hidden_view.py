"""Pure figure/HTML builders of the Hidden states page."""
from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest

from playground.figures import hidden as hv


def _values(T=40, H=8, seed=0):
    return np.tanh(np.random.default_rng(seed).normal(size=(T, H))).astype(np.float32)


def test_heatmap_rows_follow_order_and_chars_label_time():
    values, tokens = _values(), list("(a b)\n" * 6 + "xyzw")
    order = np.array([3, 0, 7, 1, 2, 4, 5, 6])
    fig = hv.heatmap_figure(values, tokens, order, "h", encoding="float32", selected_unit=7, uirevision="keep")
    heat, strip = fig.data
    np.testing.assert_array_equal(heat.z, values[:, order].T)  # row r = unit order[r]
    assert heat.z.dtype == np.float32
    assert list(heat.y) == [f"unit {u}" for u in order]
    assert list(fig.layout.xaxis.ticktext[:6]) == ["(", "a", "␣", "b", ")", "↵"]
    assert fig.layout.uirevision == "keep"
    assert list(strip.customdata) == order.tolist()  # a click on the unit column gives the unit id
    assert strip.marker.size[2] > strip.marker.size[0]  # unit 7 (row 2) is highlighted


def test_uint8_encoding_quantizes_linearly_with_real_colorbar_labels():
    values = _values()
    fig = hv.heatmap_figure(values, ["a"] * 40, quantity="h", encoding="uint8")
    z = fig.data[0].z
    assert z.dtype == np.uint8
    expected = np.clip(np.rint((values.T + 1) * 127.5), 0, 255)  # [-1, 1] -> 0..255
    assert np.abs(z.astype(int) - expected).max() <= 1
    assert list(fig.data[0].colorbar.ticktext) == ["-1", "-0.5", "0", "0.5", "1"]


def test_value_ranges():
    assert hv.value_range(np.array([0.2, 0.7]), "f") == (0.0, 1.0)
    assert hv.value_range(np.array([-0.3, 0.5]), "h") == (-1.0, 1.0)
    assert hv.value_range(np.array([-4.0, 2.0]), "c") == (-4.0, 4.0)


def test_payload_256_units_by_1000_steps_is_small_as_typed_arrays():
    """The live target: < 0.5 MB per refresh. JSON exactly as st.plotly_chart builds it."""
    values, tokens = _values(1000, 256), ["("] * 1000
    auto = pio.to_json(hv.heatmap_figure(values, tokens), validate=False)
    assert len(auto) < 500_000
    z = json.loads(auto)["data"][0]["z"]
    assert z["dtype"] == "u1" and "bdata" in z  # base64 typed array, not a nested list
    as_f32 = pio.to_json(hv.heatmap_figure(values, tokens, encoding="float32"), validate=False)
    assert len(as_f32) > 3 * len(auto)  # float32 is 4 bytes a cell (and plotly escapes '/' in base64)


def test_small_heatmaps_stay_float32_with_exact_hover():
    fig = hv.heatmap_figure(_values(100, 64), ["a"] * 100)
    assert fig.data[0].z.dtype == np.float32 and "%{z:.3f}" in fig.data[0].hovertemplate
    with pytest.raises(ValueError, match="encoding"):
        hv.heatmap_figure(_values(), ["a"] * 40, encoding="float16")


def test_unit_text_html_escapes_and_colours_by_sign():
    html = hv.unit_text_html(["<", "b", "\n"], np.array([1.0, -0.5, 0.0]))
    assert "&lt;" in html and "<span title=\"+1.000\" style=\"background:rgba(214,39,40,1.00)\">" in html
    assert "rgba(31,119,180,0.50)" in html  # negative: blue, half strength
    assert "↵<br>" in html


def test_surprise_strip_marks_the_right_guess():
    tokens = ["a", "b", "<"]
    top_tokens = [["b", "c"], ["x", "<"], ["a", "b"]]
    top_probs = np.array([[0.6, 0.3], [0.5, 0.2], [0.9, 0.1]], dtype=np.float32)
    loss = np.array([np.nan, -np.log(0.6), -np.log(0.2)], dtype=np.float32)
    html = hv.surprise_strip_html(tokens, top_tokens, top_probs, loss)
    assert "a</div>" not in html.split("0.51")[0]  # the first token has no guess: not shown
    assert f"{-np.log(0.6):.2f}" in html and f"{-np.log(0.2):.2f}" in html
    assert 'color:#2ca02c;font-weight:bold">b 60%' in html  # b was guessed, and was right
    assert 'color:#2ca02c;font-weight:bold">&lt; 20%' in html
    assert 'color:#555">x 50%' in html


def test_saturation_and_parity_figures():
    rows = [{"layer": l, "direction": 0, "gate": g, "below": 0.1, "above": 0.2,
             "unit_below": np.array([0.1, 0.5], dtype=np.float32),
             "unit_above": np.array([0.8, 0.0], dtype=np.float32)} for l in range(2) for g in "ifo"]
    fig = hv.saturation_figure(rows)
    dots = [t for t in fig.data if t.mode == "markers"]
    assert len(dots) == 6 and list(dots[0].y) == pytest.approx([0.8, 0.0])
    assert [a.text for a in fig.layout.annotations] == ["input gate i", "forget gate f", "output gate o"]
    pf = hv.parity_figure(np.array([[0.0, 1e-7], [2e-6, 3e-6]], dtype=np.float32))
    assert len(pf.data) == 2 and pf.layout.yaxis.type == "log"
    assert min(pf.data[0].y) > 0  # zeros lifted so they show on a log axis
    (line,), (label,) = pf.layout.shapes, pf.layout.annotations   # the tolerance and its label, at it
    assert line.y0 == 1e-5 and label.text == "tolerance 1e-05" and label.y == pytest.approx(-5)   # 10**y on a log axis


def test_show_token():
    assert hv.show_token(" ") == "␣" and hv.show_token("<unk>") == "⟨unk⟩" and hv.show_token("ab") == "ab"
