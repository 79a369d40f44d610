"""Lab 8, perplexity: from a perfect model (1) through uniform guessing (|V|) to infinity."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from playground.figures.labs import bar_figure
from playground.labs import perplexity
from playground.labs.registry import Lab
from playground.ui.labs.common import fmt, run_with_status, wkey


def render(lab: Lab) -> None:
    text = st.text_input("text", perplexity.TEXT, key=wkey(lab, "text"))
    confidence = st.slider("confidently wrong: probability put on a wrong token", 0.5, 1.0, 1.0,
                           step=0.01, key=wkey(lab, "conf"),
                           help="1.0 leaves exactly 0 for the true token.")
    try:
        r = run_with_status(lab, text=text, wrong_confidence=confidence)
    except ValueError as err:
        st.error(str(err))
        return
    V = r["vocab_size"]
    st.markdown(f"|V| = **{V}** characters, {r['n_predictions']} next-character predictions.")
    rows = [{"model": n, "mean p(true next)": round(m["mean p(true next)"], 4),
             "loss (nats)": fmt(m["loss"]), "perplexity": fmt(m["perplexity"])}
            for n, m in r["models"].items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    finite = {n: m["perplexity"] for n, m in r["models"].items() if math.isfinite(m["perplexity"])}
    fig = bar_figure(list(finite), list(finite.values()), ["#54A24B", "#4C78A8", "#F58518", "#E45756"][:len(finite)],
                     "perplexity (log scale)", log_y=True, hline=(V, f"|V| = {V} (uniform guessing)"))
    top = 2 * max([V, *finite.values()])
    ticks = [m * 10 ** e for e in range(0, 7) for m in (1, 2, 5) if m * 10 ** e <= top]   # 1, 2, 5, 10, 20, …
    fig.update_yaxes(range=[math.log10(0.5), math.log10(top)], tickvals=ticks, ticktext=[f"{t:,}" for t in ticks])
    st.plotly_chart(fig, key=wkey(lab, "bar"))
    if len(finite) < len(r["models"]):
        st.caption("Infinite perplexity is not drawn: one zero probability on the truth is enough.")
