"""Lab 1, "hello" -> "ohlol": three versions side by side, why CrossEntropyLoss takes class
ids, and the RNN cell as one linear layer on [h; x]."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.figures.labs import curves_figure
from playground.labs import hello
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def _colour_string(predicted: str, target: str) -> str:
    return " ".join(f":green[**{p}**]" if p == t else f":red[**{p}**]"
                    for p, t in zip(predicted, target))


def render(lab: Lab) -> None:
    c1, c2 = st.columns(2)
    epochs = c1.slider("epochs", 5, 60, 15, key=wkey(lab, "epochs"),
                       help="15, as in the seed note.")
    seed = c2.number_input("seed", 0, 99, 2, key=wkey(lab, "seed"),
                           help="Seed 0 leaves the one-hot versions stuck at “ohlll”: with "
                                "hidden_size = 4 classes there is little room.")
    results = run_with_status(lab, epochs=epochs, seed=int(seed))
    shown = st.slider("show the prediction after epoch", 1, epochs, epochs, key=wkey(lab, "shown"))
    cols = st.columns(3)
    for col, (name, history) in zip(cols, results.items()):
        r = history[shown - 1]
        col.markdown(f"##### {name}")
        col.markdown(f"input `hello` → {_colour_string(r.predicted, hello.TARGET)}")
        col.metric(f"loss after epoch {r.epoch}", f"{r.loss:.3f}",
                   help="cross-entropy; the RNNCell loop sums it over the 5 steps")
        col.dataframe(pd.DataFrame([vars(e) for e in history]).set_index("epoch"),
                      height=220, width="stretch")
    final = {name: h[-1].predicted for name, h in results.items()}
    reached = [n for n, p in final.items() if p == hello.TARGET]
    st.success(f"Reached “ohlol”: {', '.join(reached) or 'none yet'}")
    st.plotly_chart(curves_figure({n: [e.loss for e in h] for n, h in results.items()},
                                  "epoch", "loss"), key=wkey(lab, "chart"))
    st.subheader("Why CrossEntropyLoss takes class ids")
    ce = hello.cross_entropy_targets()
    st.markdown(
        f"Logits have shape `(seq_len·batch, classes) = {ce['logits_shape']}`; the target is "
        f"one class id per row, shape `(seq_len·batch,) = {ce['ids_shape']}`: `{ce['ids']}` "
        "for “ohlol”. The loss picks `-log softmax(z)[y]` from each row.")
    st.dataframe(pd.DataFrame({
        "target given as": ["class ids (N,)", "one-hot floats (N, C) = probabilities",
                            "by hand: -log_softmax(z)[y]", "one-hot integers (N, C)"],
        "loss": [f"{ce['loss_ids']:.6f}", f"{ce['loss_probabilities']:.6f}",
                 f"{ce['loss_by_hand']:.6f}", "error: " + ce["long_one_hot_error"]]}),
        hide_index=True, width="stretch")
    _cell_as_linear()


def _cell_as_linear() -> None:
    st.subheader("An RNN cell is one linear layer on [h; x]")
    st.latex(r"\tanh(W_{ih}x + b_{ih} + W_{hh}h + b_{hh}) = "
             r"\tanh\big([W_{hh}\;W_{ih}]\,[h;\,x] + (b_{ih} + b_{hh})\big)")
    r = hello.cell_as_one_linear()
    m1, m2 = st.columns(2)
    m1.metric("max |RNNCell h − tanh(Linear([h; x]))| over “hello”", f"{r['max_diff']:.1e}")
    m2.metric("the Linear's weight [W_hh W_ih]", f"{r['weight_shape'][0]} × {r['weight_shape'][1]}",
              help="(hidden_size, hidden_size + input_size)")
    left, right = st.columns(2)
    left.caption("nn.RNNCell, h_t at each step of “hello”")
    left.dataframe(pd.DataFrame(r["h_cell"].numpy(), index=list(hello.SOURCE)).round(5),
                   width="stretch")
    right.caption("tanh(nn.Linear(cat([h, x]))) with the same numbers")
    right.dataframe(pd.DataFrame(r["h_linear"].numpy(), index=list(hello.SOURCE)).round(5),
                    width="stretch")
