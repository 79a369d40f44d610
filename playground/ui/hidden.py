"""Streamlit helpers for the Hidden states page: text picker, the cached probe, view controls,
the nesting-depth hint, and one function per section (heatmap, coloured text, surprise strip,
gate saturation, parity with PyTorch).

Session-state keys (all prefixed "hid_"): hid_source, hid_n_chars, hid_own_text, hid_layer,
hid_direction, hid_quantity, hid_sort, hid_signal, hid_unit, hid_heatmap, hid_hint,
hid_strip_start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from playground.figures import hidden as hv
from playground import probe as pr
from playground.figures.hidden import GATE_TITLES
from playground.runner import Run
from playground.ui import registry
from playground.cells import LABELS
from playground.latest import Latest
from playground.ui.share import capped, plain

SOURCES = ("Validation snippet", "My own text")
SORTS = ("unit index", "activity", "correlation")
DIRECTIONS = ("forward", "reverse")
REFRESH_SECONDS = 2.0   # how often the views redraw while the run trains


@dataclass(frozen=True)
class UnitView:
    """What the view controls picked, and the arrays the heatmap and the text show."""
    layer: int
    direction: int               # 0 forward, 1 reverse
    quantity: str                # "h", "c" or a gate name
    sort: str                    # one of SORTS
    signal: str                  # one of probe.SIGNALS
    values: np.ndarray           # (T, H) the quantity over time
    signal_values: np.ndarray    # (T,) the character class over time
    order: np.ndarray            # (H,) unit ids in the heatmap's row order
    r: np.ndarray                # (H,) each unit's correlation with the signal

    @property
    def title(self) -> str:
        return (f"{GATE_TITLES[self.quantity]}, layer {self.layer} {DIRECTIONS[self.direction]}: "
                f"time × units (sorted by {self.sort})")


def make_view(result: pr.ProbeResult, layer: int, direction: int, quantity: str, sort: str,
              signal: str) -> UnitView:
    """The arrays for one choice of the view controls (pure: no streamlit)."""
    values = result.states[(layer, direction)][quantity]  # (T, H)
    signal_values = pr.char_signal(result.tokens, signal)  # (T,)
    return UnitView(layer, direction, quantity, sort, signal, values, signal_values,
                    order=pr.sort_units(values, sort, signal_values),
                    r=pr.unit_correlation(values, signal_values))


def text_picker(run: Run) -> str:
    """The text to probe: a held-out snippet of the run's corpus, or the user's own."""
    c = st.columns([2, 3])
    source = c[0].radio("Text to probe", SOURCES, key="hid_source", horizontal=True)
    if source == SOURCES[0]:
        n = c[1].slider("Snippet length (tokens)", 20, 1000, 300, 10, key="hid_n_chars")
        return run.val_text(n)
    cap = registry().limits.max_probe_chars
    text = st.text_area(f"Your text (at most {cap:,} characters; characters the model never saw map to <unk>)",
                        run.val_text(120), key="hid_own_text", height=90, max_chars=cap)
    return capped(text, cap, "Your text", "PLAYGROUND_MAX_PROBE_CHARS")



PROBE_EVERY = 5.0       # seconds between background probes of a training run (the cores are for training)
PROBES = Latest(max_keys=32, min_interval=PROBE_EVERY)   # per (run, text): the last probe


def _probe(run: Run, text: str) -> pr.ProbeResult:
    """probe() on a fresh copy of the run's weights (one torch thread: leave the cores to training)."""
    torch.set_num_threads(1)
    model, vocab, _ = run.copy_model()
    return pr.probe(model, vocab, text, run.train_config.tokenizer)


def probe_run(run: Run, text: str) -> tuple[pr.ProbeResult, int] | None:
    """(the last probe of the run's weights, the step it was taken at): drawn at once; a newer
    step is probed in the background while the run trains, so a control change never waits for
    a probe. A warning instead for bad text (e.g. empty)."""
    try:
        return PROBES.get((run.run_id, text), run.steps_done, lambda: _probe(run, text), wait=not run.is_active)
    except ValueError as err:
        st.warning(str(err))
        return None


def status_caption(run: Run, result: pr.ProbeResult, step: int) -> None:
    live = (f"training (now at step {run.steps_done:,}), refreshed every {REFRESH_SECONDS:g} s"
            if run.is_active else str(run.status))
    layers = f"{result.num_layers} layer{'s' if result.num_layers != 1 else ''}"
    st.caption(f"{plain(run.label)} · weights of step {step:,} · {live} · "
               f"{LABELS.get(result.cell, result.cell)}, {layers} × hidden_size {result.hidden_size} · "
               f"{len(result.tokens)} tokens, mean loss {result.mean_loss:.3f} nats")


