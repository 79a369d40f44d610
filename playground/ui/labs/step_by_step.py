"""Lab 4, step by step vs whole sequence: the carried state is all an RNN keeps."""
from __future__ import annotations

import streamlit as st

from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, tensor_frame, wkey


def render(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    cell = c1.radio("cell", ["RNN", "LSTM", "GRU"], index=1, horizontal=True, key=wkey(lab, "cell"))
    seq_len = c2.slider("seq_len", 1, 20, 5, key=wkey(lab, "seq_len"))
    num_layers = c3.slider("num_layers", 1, 3, 1, key=wkey(lab, "layers"))
    r = run_with_status(lab, cell=cell, seq_len=seq_len, num_layers=num_layers)
    m1, m2, m3 = st.columns(3)
    m1.metric("max |output difference|", f"{r['max_diff_output']:.2e}")
    m2.metric("max |final state difference|", f"{r['max_diff_state']:.2e}",
              help="h_n" + (" and c_n" if cell == "LSTM" else ""))
    m3.metric("bitwise equal", "yes" if r["bitwise_equal"] else "no")
    left, right = st.columns(2)
    left.caption("whole sequence: rnn(x, state0)")
    left.dataframe(tensor_frame(r["out_whole"], "out").round(5), width="stretch")
    right.caption("one step at a time: rnn(x[t:t+1], state) with the state carried")
    right.dataframe(tensor_frame(r["out_steps"], "out").round(5), width="stretch")
