"""Streamlit helpers for the Hidden states page: text picker, view controls, the cached probe,
the nesting-depth hint and the unit picker.

Session-state keys (all prefixed "hid_"): hid_source, hid_n_chars, hid_own_text, hid_layer,
hid_direction, hid_quantity, hid_sort, hid_signal, hid_unit, hid_heatmap, hid_hint, hid_cache.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from playground import probe as pr
from playground.hidden_view import GATE_TITLES
from playground.runner import Run

SOURCES = ("Validation snippet", "My own text")
SORTS = ("unit index", "activity", "correlation")
DIRECTIONS = ("forward", "reverse")


def text_picker(run: Run) -> str:
    """The text to probe: a held-out snippet of the run's corpus, or the user's own."""
    c = st.columns([2, 3])
    source = c[0].radio("Text to probe", SOURCES, key="hid_source", horizontal=True)
    if source == SOURCES[0]:
        n = c[1].slider("Snippet length (tokens)", 20, 1000, 300, 10, key="hid_n_chars")
        return run.val_text(n)
    default = run.val_text(120)
    return st.text_area("Your text (characters the model never saw map to <unk>)", default,
                        key="hid_own_text", height=90)


def probe_run(run: Run, text: str) -> pr.ProbeResult | None:
    """Probe a fresh copy of the run's weights; cached while the weights and text stay the same."""
    step = run.steps_done
    key = (run.run_id, step, text)
    cached = st.session_state.get("hid_cache")
    if cached and cached[0] == key:
        return cached[1]
    torch.set_num_threads(1)  # per thread here: leave the other core to training
    model, vocab, _ = run.copy_model()
    try:
        result = pr.probe(model, vocab, text, run.train_config.tokenizer)
    except ValueError as err:
        st.warning(str(err))
        return None
    st.session_state["hid_cache"] = (key, result)
    return result


def _clamp(key: str, options: list) -> None:
    """Drop a remembered widget value the current model no longer offers."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def view_controls(result: pr.ProbeResult) -> dict:
    """Layer, direction, quantity, unit sorting. Returns the chosen view as a dict."""
    layers, dirs = list(range(result.num_layers)), list(range(result.num_directions))
    for key, options in (("hid_layer", layers), ("hid_direction", dirs), ("hid_quantity", result.quantities),
                         ("hid_signal", list(pr.SIGNALS))):
        _clamp(key, options)
    c = st.columns(5)
    view = {
        "layer": c[0].selectbox("Layer", layers, key="hid_layer"),
        "direction": c[1].selectbox("Direction", dirs, format_func=DIRECTIONS.__getitem__,
                                    key="hid_direction", disabled=len(dirs) == 1),
        "quantity": c[2].selectbox("Quantity", result.quantities, key="hid_quantity",
                                   format_func=lambda q: GATE_TITLES.get(q, q)),
        "sort": c[3].selectbox("Sort units by", SORTS, key="hid_sort",
                               help="activity = standard deviation over time; correlation = |Pearson r| "
                                    "with the character class on the right"),
        "signal": c[4].selectbox("Character class", pr.SIGNALS, key="hid_signal"),
    }
    view["values"] = result.states[(view["layer"], view["direction"])][view["quantity"]]  # (T, H)
    view["signal_values"] = pr.char_signal(result.tokens, view["signal"])  # (T,)
    view["order"] = pr.sort_units(view["values"], view["sort"], view["signal_values"])
    view["r"] = pr.unit_correlation(view["values"], view["signal_values"])  # (H,)
    return view


def _select_depth_unit(result: pr.ProbeResult) -> None:
    best = pr.best_unit(result, pr.nesting_depth(result.tokens))
    st.session_state.update(hid_layer=best["layer"], hid_direction=best["direction"],
                            hid_quantity=best["quantity"], hid_unit=best["unit"],
                            hid_sort="correlation", hid_signal=pr.SIGNALS[0])
    st.session_state["hid_hint"] = (
        f"Unit {best['unit']} of layer {best['layer']} ({DIRECTIONS[best['direction']]}, "
        f"{GATE_TITLES[best['quantity']]}) follows the nesting depth with correlation "
        f"r = {best['r']:+.2f}. Look at it in the text below: it "
        f"{'rises' if best['r'] > 0 else 'falls'} with each '(' and goes back with each ')'.")


def depth_hint(result: pr.ProbeResult, text: str) -> None:
    """For text with brackets: a button that selects the unit that best counts nesting depth."""
    if not pr.has_brackets(text):
        return
    st.button("Find the nesting-depth unit", on_click=_select_depth_unit, args=(result,),
              help="Searches every layer, direction, h and c for the unit most correlated "
                   "with the bracket depth of the text.")
    if st.session_state.get("hid_hint"):
        st.success(st.session_state["hid_hint"])


def _on_heatmap_click() -> None:
    """A click on the unit column of the heatmap picks that unit."""
    points = st.session_state["hid_heatmap"].selection.points
    for p in points:
        unit = p.get("customdata")
        if unit is None and str(p.get("y", "")).startswith("unit "):
            unit = int(str(p["y"])[5:])
        if unit is not None:
            st.session_state["hid_unit"] = int(unit[0] if isinstance(unit, list) else unit)
            return


def heatmap_chart(fig) -> None:
    st.plotly_chart(fig, key="hid_heatmap", on_select=_on_heatmap_click, selection_mode="points",
                    config={"displaylogo": False})


def unit_picker(view: dict) -> int:
    """The unit shown in the coloured text, listed in the heatmap's order with its r."""
    order = [int(u) for u in view["order"]]
    _clamp("hid_unit", order)
    r = view["r"]
    return st.selectbox("Unit (or click its dot left of the heatmap)", order, key="hid_unit",
                        format_func=lambda u: f"unit {u}  (r = {r[u]:+.2f} with '{view['signal']}')")


def unit_activation(view: dict, unit: int) -> np.ndarray:
    return view["values"][:, unit]  # (T,)