def _clamp(key: str, options: list) -> None:
    """Drop a remembered widget value the current model no longer offers."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def view_controls(result: pr.ProbeResult) -> UnitView:
    """Layer, direction, quantity, unit sorting, character class; returns the chosen view."""
    layers, dirs = list(range(result.num_layers)), list(range(result.num_directions))
    for key, options in (("hid_layer", layers), ("hid_direction", dirs), ("hid_quantity", result.quantities),
                         ("hid_signal", list(pr.SIGNALS))):
        _clamp(key, options)
    c = st.columns(5)
    return make_view(
        result,
        layer=c[0].selectbox("Layer", layers, key="hid_layer"),
        direction=c[1].selectbox("Direction", dirs, format_func=DIRECTIONS.__getitem__,
                                 key="hid_direction", disabled=len(dirs) == 1),
        quantity=c[2].selectbox("Quantity", result.quantities, key="hid_quantity",
                                format_func=lambda q: GATE_TITLES.get(q, q)),
        sort=c[3].selectbox("Sort units by", SORTS, key="hid_sort",
                            help="activity = standard deviation over time; correlation = |Pearson r| "
                                 "with the character class on the right"),
        signal=c[4].selectbox("Character class", pr.SIGNALS, key="hid_signal"),
    )


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


def heatmap(run: Run, result: pr.ProbeResult, view: UnitView) -> None:
    """Time × units; a click on a unit's dot picks it for the coloured text."""
    fig = hv.heatmap_figure(
        view.values, result.tokens, view.order, view.quantity,
        selected_unit=st.session_state.get("hid_unit"), title=view.title,
        uirevision=f"{run.run_id}-{view.layer}-{view.direction}-{view.quantity}-{view.sort}")
    st.plotly_chart(fig, key="hid_heatmap", on_select=_on_heatmap_click, selection_mode="points",
                    config={"displaylogo": False})


def unit_picker(view: UnitView) -> int:
    """The unit shown in the coloured text, listed in the heatmap's order with its r."""
    order = [int(u) for u in view.order]
    _clamp("hid_unit", order)
    return st.selectbox("Unit (or click its dot left of the heatmap)", order, key="hid_unit",
                        format_func=lambda u: f"unit {u}  (r = {view.r[u]:+.2f} with '{view.signal}')")


def unit_text(result: pr.ProbeResult, view: UnitView) -> None:
    """The probed text, each character coloured by one unit's value."""
    st.subheader("The text, coloured by one unit")
    unit = unit_picker(view)
    values = view.values[:, unit]  # (T,)
    st.html(hv.unit_text_html(
        result.tokens, values,
        f"unit {unit}: red = positive, blue = negative (max |{view.quantity}| = "
        f"{float(np.abs(values).max()):.3f}); hover a character for its value"))


def surprise_strip(result: pr.ProbeResult) -> None:
    st.subheader("Surprise strip: what the model expected at each step")
    T = len(result.tokens)
    start = st.slider("From token", 1, max(1, T - 1), 1, key="hid_strip_start") if T > 2 else 1
    st.html(hv.surprise_strip_html(result.tokens, result.top_tokens, result.top_probs, result.loss,
                                   start=start, length=60))
    st.caption("Under each character: its loss −log p (nats) and the model's top-5 guesses made "
               "one step before; the right one is green. Mean loss = log(perplexity).")


def gate_saturation(result: pr.ProbeResult) -> None:
    st.subheader("Gate saturation")
    if not result.saturation:
        st.info("A plain RNN has no gates: train an LSTM or GRU to see them.")
        return
    low, high = pr.SATURATION_LOW, pr.SATURATION_HIGH
    st.plotly_chart(hv.saturation_figure(result.saturation, low, high), key="hid_saturation")
    st.caption(f"One dot per unit and gate: the share of time the gate is nearly closed "
               f"(< {low}, x) or nearly open (> {high}, y), as in Karpathy "
               "et al. 2015. Top-left: gates that stay open; bottom-right: gates that stay shut.")


def parity(result: pr.ProbeResult) -> None:
    st.subheader("Parity with PyTorch")
    left, right = st.columns([1, 3])
    left.metric("max |equations − nn|", f"{result.parity_max:.2e}",
                help="Over all layers and time steps: h recomputed from the cell equations (with the "
                     "gates shown above) against the h of an nn module with the same weights.")
    with right:
        st.plotly_chart(hv.parity_figure(result.parity), key="hid_parity")
