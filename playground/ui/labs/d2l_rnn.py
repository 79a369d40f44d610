"""Lab 11, d2l's RNNModel trained on consecutive minibatches, scored by perplexity."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.figures.labs import curves_figure
from playground.labs.registry import Lab
from playground.ui.labs.common import run_with_status, wkey


def render(lab: Lab) -> None:
    c1, c2, c3 = st.columns(3)
    num_chars = c1.select_slider("characters of the corpus", [5_000, 20_000, 50_000], 20_000,
                                 key=wkey(lab, "chars"))
    epochs = c2.slider("epochs", 2, 20, 8, key=wkey(lab, "epochs"))
    lr = c3.select_slider("Adam lr", [1e-3, 3e-3, 1e-2], 3e-3, key=wkey(lab, "lr"))
    r = run_with_status(lab, num_chars=num_chars, epochs=epochs, lr=lr)
    hist = pd.DataFrame(r["history"])
    V, last = r["vocab_size"], r["history"][-1]
    m = st.columns(4)
    m[0].metric("|V| (uniform guessing)", V)
    m[1].metric("train perplexity, last epoch", f"{last['train perplexity']:.2f}")
    m[2].metric("held-out perplexity, last epoch", f"{last['validation perplexity']:.2f}")
    m[3].metric("training time", f"{r['seconds']:.1f} s")
    st.plotly_chart(curves_figure({c: hist[c].tolist() for c in ("train perplexity",
                                                                 "validation perplexity")},
                                  "epoch", "perplexity", hline=(V, f"|V| = {V}")),
                    key=wkey(lab, "ppl"))
    st.caption(f"{r['chars']:,} characters of the PyTorch docstrings corpus, 90 % to train; "
               "nn.RNN(|V|, 256) on one-hot inputs, batch 32, num_steps 35, gradients clipped "
               "to norm 1. Training perplexity is averaged over the epoch while the model "
               "still learns, so it can sit above the held-out one.")
