"""Hidden states: every layer's h (and c) and gates over a text, live while training."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import numpy as np
import streamlit as st

from playground import ui
from playground import hidden_view as hv
from playground.probe import SATURATION_HIGH, SATURATION_LOW
from playground.ui import hidden as hidden_ui

ui.setup_page("Hidden states", "🔬")

REFRESH_SECONDS = 2.0

st.title("🔬 Inside the network: hidden states and gates")
st.caption("nn.LSTM only returns the top layer. Here the model is rebuilt from its own weights "
           "as a from-scratch network (playground/cells.py) that shows every layer, state and "
           "gate at every time step — and checked against PyTorch at the bottom of the page.")

run = ui.require_run("the Hidden states page")

text = hidden_ui.text_picker(run)
was_active = run.is_active


@st.fragment(run_every=REFRESH_SECONDS if was_active else None)
def views() -> None:
    result = hidden_ui.probe_run(run, text)
    if result is None:
        return
    live = f"training, refreshed every {REFRESH_SECONDS:g} s" if run.is_active else run.status
    st.caption(f"Run {run.run_id[:8]} · step {run.steps_done} · {live} · "
               f"{result.cell}, {result.num_layers} layer(s) × hidden_size {result.hidden_size} · "
               f"{len(result.tokens)} tokens, mean loss {result.mean_loss:.3f} nats")

    view = hidden_ui.view_controls(result)
    hidden_ui.depth_hint(result, text)
    unit = st.session_state.get("hid_unit")
    fig = hv.heatmap_figure(
        view["values"], result.tokens, view["order"], view["quantity"], selected_unit=unit,
        title=f"{hv.GATE_TITLES[view['quantity']]}, layer {view['layer']} "
              f"{hidden_ui.DIRECTIONS[view['direction']]}: time × units (sorted by {view['sort']})",
        uirevision=f"{run.run_id}-{view['layer']}-{view['direction']}-{view['quantity']}-{view['sort']}")
    hidden_ui.heatmap_chart(fig)

    st.subheader("The text, coloured by one unit")
    unit = hidden_ui.unit_picker(view)
    values = hidden_ui.unit_activation(view, unit)
    st.html(hv.unit_text_html(
        result.tokens, values,
        f"unit {unit}: red = positive, blue = negative (max |{view['quantity']}| = "
        f"{float(np.abs(values).max()):.3f}); hover a character for its value"))

    st.subheader("Surprise strip: what the model expected at each step")
    T = len(result.tokens)
    start = st.slider("From token", 1, max(1, T - 1), 1, key="hid_strip_start") if T > 2 else 1
    st.html(hv.surprise_strip_html(result.tokens, result.top_tokens, result.top_probs, result.loss,
                                   start=start, length=60))
    st.caption("Under each character: its loss −log p (nats) and the model's top-5 guesses made "
               "one step before; the right one is green. Mean loss = log(perplexity).")

    st.subheader("Gate saturation")
    if result.saturation:
        st.plotly_chart(hv.saturation_figure(result.saturation, SATURATION_LOW, SATURATION_HIGH),
                        key="hid_saturation")
        st.caption(f"One dot per unit and gate: the share of time the gate is nearly closed "
                   f"(< {SATURATION_LOW}, x) or nearly open (> {SATURATION_HIGH}, y), as in Karpathy "
                   "et al. 2015. Top-left: gates that stay open; bottom-right: gates that stay shut.")
    else:
        st.info("A plain RNN has no gates: train an LSTM or GRU to see them.")

    st.subheader("Parity with PyTorch")
    left, right = st.columns([1, 3])
    left.metric("max |from-scratch − nn|", f"{result.parity_max:.2e}",
                help="Over all layers and time steps: each layer's from-scratch h against an nn module "
                     "with the same weights.")
    with right:
        st.plotly_chart(hv.parity_figure(result.parity), key="hid_parity")

    if was_active and not run.is_active:
        st.rerun()  # training ended: redraw once, then stop polling


views()
