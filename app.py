"""RNN Playground — home page. Run with `streamlit run app.py`."""
# Heavy imports first, once, in the entry script: a concurrent first import from two
# sessions raced (DESIGN.md).
import pandas  # noqa: F401
import plotly  # noqa: F401
import torch  # noqa: F401

import streamlit as st

from playground import ui

ui.setup_page("Home", "🔁", runs=False)  # the link only: Home never waits for the engine

st.title("🔁 RNN Playground")
st.markdown(
    "Build a recurrent neural network, train it live in your browser, and look inside it. "
    "Everything runs on this server in PyTorch; nothing is downloaded.")

st.subheader("Start in 30 seconds")
st.markdown(
    "1. Open **Train**. The *Nested brackets* corpus and an LSTM are already selected.\n"
    "2. Press **Start**. Watch the loss fall below the dotted *letter frequencies only* line: "
    "that is the network starting to use context.\n"
    "3. Read the generated text under the curves: greedy and sampled, every 100 steps.\n"
    "4. Open **Hidden states** and press *Find the nesting-depth unit*: one unit of your LSTM "
    "has learned to count brackets.")
st.page_link("pages/1_Train.py", label="Train a network now", icon="🏋️")

st.subheader("Pages")
for path, name, icon, what in ui.available_pages()[1:]:
    st.page_link(path, label=f"**{name}** — {what}", icon=icon)

st.subheader("What you will see")
st.markdown(
    "- **Loss** is the cross-entropy in nats per token; **perplexity** = exp(loss). A model that "
    "guesses uniformly has perplexity |V| (the vocabulary size); one that knows only how often "
    "each character occurs sits on the *letter frequencies only* line.\n"
    "- **Consecutive** sampling carries the hidden state from one batch to the next (and detaches "
    "it); **random** sampling resets it every batch.\n"
    "- **Gradient clipping** rescales the gradient when its global norm exceeds the threshold.")
