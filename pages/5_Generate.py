"""Generate: greedy and sampled text from the session's model, what it considered at each
step, and what happens when one neuron is clamped."""
from playground import warmup; warmup.wait()  # noqa: E702  torch & co.: imported once, by the warm-up thread
import streamlit as st

from playground import ui
from playground.generate import generate_trace
from playground.ui import generate as gen_ui

ui.setup_page("Generate", "✍️")

st.title("✍️ Generate text, one character at a time")
st.caption("The model reads the prefix, then writes: at each step it turns its state into a "
           "probability for every character, one is picked (the likeliest: **greedy**; or drawn "
           "at random: **sampled**), fed back in, and the state carried on — so n characters cost "
           "n steps (`playground/generate.py`).")

run = ui.require_run("the Generate page")

w = gen_ui.weights(run, st.session_state.pop(gen_ui.REFRESH_KEY, False))  # Generate: the run's latest weights
gen_ui.weights_caption(run, w)
opts = gen_ui.sampling_controls(run, len(w.vocab))   # a form: nothing regenerates until Generate
common, sampling = opts.text(w), opts.sampling
greedy = generate_trace(**common, greedy=True)
sampled = generate_trace(**common, **sampling)

left, right = st.columns(2)
with left:
    gen_ui.show_text("Greedy (always the likeliest character)", greedy)
with right:
    gen_ui.show_text(f"Sampled ({opts.describe()})", sampled)

st.subheader("What the model considered at one step")
st.caption("Probabilities are the model's own, softmax(logits) at temperature 1: temperature and "
           "top-k change only how the sampled text draws from them.")
gen_ui.step_inspector({"Greedy": greedy, "Sampled": sampled})

st.subheader("Neuron clamp: hold one unit fixed while the model writes")
st.caption("Pick a unit (a hidden-state unit, a cell-state unit or a gate) and force it to a value at "
           "every step, prefix included. Both texts use the same seed, so every difference comes "
           "from the clamp. A unit the Hidden states page showed tracking something (bracket depth, "
           "a line's position) is a good one to try.")
clamp, clamp_greedy = gen_ui.clamp_controls(w.model_config)
decoding = dict(greedy=True) if clamp_greedy else sampling
try:
    free = generate_trace(**common, **decoding, watch=clamp.watch())
    clamped = generate_trace(**common, **decoding, clamp=clamp)
except ValueError as err:
    st.warning(str(err))
    st.stop()
gen_ui.clamp_comparison(free, clamped)
