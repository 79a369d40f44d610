"""Lab 9, warm-up: linear regression by hand and with torch.nn, softmax and cross-entropy,
activations with their formulas and derivatives."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.figures.labs import xy_figure
from playground.labs import warmup
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def render(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    epochs = c1.slider("epochs", 1, 10, 5, key=wkey(lab, "epochs"))
    lr = c2.select_slider("learning rate", [0.003, 0.01, 0.03, 0.1], 0.03, key=wkey(lab, "lr"))
    batch_size = c3.select_slider("batch_size", [1, 10, 100], 10, key=wkey(lab, "batch"))
    r = run_with_status(lab, epochs=epochs, lr=lr, batch_size=batch_size)
    st.subheader("Linear regression: from scratch and with torch.nn")
    last = r["linreg"][-1]
    m = st.columns(4)
    m[0].metric("learned w₁ (true 2)", f"{last.w[0]:.4f}", f"{last.w[0] - warmup.TRUE_W[0]:+.4f}",
                delta_color="off")
    m[1].metric("learned w₂ (true −3.4)", f"{last.w[1]:.4f}", f"{last.w[1] - warmup.TRUE_W[1]:+.4f}",
                delta_color="off")
    m[2].metric("learned b (true 4.2)", f"{last.b:.4f}", f"{last.b - warmup.TRUE_B:+.4f}",
                delta_color="off")
    m[3].metric("loss (ŷ−y)²/2 after the last epoch", f"{last.loss:.2e}")
    _linreg_both(r["linreg"], r["linreg_nn"])
    st.subheader("Softmax and cross-entropy on two examples")
    s = r["softmax"]
    st.dataframe(pd.DataFrame({
        "logits z": [str([round(v, 2) for v in row]) for row in s["logits"].tolist()],
        "softmax(z)": [str([round(v, 3) for v in row]) for row in s["probs"].tolist()],
        "true class y": s["y"].tolist(), "p(y)": s["p_true"].numpy().round(4),
        "−log p(y) by hand": s["ce_by_hand"].numpy().round(4),
        "F.cross_entropy(z, y)": s["ce_torch"].numpy().round(4)}), hide_index=True, width="stretch")
    st.subheader("Activations, their formulas and derivatives")
    _activations(r["activations"], r["formula_check"], lab)
    st.caption("tanh is zero-centred with slope up to 1, so an RNN's state can swing both ways; "
               "sigmoid's slope is at most 1/4, and both flatten for large |x|, where gradients "
               "multiplied over many steps vanish. relu never saturates for x > 0 but lets the "
               "state grow without bound (see the clipping lab).")


def _linreg_frame(history) -> pd.DataFrame:
    return pd.DataFrame([{"epoch": e.epoch, "loss": e.loss, "w1": e.w[0], "w2": e.w[1], "b": e.b}
                         for e in history])


def _linreg_both(scratch, with_nn) -> None:
    left, right = st.columns(2)
    left.caption("from scratch: linreg, squared_loss, sgd")
    left.dataframe(_linreg_frame(scratch), hide_index=True, width="stretch")
    right.caption("nn.Linear(2, 1) + nn.MSELoss() + optim.SGD, same data and batches")
    right.dataframe(_linreg_frame(with_nn), hide_index=True, width="stretch")
    a, b = scratch[-1], with_nn[-1]
    st.caption(f"After epoch {a.epoch}: loss (ŷ−y)²/2 {a.loss:.2e} from scratch, {b.loss:.2e} "
               "with torch. nn.MSELoss is the mean of (ŷ−y)², without the ½, so at the same "
               "learning rate its steps are twice as long: at small learning rates the torch "
               "version gets closer in the same epochs.")


def _activations(a: dict, check: dict, lab: Lab) -> None:
    x = a["x"].numpy()
    cols = st.columns(3)
    for col, name in zip(cols, warmup.FORMULAS):
        f_tex, d_tex, _ = warmup.FORMULAS[name]
        col.latex(f_tex)
        col.latex(d_tex)
        col.plotly_chart(xy_figure(x, {name: a[name].numpy(), f"d {name} (autograd)":
                                       a[f"d {name}"].numpy()}, "x", "", height=260),
                         key=wkey(lab, f"act_{name}"))
        col.metric(f"max |formula − torch.{name}|", f"{check[name]:.1e}")
    st.caption("The seed's note writes sigmoid(x) = 11+exp(−x) and tanh(x) = 1−exp(−2x)1+exp(−2x): "
               "the fraction bars were lost. The formulas above, evaluated as written, match "
               "PyTorch's functions to the printed difference.")
