"""RNN Playground — home page. Run with `streamlit run app.py`."""
import streamlit as st

from playground import ui, warmup

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

# torch, pandas and plotly load once, in a background thread, after Home is drawn: Home never
# waits for them, and every other page calls warmup.wait() before importing the engine, so no
# two sessions run a first import of torch at the same time (docs/architecture.md).
warmup.start()
