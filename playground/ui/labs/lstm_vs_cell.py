"""Lab 3, nn.LSTM vs an nn.LSTMCell loop; nn.Embedding as a row lookup; seed 002's code as
written and its one-line fixes."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, tensor_frame, wkey


def render(lab: Lab) -> None:
    c1, c2, c3, c4 = st.columns(4)
    seq_len = c1.slider("seq_len", 1, 10, 2, key=wkey(lab, "seq_len"))
    batch_size = c2.slider("batch_size", 1, 5, 3, key=wkey(lab, "batch"))
    hidden_size = c3.slider("hidden_size", 1, 8, 3, key=wkey(lab, "hidden"))
    seed = c4.number_input("seed", 0, 10_000, 1000, key=wkey(lab, "seed"))
    r = run_with_status(lab, seq_len=seq_len, batch_size=batch_size, hidden_size=hidden_size,
                        seed=int(seed))
    lstm, emb = r["lstm"], r["embedding"]
    m1, m2 = st.columns(2)
    m1.metric("max |nn.LSTM output − LSTMCell loop|", f"{lstm['max_diff_output']:.2e}")
    m2.metric("max |c_n − c from the loop|", f"{lstm['max_diff_c']:.2e}")
    left, right = st.columns(2)
    left.caption("nn.LSTM output (seq_len, batch, hidden)")
    left.dataframe(tensor_frame(lstm["out_lstm"], "h").round(4), width="stretch")
    right.caption("stack of the LSTMCell's h_t")
    right.dataframe(tensor_frame(lstm["out_cell"], "h").round(4), width="stretch")
    st.subheader("nn.Embedding(5, 4) with weight = arange(0, 20).view(5, 4)")
    e1, e2 = st.columns(2)
    e1.caption("the weight table: row k is the vector for id k")
    e1.dataframe(pd.DataFrame(emb["weight"].numpy()).astype(int), width="stretch")
    e2.caption(f"embedding(ids = {emb['ids'].tolist()}): rows {emb['ids'].tolist()} come back")
    e2.dataframe(pd.DataFrame(emb["looked_up"].numpy(), index=[f"id {i}" for i in emb["ids"].tolist()])
                 .astype(int), width="stretch")
    _seed_lstm(r["seed_lstm"])


def _seed_lstm(r: dict) -> None:
    st.subheader("Seed 002: the looked-up rows fed into nn.LSTM(4, 3)")
    st.markdown("The note builds the table above, looks up ids [3, 2, 1], adds a batch "
                "dimension with `unsqueeze(1)` — one sequence of 3 steps, shape "
                f"`{tuple(r['input'].shape)}` = (seq_len, batch, 4) — and runs an LSTM on it. "
                "Run as written on this PyTorch, it stops twice:")
    errors = {"weight": r["weight_error"], "state": r["state_error"]}
    for name, written, fixed in r["steps"]:
        st.code(written, language="python")
        st.error(f"PyTorch: {errors[name]}" if errors[name] else "(no error on this PyTorch)")
        st.caption("one-line fix:")
        st.code(fixed, language="python")
    st.caption(f"With both fixes: output {tuple(r['output'].shape)} (seq_len, batch, hidden), "
               f"h_n {tuple(r['h_n'].shape)}. (The note shows a 3 × 3 × 3 output, printed by an "
               "older PyTorch; today's checks the state's batch size against the input's.)")
    st.dataframe(tensor_frame(r["output"], "h").round(4), width="stretch")
