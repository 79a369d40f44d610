"""Hidden states: every layer's h (and c) and gates over a text, live while training."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
from playground.ui import hidden as hidden_ui

ui.setup_page("Hidden states", "🔬")

st.title("🔬 Inside the network: hidden states and gates")
st.caption("nn.LSTM only returns the top layer. Here each layer is run as its own nn module with the "
           "model's weights, and every gate is computed from the cell equations (playground/cells.py) "
           "using PyTorch's own h — every layer, state and gate at every time step, checked against "
           "PyTorch at the bottom of the page.")

run = ui.require_run("the Hidden states page")

text = hidden_ui.text_picker(run)
was_active = run.is_active


@st.fragment(run_every=hidden_ui.REFRESH_SECONDS if was_active else None)
def views() -> None:
    probed = hidden_ui.probe_run(run, text)  # the last probe; newer steps are probed in the background
    if probed is None:
        return
    result, step = probed
    hidden_ui.status_caption(run, result, step)
    view = hidden_ui.view_controls(result)   # layer, direction, quantity, sorting
    hidden_ui.depth_hint(result, text)
    hidden_ui.heatmap(run, result, view)
    hidden_ui.unit_text(result, view)
    hidden_ui.surprise_strip(result)
    hidden_ui.gate_saturation(result)
    hidden_ui.parity(result)
    if was_active and not run.is_active:
        st.rerun()  # training ended: redraw once, then stop polling


views()
